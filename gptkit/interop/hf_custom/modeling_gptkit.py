"""
A gptkit GPT (model.py) in transformers' PreTrainedModel API, for the folders export_hf.py writes when
transformers has no architecture of that shape: Mixture of Experts MLPs (softmax top-k routing), learned
positions with grouped-query attention, and the block toggles no architecture combines as model.py does
(LayerNorm or RMSNorm with or without gains, QK-norm, GeLU, ReLU² or SwiGLU, logit soft-capping, a normalised
embedding, per-layer residual scalars, value embeddings). It loads with
`AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)` and generates with transformers' KV cache.

The invariant its tests check: on the same weights (the same parameter names as model.py's GPT) it gives
model.py's logits, and greedy generation with the cache gives model.py's tokens. It is written for inference:
the experts run one plain matmul pair each, without model.py's grouped matmuls or load-balancing loss.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import DynamicCache, GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from .configuration_gptkit import GPTKitConfig

try:  # transformers 5: initialisers that leave weights already loaded from the folder alone
    from transformers import initialization as init
except ImportError:
    init = nn.init

# The name of the cache in transformers' outputs: "cache" since 5.x, "past_key_values" before.
CACHE_FIELD = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


def rotary_tables(config, positions):
    """cos, sin of shape (B, 1, T, head_size / 2) for integer positions (B, T): the angle of the pair (i, i +
    head_size/2) at position p is p / rope_theta^(2i / head_size)."""
    head_size = config.n_embd // config.n_head
    exponents = torch.arange(0, head_size, 2, dtype=torch.float32, device=positions.device) / head_size
    angles = positions.float()[..., None] * (1.0 / config.rope_theta**exponents)
    return angles.cos()[:, None], angles.sin()[:, None]


def rotate(x, cos, sin):
    """Rotate each pair of dimensions (i, i + head_size/2) of x (B, heads, T, head_size) by its angle."""
    first, second = x.float().chunk(2, dim=-1)
    return torch.cat([first * cos - second * sin, second * cos + first * sin], dim=-1).type_as(x)


RMS_NORM_EPS = 1e-6  # model.py's


class RMSNorm(nn.Module):
    """x / rms(x) over the last dimension, in fp32, times a learned gain where there is one."""

    def __init__(self, size, gains):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size)) if gains else None

    def forward(self, x):
        x32 = x.float()
        y = (x32 * torch.rsqrt(x32.square().mean(dim=-1, keepdim=True) + RMS_NORM_EPS)).type_as(x)
        return y * self.weight if self.weight is not None else y


def make_norm(config, size=None):
    size = size or config.n_embd
    if config.norm == "rmsnorm":
        return RMSNorm(size, config.norm_weights)
    return nn.LayerNorm(size, bias=config.bias, elementwise_affine=config.norm_weights)


def mlp_hidden(config):
    if config.mlp_width is not None:
        return config.mlp_width
    return 8 * config.n_embd // 3 if config.mlp_activation == "swiglu" else 4 * config.n_embd


def activate(h, activation):
    """GeLU (tanh), ReLU² or SwiGLU, whose input is the gate and the up projection side by side."""
    if activation == "gelu":
        return F.gelu(h, approximate="tanh")
    if activation == "relu2":
        return F.relu(h).square()
    gate, up = h.chunk(2, dim=-1)
    return F.silu(gate) * up


def has_value_embedding(layer_index, n_layer):
    """Every other layer, counted back from the last, has a value embedding."""
    return (n_layer - 1 - layer_index) % 2 == 0


def attention_mask_4d(padding_mask, past_length, new_length, device):
    """None where plain causal attention is right (no padding, and no cached prefix read by several new tokens),
    else a boolean (B or 1, 1, T, past + T) mask: a token sees the non-padding tokens up to itself, and always
    itself, so a padding row never attends to nothing (which would give NaNs)."""
    no_padding = padding_mask is None or bool(padding_mask.all())
    if no_padding and (past_length == 0 or new_length == 1):
        return None
    keys = torch.arange(past_length + new_length, device=device)
    queries = torch.arange(past_length, past_length + new_length, device=device)[:, None]
    allowed = (keys <= queries)[None, None]
    if not no_padding:
        allowed = allowed & padding_mask[:, None, None, : past_length + new_length].bool()
        allowed = allowed | (keys == queries)
    return allowed


class GPTKitAttention(nn.Module):
    def __init__(self, config, layer_index):
        super().__init__()
        self.layer_index = layer_index
        self.n_head, self.n_kv_head = config.n_head, config.n_kv_head
        self.head_size = config.n_embd // config.n_head
        self.widths = [config.n_embd, config.n_kv_head * self.head_size, config.n_kv_head * self.head_size]
        self.c_attn = nn.Linear(config.n_embd, sum(self.widths), bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        if config.qk_norm:
            self.q_norm = RMSNorm(self.head_size, config.norm_weights)
            self.k_norm = RMSNorm(self.head_size, config.norm_weights)
        if config.value_embeddings and has_value_embedding(layer_index, config.n_layer):
            self.ve_gate = nn.Linear(min(12, config.n_embd), config.n_kv_head, bias=False)

    def forward(self, x, rotary, cache, mask, value_embedding=None):
        batch, length, width = x.shape
        queries, keys, values = (
            part.view(batch, length, -1, self.head_size) for part in self.c_attn(x).split(self.widths, dim=2)
        )
        if value_embedding is not None:  # the token's value embedding, 2 sigmoid(gate) of it per key/value head
            gate = 2 * torch.sigmoid(self.ve_gate(x[..., : self.ve_gate.in_features]))
            values = values + gate.unsqueeze(-1) * value_embedding.view_as(values)
        if hasattr(self, "q_norm"):
            queries, keys = self.q_norm(queries), self.k_norm(keys)
        queries, keys, values = queries.transpose(1, 2), keys.transpose(1, 2), values.transpose(1, 2)
        if rotary is not None:
            queries, keys = rotate(queries, *rotary), rotate(keys, *rotary)
        if cache is not None:
            keys, values = cache.update(keys, values, self.layer_index)
        y = F.scaled_dot_product_attention(
            queries,
            keys,
            values,
            attn_mask=mask,
            is_causal=mask is None and length > 1,
            enable_gqa=self.n_kv_head != self.n_head,
        )
        return self.c_proj(y.transpose(1, 2).reshape(batch, length, width))


class GPTKitMLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.activation = config.mlp_activation
        gates = 2 if config.mlp_activation == "swiglu" else 1
        self.c_fc = nn.Linear(config.n_embd, gates * mlp_hidden(config), bias=config.bias)
        self.c_proj = nn.Linear(mlp_hidden(config), config.n_embd, bias=config.bias)

    def forward(self, x):
        return self.c_proj(activate(self.c_fc(x), self.activation))


class GPTKitExperts(nn.Module):
    """n_expert MLPs stacked along a first dimension; a softmax router picks n_expert_active per token and
    their outputs are mixed by the router's probabilities, renormalised over the chosen experts."""

    def __init__(self, config):
        super().__init__()
        width, hidden, count = config.n_embd, mlp_hidden(config), config.n_expert
        fc_width = hidden * (2 if config.mlp_activation == "swiglu" else 1)
        self.top_k, self.activation = config.n_expert_active, config.mlp_activation
        self.router = nn.Linear(width, count, bias=False)
        self.fc_weight = nn.Parameter(torch.empty(count, width, fc_width))
        self.fc_bias = nn.Parameter(torch.empty(count, fc_width)) if config.bias else None
        self.proj_weight = nn.Parameter(torch.empty(count, hidden, width))
        self.proj_bias = nn.Parameter(torch.empty(count, width)) if config.bias else None

    def forward(self, x):
        tokens = x.reshape(-1, x.size(-1))
        probabilities = F.softmax(self.router(tokens).float(), dim=-1)
        top_probabilities, top_experts = probabilities.topk(self.top_k, dim=-1)
        mix = top_probabilities / top_probabilities.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(tokens)
        for expert in range(self.fc_weight.size(0)):
            rows, slots = (top_experts == expert).nonzero(as_tuple=True)
            if rows.numel() == 0:
                continue
            hidden = tokens[rows] @ self.fc_weight[expert]
            if self.fc_bias is not None:
                hidden = hidden + self.fc_bias[expert]
            y = activate(hidden, self.activation) @ self.proj_weight[expert]
            if self.proj_bias is not None:
                y = y + self.proj_bias[expert]
            out.index_add_(0, rows, y * mix[rows, slots, None].to(y.dtype))
        return out.view_as(x)


class GPTKitBlock(nn.Module):
    """Pre-norm residual attention and MLP, under model.py's names (ln_1, attn, ln_2, mlp) so weights keep theirs."""

    def __init__(self, config, layer_index):
        super().__init__()
        self.ln_1, self.ln_2 = make_norm(config), make_norm(config)
        self.attn = GPTKitAttention(config, layer_index)
        self.mlp = GPTKitExperts(config) if config.n_expert else GPTKitMLP(config)

    def forward(self, x, rotary, cache, mask, value_embedding=None):
        x = x + self.attn(self.ln_1(x), rotary, cache, mask, value_embedding)
        return x + self.mlp(self.ln_2(x))


class GPTKitForCausalLM(PreTrainedModel, GenerationMixin):
    config_class = GPTKitConfig
    base_model_prefix = "transformer"
    _no_split_modules = ["GPTKitBlock"]
    _tied_weights_keys = {"lm_head.weight": "transformer.wte.weight"}  # used when config.tie_word_embeddings
    _input_embed_layer = "wte"

    def __init__(self, config):
        super().__init__(config)
        parts = dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            h=nn.ModuleList([GPTKitBlock(config, i) for i in range(config.n_layer)]),
            ln_f=make_norm(config),
        )
        if config.embedding_norm:
            parts["ln_e"] = make_norm(config)
        if config.value_embeddings:
            kv_width = config.n_kv_head * (config.n_embd // config.n_head)
            layers = [i for i in range(config.n_layer) if has_value_embedding(i, config.n_layer)]
            parts["ve"] = nn.ModuleDict({str(i): nn.Embedding(config.vocab_size, kv_width) for i in layers})
        if config.pos_emb == "learned":
            parts["wpe"] = nn.Embedding(config.block_size, config.n_embd)
        self.transformer = nn.ModuleDict(parts)
        if config.residual_scalars:  # before block i: x = resid_scales[i] x + x0_scales[i] x0
            self.resid_scales = nn.Parameter(torch.ones(config.n_layer))
            self.x0_scales = nn.Parameter(torch.zeros(config.n_layer))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, GPTKitExperts):
            for weight in (module.fc_weight, module.proj_weight):
                init.normal_(weight, mean=0.0, std=0.02)
            for bias in (module.fc_bias, module.proj_bias):
                if bias is not None:
                    init.zeros_(bias)
        if isinstance(module, RMSNorm) and module.weight is not None:
            init.ones_(module.weight)
        if isinstance(module, GPTKitForCausalLM) and module.config.residual_scalars:
            init.ones_(module.resid_scales)
            init.zeros_(module.x0_scales)

    def get_input_embeddings(self):
        return self.transformer.wte

    def set_input_embeddings(self, value):
        self.transformer.wte = value

    def get_output_embeddings(self):
        return self.lm_head

    def forward(
        self, input_ids, attention_mask=None, position_ids=None, cache=None, labels=None, use_cache=None, **kwargs
    ):
        """Logits of every position (and transformers' shifted loss when labels are given). generate computes
        position_ids from a padded batch's attention_mask, so each row counts positions from its first token."""
        if cache is None:
            cache = kwargs.get("past_key_values")  # the argument's name before transformers 5
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)
        past_length = cache.get_seq_length() if cache is not None else 0
        length = input_ids.size(1)
        if past_length + length > self.config.block_size and self.config.pos_emb == "learned":  # RoPE runs past it
            raise ValueError(f"{past_length + length} tokens exceed the model's block_size {self.config.block_size}")
        if position_ids is None:
            position_ids = torch.arange(past_length, past_length + length, device=input_ids.device)[None]

        x = self.transformer.wte(input_ids)
        rotary = None
        if self.config.pos_emb == "learned":
            x = x + self.transformer.wpe(position_ids)
        else:
            rotary = rotary_tables(self.config, position_ids)
        if self.config.embedding_norm:
            x = self.transformer.ln_e(x)
        x0 = x
        mask = attention_mask_4d(attention_mask, past_length, length, input_ids.device)
        for i, block in enumerate(self.transformer.h):
            if self.config.residual_scalars:
                x = self.resid_scales[i] * x + self.x0_scales[i] * x0
            value_embedding = None
            if self.config.value_embeddings and has_value_embedding(i, self.config.n_layer):
                value_embedding = self.transformer.ve[str(i)](input_ids)
            x = block(x, rotary, cache, mask, value_embedding)
        logits = self.lm_head(self.transformer.ln_f(x))
        if self.config.logit_softcap:
            cap = self.config.logit_softcap
            logits = cap * torch.tanh(logits.float() / cap)

        loss = None
        if labels is not None:  # transformers' convention: labels are the inputs; the shift happens here
            loss = F.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1), ignore_index=-100
            )
        return CausalLMOutputWithPast(loss=loss, logits=logits, **{CACHE_FIELD: cache if use_cache else None})
