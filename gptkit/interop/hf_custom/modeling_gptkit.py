"""
A gptkit GPT (model.py) in transformers' PreTrainedModel API, for the folders export_hf.py writes when
transformers has no architecture of that shape: Mixture of Experts MLPs (GeLU experts, softmax top-k routing),
or learned positions with grouped-query attention. It loads with
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

    def forward(self, x, rotary, cache, mask):
        batch, length, width = x.shape
        queries, keys, values = (
            part.view(batch, length, -1, self.head_size).transpose(1, 2)
            for part in self.c_attn(x).split(self.widths, dim=2)
        )
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
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class GPTKitExperts(nn.Module):
    """n_expert GeLU MLPs stacked along a first dimension; a softmax router picks n_expert_active per token and
    their outputs are mixed by the router's probabilities, renormalised over the chosen experts."""

    def __init__(self, config):
        super().__init__()
        width, hidden, count = config.n_embd, 4 * config.n_embd, config.n_expert
        self.top_k = config.n_expert_active
        self.router = nn.Linear(width, count, bias=False)
        self.fc_weight = nn.Parameter(torch.empty(count, width, hidden))
        self.fc_bias = nn.Parameter(torch.empty(count, hidden)) if config.bias else None
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
            y = F.gelu(hidden, approximate="tanh") @ self.proj_weight[expert]
            if self.proj_bias is not None:
                y = y + self.proj_bias[expert]
            out.index_add_(0, rows, y * mix[rows, slots, None].to(y.dtype))
        return out.view_as(x)


class GPTKitBlock(nn.Module):
    """Pre-norm residual attention and MLP, under model.py's names (ln_1, attn, ln_2, mlp) so weights keep theirs."""

    def __init__(self, config, layer_index):
        super().__init__()
        self.ln_1, self.ln_2 = (nn.LayerNorm(config.n_embd, bias=config.bias) for _ in range(2))
        self.attn = GPTKitAttention(config, layer_index)
        self.mlp = GPTKitExperts(config) if config.n_expert else GPTKitMLP(config)

    def forward(self, x, rotary, cache, mask):
        x = x + self.attn(self.ln_1(x), rotary, cache, mask)
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
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        )
        if config.pos_emb == "learned":
            parts["wpe"] = nn.Embedding(config.block_size, config.n_embd)
        self.transformer = nn.ModuleDict(parts)
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
        mask = attention_mask_4d(attention_mask, past_length, length, input_ids.device)
        for block in self.transformer.h:
            x = block(x, rotary, cache, mask)
        logits = self.lm_head(self.transformer.ln_f(x))

        loss = None
        if labels is not None:  # transformers' convention: labels are the inputs; the shift happens here
            loss = F.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1), ignore_index=-100
            )
        return CausalLMOutputWithPast(loss=loss, logits=logits, **{CACHE_FIELD: cache if use_cache else None})
