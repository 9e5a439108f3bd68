"""
The configuration of a gptkit GPT inside a transformers folder (model_type "gptkit").

export_hf.py copies this file and modeling_gptkit.py into the folders of the models transformers has no
architecture for (a Mixture of Experts, learned positions with grouped-query attention, the block toggles no
architecture combines as model.py does: gptkit/interop/hf_format.py); config.json maps
AutoConfig / AutoModelForCausalLM to them, so `from_pretrained(folder, trust_remote_code=True)` loads the model.
The fields are GPTConfig's (model.py) under the same names; attribute_map gives transformers its usual names.
"""

from transformers import PretrainedConfig


class GPTKitConfig(PretrainedConfig):
    model_type = "gptkit"
    attribute_map = {
        "hidden_size": "n_embd",
        "num_hidden_layers": "n_layer",
        "num_attention_heads": "n_head",
        "num_key_value_heads": "n_kv_head",
        "max_position_embeddings": "block_size",
    }

    def __init__(
        self,
        block_size=1024,
        vocab_size=50304,
        n_layer=12,
        n_head=12,
        n_kv_head=None,
        n_embd=768,
        bias=True,
        pos_emb="learned",
        rope_theta=10000.0,
        n_expert=0,
        n_expert_active=2,
        norm="layernorm",
        norm_weights=True,
        qk_norm=False,
        mlp_activation="gelu",
        mlp_width=None,
        logit_softcap=0.0,
        embedding_norm=False,
        residual_scalars=False,
        value_embeddings=False,
        tie_word_embeddings=True,
        use_cache=True,
        **kwargs,
    ):
        self.block_size = block_size
        self.vocab_size = vocab_size
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_kv_head = n_kv_head or n_head
        self.n_embd = n_embd
        self.bias = bias
        self.pos_emb = pos_emb  # "learned" or "rope"
        self.rope_theta = rope_theta
        self.n_expert = n_expert  # 0: dense MLP
        self.n_expert_active = n_expert_active
        self.norm = norm  # "layernorm" or "rmsnorm"
        self.norm_weights = norm_weights  # learned gains (and LayerNorm biases where bias)
        self.qk_norm = qk_norm  # RMSNorm of each head's queries and keys before the rotation
        self.mlp_activation = mlp_activation  # "gelu" (tanh), "relu2" or "swiglu"
        self.mlp_width = mlp_width  # None: 4 n_embd, 8 n_embd / 3 for swiglu
        self.logit_softcap = logit_softcap  # 0: off; c: c * tanh(logits / c)
        self.embedding_norm = embedding_norm
        self.residual_scalars = residual_scalars
        self.value_embeddings = value_embeddings
        self.use_cache = use_cache  # generate keeps a KV cache
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)
