"""
The GPT model family of this repository, in one file.

GPT-2 (LayerNorm, GeLU, learned positions, tied embeddings) with toggles for rotary positions (RoPE),
grouped-query attention (GQA), a Mixture of Experts MLP (MoE) and untied embeddings, and the block the speedruns
converged on (docs/block.md): RMSNorm with or without gains, QK-norm, ReLU² or SwiGLU, logit soft-capping,
zero-initialised output projections, a normalised embedding, per-layer residual scalars and value embeddings.
Every toggle is off by default, and off it computes GPT-2's block bit for bit. Attention goes through PyTorch's
scaled_dot_product_attention, which picks the flash kernels on GPU.

    python model.py configs/gpt2_l4.py configs/gpt2_gqa.py   # parameter and FLOPs table of configs
    python model.py configs/gpt_7b.py --gpus 16 --gpu_memory 80   # and a memory plan per GPU, DDP and FSDP
    python model.py --depths 4,8,12,20,26 configs/speedrun.py     # what the depth dial derives at each depth

Weights that do not come from a training checkpoint (OpenAI GPT-2, exported folders) are read by
gptkit/interop/pretrained.py; GPT.from_pretrained and GPT.from_checkpoint build the model from them.
"""

import math
import sys
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from gptkit.checkpointing.checkpoint import load_checkpoint
from gptkit.command_line import OneLineParser
from gptkit.config import TrainConfig, load_config
from gptkit.data.tokenizer import folder_tokenizer, saved_tokenizer
from gptkit.errors import UserError, run_main
from gptkit.interop.pretrained import (
    EXPORTED,
    PretrainedWeights,
    copy_gpt2_weights,
    gpt2_warm_start_config,
    read_pretrained,
)
from gptkit.model_parts.depth_dial import scaling_parameters
from gptkit.model_parts.losses import IMPLEMENTATIONS, linear_cross_entropy, soft_cap
from gptkit.model_parts.rope import (
    SCALING_FIELDS,
    continued_rope_settings,
    original_length,
    rope_tables,
    setting_problems,
    tables_depend_on_length,
)
from gptkit.precision import matmul_dtype
from gptkit.training.memory_plan import describe_plan


@dataclass
class GPTConfig:
    block_size: int = 1024  # context length in tokens
    vocab_size: int = 50304  # GPT-2's 50257 padded up to a multiple of 64 for faster matmuls
    n_layer: int = 12
    n_head: int = 12  # query heads
    n_kv_head: int | None = None  # key/value heads for GQA: None or n_head is multi-head, 1 is multi-query
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # biases in Linear layers and LayerNorms, as GPT-2
    tie_embeddings: bool = True  # the output projection shares the token embedding matrix
    pos_emb: str = "learned"  # "learned" (GPT-2) or "rope"
    rope_theta: float = 10000.0
    # RoPE past the trained length (gptkit/model_parts/rope.py): "none", "linear", "dynamic" or "yarn", by this factor
    rope_scaling: str = "none"
    rope_scaling_factor: float = 1.0
    rope_original_block_size: int | None = None  # the length the weights were trained at; None: block_size
    rope_yarn_beta_fast: float = 32.0  # YaRN: pairs turning at least this often within it keep their frequency
    rope_yarn_beta_slow: float = 1.0  # and those turning less often than this are interpolated
    n_expert: int = 0  # 0: dense MLP; otherwise a Mixture of Experts with this many experts
    n_expert_active: int = 2  # experts per token (top-k routing)
    moe_aux_loss_coef: float = 0.01  # weight of the load-balancing loss in the training loss
    # The block (docs/block.md); each toggle's default is GPT-2's
    norm: str = "layernorm"  # "layernorm" (GPT-2) or "rmsnorm": x / rms(x), without the mean or a bias
    norm_weights: bool = True  # learned gains (and LayerNorm biases where bias); False: normalisation alone
    qk_norm: bool = False  # RMSNorm of each head's queries and keys before RoPE and the scores
    mlp_activation: str = "gelu"  # "gelu" (tanh approximation), "relu2" (relu(x)^2), "swiglu" (silu(gate) * up)
    mlp_width: int | None = None  # the MLP's hidden width; None: 4 n_embd, or 8 n_embd / 3 for swiglu (same size)
    logit_softcap: float = 0.0  # 0: off; c: logits = c * tanh(logits / c), within (-c, c)
    zero_init_proj: bool = False  # the projections into the residual stream start at 0: blocks start as identities
    embedding_norm: bool = False  # normalise the embeddings before the first block
    residual_scalars: bool = False  # before block i, x = a_i x + b_i x0 (x0: the embeddings), a_i = 1, b_i = 0 at first
    value_embeddings: bool = False  # every other layer (the last included) adds a token embedding to its values

    def __post_init__(self):
        if self.n_kv_head is None:
            self.n_kv_head = self.n_head
        problems = []
        if min(self.block_size, self.vocab_size, self.n_layer, self.n_head, self.n_kv_head, self.n_embd) < 1:
            problems.append("block_size, vocab_size, n_layer, n_head, n_kv_head and n_embd must be positive")
        elif self.n_embd % self.n_head:
            problems.append(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        elif self.n_head % self.n_kv_head:
            problems.append(f"n_head ({self.n_head}) must be divisible by n_kv_head ({self.n_kv_head})")
        elif self.pos_emb == "rope" and (self.n_embd // self.n_head) % 2:
            problems.append(f"RoPE needs an even head size, got n_embd / n_head = {self.n_embd // self.n_head}")
        if self.pos_emb not in ("learned", "rope"):
            problems.append(f"pos_emb must be 'learned' or 'rope', got {self.pos_emb!r}")
        if self.n_expert < 0 or (self.n_expert and not 1 <= self.n_expert_active <= self.n_expert):
            problems.append(
                f"n_expert_active ({self.n_expert_active}) must be between 1 and n_expert ({self.n_expert})"
            )
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        problems += block_problems(self)
        if not problems:
            problems += setting_problems(self)
        if problems:
            raise UserError("impossible model shape: " + "; ".join(problems))

    @property
    def head_size(self):
        return self.n_embd // self.n_head

    @property
    def mlp_hidden(self):
        """The MLP's (and each expert's) hidden width: mlp_width, else 4 n_embd; SwiGLU's three matrices take
        8 n_embd / 3, so that the MLP keeps the size of GPT-2's two."""
        if self.mlp_width is not None:
            return self.mlp_width
        return 8 * self.n_embd // 3 if self.mlp_activation == "swiglu" else 4 * self.n_embd


NORMS = ("layernorm", "rmsnorm")
MLP_ACTIVATIONS = ("gelu", "relu2", "swiglu")
RMS_NORM_EPS = 1e-6  # RMSNorm's epsilon, as Llama's and Qwen3's configs have it (LayerNorm keeps torch's 1e-5)
FLASH_HEAD_SIZES = "a multiple of 8, at most 256"  # the head sizes the flash attention kernels take


def block_problems(config):
    """What is wrong with the block toggles of config, each as a sentence."""
    problems = []
    if config.norm not in NORMS:
        problems.append(f"norm must be one of {', '.join(NORMS)}, got {config.norm!r}")
    if config.mlp_activation not in MLP_ACTIVATIONS:
        problems.append(f"mlp_activation must be one of {', '.join(MLP_ACTIVATIONS)}, got {config.mlp_activation!r}")
    elif config.mlp_width is None and config.mlp_activation == "swiglu" and (8 * config.n_embd) % 3:
        problems.append(
            f"SwiGLU's hidden width 8 * n_embd / 3 = {8 * config.n_embd / 3:.2f} is not a whole number: choose an "
            "n_embd divisible by 3 or set mlp_width"
        )
    if config.mlp_width is not None and config.mlp_width < 1:
        problems.append(f"mlp_width must be positive (or None for the activation's rule), got {config.mlp_width}")
    if not (config.logit_softcap == 0 or 0 < config.logit_softcap < math.inf):
        problems.append(f"logit_softcap must be 0 (off) or a positive number, got {config.logit_softcap}")
    head_size = config.n_embd // max(config.n_head, 1)
    if config.qk_norm and (head_size % 8 or head_size > 256):
        problems.append(
            f"qk_norm needs a head size the flash attention kernels take ({FLASH_HEAD_SIZES}), got n_embd / n_head "
            f"= {head_size}"
        )
    return problems


# ----------------------------------------------------------------------------------------------------------
# Rotary position embeddings: rotate each (i, i + head_size/2) pair of q and k by an angle proportional to
# the position, so that q·k depends only on the distance between the two positions. The cos and sin tables
# and their scalings for sequences past the trained length are computed in gptkit/model_parts/rope.py.


def apply_rope(x, cos, sin):
    """x: (B, heads, T, head_size); cos, sin: (T, head_size / 2)."""
    x1, x2 = x.float().chunk(2, dim=-1)
    rotated = torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)
    return rotated.type_as(x)


class KVCache:
    """Keys and values of the tokens processed so far, for every layer, so sampling never re-runs the prefix.
    It holds max_length tokens: block_size by default, prompt + new tokens for a RoPE model's generation."""

    def __init__(self, config, batch_size, device, dtype, max_length=None):
        self.max_length = max_length or config.block_size
        shape = (config.n_layer, batch_size, config.n_kv_head, self.max_length, config.head_size)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0  # tokens stored; advanced by GPT.forward once every layer has added its entries

    def add(self, layer, k, v):
        """Store the new tokens' k, v of one layer and return that layer's k, v of all tokens so far."""
        end = self.length + k.size(2)
        self.keys[layer, :, :, self.length : end] = k
        self.values[layer, :, :, self.length : end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]


def make_norm(config):
    """The normalisation config.norm names: LayerNorm (a bias where config.bias) or RMSNorm, with learned gains
    unless norm_weights is False."""
    if config.norm == "rmsnorm":
        return nn.RMSNorm(config.n_embd, eps=RMS_NORM_EPS, elementwise_affine=config.norm_weights)
    return nn.LayerNorm(config.n_embd, bias=config.bias, elementwise_affine=config.norm_weights)


VALUE_GATE_CHANNELS = 12  # a value embedding's gate reads this many of the attention input's first channels


def has_value_embedding(layer_index, n_layer):
    """Value embeddings sit in every other layer, counted back from the last (which has one)."""
    return (n_layer - 1 - layer_index) % 2 == 0


class CausalSelfAttention(nn.Module):
    def __init__(self, config, layer_index):
        super().__init__()
        self.layer_index = layer_index
        self.n_head, self.n_kv_head, self.head_size = config.n_head, config.n_kv_head, config.head_size
        kv_width = config.n_kv_head * config.head_size
        self.qkv_sizes = [config.n_embd, kv_width, kv_width]
        self.c_attn = nn.Linear(config.n_embd, sum(self.qkv_sizes), bias=config.bias)  # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)
        if config.qk_norm:  # one RMSNorm over head_size, shared by the heads (as Qwen3's)
            self.q_norm = nn.RMSNorm(config.head_size, eps=RMS_NORM_EPS, elementwise_affine=config.norm_weights)
            self.k_norm = nn.RMSNorm(config.head_size, eps=RMS_NORM_EPS, elementwise_affine=config.norm_weights)
        if config.value_embeddings and has_value_embedding(layer_index, config.n_layer):
            # how much of the token's value embedding each key/value head takes, from the input: 2 sigmoid(W x)
            self.ve_gate = nn.Linear(min(VALUE_GATE_CHANNELS, config.n_embd), config.n_kv_head, bias=False)

    def forward(self, x, rope=None, cache=None, value_embedding=None):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.qkv_sizes, dim=2)
        q = q.view(B, T, self.n_head, self.head_size)
        k = k.view(B, T, self.n_kv_head, self.head_size)
        v = v.view(B, T, self.n_kv_head, self.head_size)
        if value_embedding is not None:  # value residual: the token's own embedding, gated per head
            gate = 2 * torch.sigmoid(self.ve_gate(x[..., : self.ve_gate.in_features]))  # (B, T, n_kv_head)
            v = v + gate.unsqueeze(-1) * value_embedding.view_as(v)
        if hasattr(self, "q_norm"):  # QK-norm bounds the scores whatever the weights' growth
            q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, heads, T, head_size)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if cache is not None:
            k, v = cache.add(self.layer_index, k, v)
        # The causal mask is only needed when several new tokens attend to each other; a cache is filled from
        # empty in one call, so a single new token attends to everything before it without a mask.
        # enable_gqa lets each group of query heads share its k/v head without materialising repeats.
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=T > 1,
            enable_gqa=self.n_kv_head != self.n_head,
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


def activate(h, activation):
    """The MLP's nonlinearity; SwiGLU's input is the gate and the up projection side by side (gate first)."""
    if activation == "gelu":
        return F.gelu(h, approximate="tanh")
    if activation == "relu2":
        return F.relu(h).square()
    gate, up = h.chunk(2, dim=-1)
    return F.silu(gate) * up


def fc_width(config):
    """The width of the MLP's first projection: the hidden width, twice for SwiGLU's gate and up projections."""
    return config.mlp_hidden * (2 if config.mlp_activation == "swiglu" else 1)


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.activation = config.mlp_activation
        self.c_fc = nn.Linear(config.n_embd, fc_width(config), bias=config.bias)
        self.c_proj = nn.Linear(config.mlp_hidden, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(activate(self.c_fc(x), self.activation))), None


class GatherRows(torch.autograd.Function):
    """rows[index // copies], where index is a permutation of range(copies * len(rows)) and inverse is its
    inverse: every row is read `copies` times in all. The gradient is a gather by inverse and a sum over each
    row's copies, instead of autograd's scatter-add into zeros, which cannot know that index is a permutation."""

    @staticmethod
    def forward(ctx, rows, index, inverse, copies):
        ctx.save_for_backward(inverse)
        ctx.copies = copies
        return rows[index // copies] if copies > 1 else rows[index]

    @staticmethod
    def backward(ctx, grad):
        (inverse,) = ctx.saved_tensors
        grad_rows = grad[inverse]
        if ctx.copies > 1:  # summed in fp32, rounded once
            grad_rows = grad_rows.view(-1, ctx.copies, grad.size(-1)).sum(dim=1, dtype=torch.float32).to(grad.dtype)
        return grad_rows, None, None, None


class MixtureOfExperts(nn.Module):
    """n_expert MLPs (the config's activation); a router sends each token to its top n_expert_active experts."""

    def __init__(self, config):
        super().__init__()
        self.n_expert, self.top_k = config.n_expert, config.n_expert_active
        self.activation = config.mlp_activation
        d, hidden, fc = config.n_embd, config.mlp_hidden, fc_width(config)
        self.router = nn.Linear(d, config.n_expert, bias=False)
        # The experts' weights stacked along a first dimension, one slice per expert.
        self.fc_weight = nn.Parameter(torch.randn(config.n_expert, d, fc) * 0.02)
        self.fc_bias = nn.Parameter(torch.zeros(config.n_expert, fc)) if config.bias else None
        self.proj_weight = nn.Parameter(torch.randn(config.n_expert, hidden, d) * 0.02)
        self.proj_bias = nn.Parameter(torch.zeros(config.n_expert, d)) if config.bias else None
        self.dropout = nn.Dropout(config.dropout)
        self.use_grouped_mm = True  # False forces the per-expert loop (tests compare the two)

    def experts_grouped(self, rows, expert_of_row, tokens_per_expert):
        """All experts in two grouped matmuls (one kernel each for every expert) and no host-device sync."""
        ends = tokens_per_expert.cumsum(0).to(torch.int32)  # row where each expert's group ends
        h = F.grouped_mm(rows, self.fc_weight.to(rows.dtype), offs=ends)
        if self.fc_bias is not None:  # torch.compile fuses the bias into the activation's pass over h
            h = h + self.fc_bias[expert_of_row].to(rows.dtype)
        return F.grouped_mm(activate(h, self.activation), self.proj_weight.to(rows.dtype), offs=ends)

    def experts_looped(self, rows, expert_of_row, tokens_per_expert):
        """One matmul pair per expert, for devices without grouped matmuls; sizing the groups syncs with the host."""
        outputs = []
        for e, group in enumerate(rows.split(tokens_per_expert.tolist())):
            h = group @ self.fc_weight[e] + (self.fc_bias[e] if self.fc_bias is not None else 0)
            outputs.append(activate(h, self.activation) @ self.proj_weight[e])
        return torch.cat(outputs)

    def can_group(self, x):
        """torch's grouped matmul takes bfloat16 on Ampere (sm80) or newer GPUs; on CPUs also float32, but
        only outside torch.compile, whose version of it accepts bfloat16 alone."""
        if not hasattr(F, "grouped_mm"):
            return False
        device, dtype = x.device.type, matmul_dtype(x)
        if device == "cuda":
            return dtype == torch.bfloat16 and torch.cuda.get_device_capability(x.device) >= (8, 0)
        return device == "cpu" and (dtype == torch.bfloat16 or not torch.compiler.is_compiling())

    def forward(self, x):
        B, T, C = x.shape
        x = x.reshape(B * T, C)
        probs = F.softmax(self.router(x).float(), dim=-1)  # (tokens, n_expert), in fp32 for a stable softmax
        weights, chosen = probs.topk(self.top_k, dim=-1)  # (tokens, top_k)
        weights = weights / weights.sum(dim=-1, keepdim=True)  # the chosen experts' weights sum to 1

        # The (token, expert) assignments, token by token, sorted by expert so that each expert runs one matmul
        # over all its rows; the inverse permutation puts the results back in token order. Every size is known
        # without reading a tensor on the host: counting by scatter_add, unlike bincount, needs no sync.
        expert_of_assignment = chosen.flatten()
        order = expert_of_assignment.argsort(stable=True)
        inverse = torch.empty_like(order).scatter_(0, order, torch.arange(order.numel(), device=x.device))
        tokens_per_expert = torch.zeros(self.n_expert, dtype=torch.long, device=x.device)
        tokens_per_expert.scatter_add_(0, expert_of_assignment, torch.ones_like(expert_of_assignment))
        rows = GatherRows.apply(x.to(matmul_dtype(x)), order, inverse, self.top_k)  # row i: token order[i] // top_k
        run_experts = self.experts_grouped if self.use_grouped_mm and self.can_group(x) else self.experts_looped
        y = run_experts(rows, expert_of_assignment[order], tokens_per_expert)

        # Combine: each token's top_k outputs (plus their experts' output biases) weighted by the router.
        y = GatherRows.apply(y, inverse, order, 1).view(B * T, self.top_k, C)
        if self.proj_bias is not None:
            y = y + self.proj_bias[chosen].to(y.dtype)
        out = (y * weights[:, :, None].to(y.dtype)).sum(dim=1)

        # Load balancing (Switch Transformer): n_expert * sum over experts of (share of the assignments) times
        # (mean router probability). It is 1 for a uniform router and grows as routing concentrates.
        share = tokens_per_expert.float() / expert_of_assignment.numel()
        aux_loss = self.n_expert * (share * probs.mean(dim=0)).sum()
        return self.dropout(out.view(B, T, C)), aux_loss


class Block(nn.Module):
    def __init__(self, config, layer_index):
        super().__init__()
        self.ln_1 = make_norm(config)
        self.attn = CausalSelfAttention(config, layer_index)
        self.ln_2 = make_norm(config)
        self.mlp = MixtureOfExperts(config) if config.n_expert else MLP(config)

    def forward(self, x, rope=None, cache=None, value_embedding=None):
        x = x + self.attn(self.ln_1(x), rope, cache, value_embedding)
        mlp_out, aux_loss = self.mlp(self.ln_2(x))
        return x + mlp_out, aux_loss


# Settings a resumed run may change without changing what the weights mean; block_size for RoPE models only
# (continued_rope_settings), which may continue at a longer context with a RoPE scaling. zero_init_proj only
# chooses the initial weights.
RESUME_ADJUSTABLE = ("dropout", "moe_aux_loss_coef", "block_size", "zero_init_proj", *SCALING_FIELDS)


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config, i) for i in range(config.n_layer)]),
                ln_f=make_norm(config),
            )
        )
        if config.embedding_norm:
            self.transformer.ln_e = make_norm(config)
        if config.value_embeddings:  # a table per layer that has one, of key/value width
            kv_width = config.n_kv_head * config.head_size
            layers = [i for i in range(config.n_layer) if has_value_embedding(i, config.n_layer)]
            self.transformer.ve = nn.ModuleDict({str(i): nn.Embedding(config.vocab_size, kv_width) for i in layers})
        if config.residual_scalars:
            self.resid_scales = nn.Parameter(torch.ones(config.n_layer))
            self.x0_scales = nn.Parameter(torch.zeros(config.n_layer))
        if config.pos_emb == "learned":
            self.transformer.wpe = nn.Embedding(config.block_size, config.n_embd)
        else:  # tables for block_size positions, grown on demand for longer sequences (rope_for)
            cos, sin = rope_tables(config, config.block_size)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.transformer.wte.weight  # weight tying, as GPT-2
        self.last_aux_loss = None  # MoE load-balancing loss of the last forward, for logging
        self.cross_entropy = "chunked"  # how the loss is computed: see use_cross_entropy

        # GPT-2 initialisation; the projections into the residual stream are scaled down by 1/sqrt(2 n_layer)
        # so the stream's variance does not grow with depth, or start at zero (zero_init_proj), so that each
        # block starts as the identity and only the embeddings reach the output.
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith(("c_proj.weight", "proj_weight")) and config.zero_init_proj:
                nn.init.zeros_(p)
            elif name.endswith(("c_proj.weight", "proj_weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
            elif name.endswith("ve_gate.weight"):
                nn.init.zeros_(p)  # every gate starts at 1: the value embedding is added as it is

    def use_cross_entropy(self, implementation):
        """How forward computes the loss, one of gptkit.model_parts.losses.IMPLEMENTATIONS (the training config's
        cross_entropy). A choice of speed and memory, not of the model: the loss is the same, so neither the
        weights nor GPTConfig record it."""
        if implementation not in IMPLEMENTATIONS:
            raise UserError(f"cross_entropy must be one of {', '.join(IMPLEMENTATIONS)}, got {implementation!r}")
        self.cross_entropy = implementation
        return self

    def use_rope_settings(self, **settings):
        """Other RoPE scaling settings (SCALING_FIELDS) for a trained model, e.g. YaRN to evaluate or sample past
        its training length: the config is replaced (and checked), the weights stay, the tables are rebuilt."""
        self.config = replace(self.config, **settings)
        if self.config.pos_emb == "rope":
            self.set_rope_tables(self.config.block_size)
        return self

    def set_rope_tables(self, rows):
        """The cos and sin tables of positions 0 ... rows - 1, computed (on the CPU) for the current settings and
        kept on the device the model is on."""
        cos, sin = rope_tables(self.config, rows)
        self.rope_cos, self.rope_sin = cos.to(self.rope_cos.device), sin.to(self.rope_sin.device)

    def rope_for(self, start, end):
        """cos, sin of positions start ... end - 1 of a sequence of `end` tokens. Past the tables' length they
        grow (at least doubling) by the same formula, on the CPU as at construction, so the rows already there
        stay bit for bit; a "dynamic" scaling past the original length computes the sequence's own."""
        if tables_depend_on_length(self.config, end):
            return [t.to(self.rope_cos.device) for t in rope_tables(self.config, end, start)]
        if end > self.rope_cos.size(0):
            rows = max(end, 2 * self.rope_cos.size(0))
            if self.config.rope_scaling == "dynamic":  # plain rows serve up to the original length only
                rows = min(rows, original_length(self.config))
            self.set_rope_tables(rows)
        return self.rope_cos[start:end], self.rope_sin[start:end]

    def value_embedding(self, layer_index, idx):
        """The value embeddings of the tokens idx for the layer, or None where it has none."""
        if not (self.config.value_embeddings and has_value_embedding(layer_index, self.config.n_layer)):
            return None
        return self.transformer.ve[str(layer_index)](idx)

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx, targets=None, cache=None, reduction="mean"):
        """(logits, None) without targets, (None, loss) with them. The loss comes from the last hidden states
        chunk by chunk (gptkit/model_parts/losses.py), so a training step never holds the whole batch's logits.
        reduction="none" gives each position's loss, (B, T), 0 where the target is -1 (ignored)."""
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if start + T > self.config.block_size and self.config.pos_emb == "learned":
            raise UserError(
                f"sequence of {start + T} tokens is longer than block_size {self.config.block_size}, where learned "
                "positions end (a pos_emb='rope' model runs past it)"
            )
        if cache is not None and start + T > cache.max_length:
            raise UserError(f"sequence of {start + T} tokens is longer than the KV cache ({cache.max_length})")
        x = self.transformer.wte(idx)
        rope = None
        if self.config.pos_emb == "learned":
            x = x + self.transformer.wpe(torch.arange(start, start + T, device=idx.device))
        else:
            rope = self.rope_for(start, start + T)
        if self.config.embedding_norm:
            x = self.transformer.ln_e(x)
        x = x0 = self.transformer.drop(x)
        aux_losses = []
        for i, block in enumerate(self.transformer.h):
            if self.config.residual_scalars:  # how much of the stream and of the embeddings block i reads
                x = self.resid_scales[i] * x + self.x0_scales[i] * x0
            x, aux_loss = block(x, rope, cache, self.value_embedding(i, idx))
            if aux_loss is not None:
                aux_losses.append(aux_loss)
        if cache is not None:
            cache.length += T
        x = self.transformer.ln_f(x)
        if targets is None:
            return soft_cap(self.lm_head(x), self.config.logit_softcap), None

        loss = linear_cross_entropy(
            x, self.lm_head.weight, targets, -1, reduction, self.cross_entropy, softcap=self.config.logit_softcap
        )
        if aux_losses and self.training and reduction == "mean":  # evaluation reports the plain cross-entropy
            self.last_aux_loss = torch.stack(aux_losses).mean()
            loss = loss + self.config.moe_aux_loss_coef * self.last_aux_loss
        return None, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, use_cache=True, generator=None):
        """Append max_new_tokens sampled tokens to idx (B, T). temperature 0 or top_k 1 is greedy decoding.

        With the KV cache each new token costs one position. A RoPE model reads the whole text, past block_size
        too (its cache holds prompt + new tokens); with learned positions, once the text outgrows block_size the
        model falls back to re-reading the last block_size tokens, as its cache-free decoding does.
        """
        cache = None
        rope = self.config.pos_emb == "rope"
        for _ in range(max_new_tokens):
            if use_cache and (rope or idx.size(1) <= self.config.block_size):
                if cache is None:
                    length = idx.size(1) + max_new_tokens if rope else None
                    cache = KVCache(self.config, idx.size(0), idx.device, self.lm_head.weight.dtype, length)
                    logits, _ = self(idx, cache=cache)
                else:
                    logits, _ = self(idx[:, -1:], cache=cache)
            else:
                logits, _ = self(idx if rope else idx[:, -self.config.block_size :])
            logits = logits[:, -1, :].float()
            if temperature == 0 or top_k == 1:
                next_token = logits.argmax(dim=-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth_largest = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
                    logits[logits < kth_largest] = -float("inf")
                probs = F.softmax(logits, dim=-1)
                next_token = torch.multinomial(probs, num_samples=1, generator=generator)
            idx = torch.cat((idx, next_token), dim=1)
        return idx

    @classmethod
    def from_pretrained(cls, source, **overrides):
        """A GPT from OpenAI GPT-2 weights (gpt2 … gpt2-xl, or a GPT-2 transformers folder), which take the
        overrides GPT-2's shape allows (gptkit/interop/pretrained.py, gpt2_warm_start_config), or from a
        transformers folder of one of our models (what export_hf.py writes, of any family), which keeps its own
        shape: overrides are refused as for a checkpoint. source is the name or folder, or what read_pretrained
        read from it (train.py reads it once and asks it which overrides apply)."""
        weights = source if isinstance(source, PretrainedWeights) else read_pretrained(source)
        if weights.kind == EXPORTED:
            return cls.from_checkpoint(weights.as_checkpoint(), "the folder", **overrides)
        model = cls(gpt2_warm_start_config(weights.model_config, overrides, GPTConfig))
        copy_gpt2_weights(weights.state_dict, model)
        return model

    @classmethod
    def from_checkpoint(cls, checkpoint, source="the checkpoint", **overrides):
        """A GPT with a training checkpoint's config and weights (on the CPU). A sharded checkpoint's state
        has no weights: they are loaded once the model is sharded (gptkit/checkpointing/sharded_checkpoint.py).

        overrides are model settings the user gave: the ones a trained model can take (RESUME_ADJUSTABLE) are
        applied, every other one must equal the checkpoint's, so a flag is never silently ignored.
        """
        saved = {k: v for k, v in checkpoint["model_config"].items() if k in GPTConfig.__dataclass_fields__}
        overrides = continued_rope_settings(saved, overrides, source)
        refused = {k for k, v in overrides.items() if k not in RESUME_ADJUSTABLE and v != saved.get(k)}
        if refused:
            differences = ", ".join(f"{k}={overrides[k]!r} ({source}: {saved.get(k)!r})" for k in sorted(refused))
            raise UserError(f"{source}'s model differs from the settings given: {differences}")
        model = cls(GPTConfig(**{**saved, **overrides}))
        if "model" not in checkpoint:
            return model
        try:
            model.load_state_dict(checkpoint["model"])
        except RuntimeError as e:
            reason = str(e).splitlines()[1].strip() if "\n" in str(e) else str(e)
            raise UserError(f"{source}'s weights do not fit its model config: {reason}") from None
        return model

    # ------------------------------------------------------------------------------------------------------
    # Sizes, FLOPs and MFU

    def num_params(self):
        """Total, non-embedding and active-per-token parameter counts (shared weights counted once)."""
        total = sum(p.numel() for p in self.parameters())
        embedding = self.transformer.wte.weight.numel() + self.lookup_parameters()
        if not self.config.tie_embeddings:
            embedding += self.lm_head.weight.numel()
        inactive = 0
        for block in self.transformer.h:
            if isinstance(block.mlp, MixtureOfExperts):
                experts = [block.mlp.fc_weight, block.mlp.fc_bias, block.mlp.proj_weight, block.mlp.proj_bias]
                per_expert = sum(p.numel() for p in experts if p is not None) // self.config.n_expert
                inactive += (self.config.n_expert - self.config.n_expert_active) * per_expert
        return {"total": total, "non_embedding": total - embedding, "active": total - inactive}

    def lookup_parameters(self):
        """The tables read by index besides the token embedding: learned positions and value embeddings."""
        tables = [self.transformer.wpe] if "wpe" in self.transformer else []
        tables += list(self.transformer.ve.values()) if "ve" in self.transformer else []
        return sum(table.weight.numel() for table in tables)

    def flops_per_token(self, seq_len=None):
        """Training FLOPs per token (forward + backward), as in the PaLM paper's appendix B:

            6 * N + 12 * n_layer * n_embd * seq_len

        N counts the weights that take part in a matmul for each token: every active weight (only the chosen
        experts of an MoE layer) except the embedding-table lookups, but with the output projection, which
        is a matmul even when it shares the token embedding. Each such weight costs a multiply and an add
        in the forward pass and twice that in the backward pass. The second term is attention's scores and
        weighted sum, 2 * 2 * seq_len * n_embd per layer forward, times 3 for the backward pass.
        """
        cfg = self.config
        seq_len = seq_len or cfg.block_size
        matmul_params = self.num_params()["active"] - self.lookup_parameters()
        if not cfg.tie_embeddings:
            matmul_params -= self.transformer.wte.weight.numel()
        return 6 * matmul_params + 12 * cfg.n_layer * cfg.n_embd * seq_len


# ----------------------------------------------------------------------------------------------------------
# The model a command reads


def load_model(checkpoint=None, hf=None):
    """(model in eval mode on the CPU, its tokenizer: gptkit/data/tokenizer.py) from a training checkpoint file, or
    from hf: OpenAI GPT-2 weights or a folder export_hf.py wrote (the commands' --checkpoint and --hf)."""
    if (checkpoint is None) == (hf is None):
        given = "neither" if hf is None else "both"
        raise UserError(f"give exactly one model source, checkpoint or hf (--checkpoint or --hf); got {given}")
    if hf is not None:
        weights = read_pretrained(hf)
        return GPT.from_pretrained(weights).eval(), folder_tokenizer(weights.tokenizer, hf)
    saved = load_checkpoint(checkpoint)
    return GPT.from_checkpoint(saved).eval(), saved_tokenizer(saved, checkpoint)


# ----------------------------------------------------------------------------------------------------------


def print_depth_table(sources, depths):
    """What the depth dial (gptkit/model_parts/depth_dial.py) derives at each depth from the sources' settings."""
    header = (
        f"{'depth':>5} {'n_embd':>6} {'heads':>5} {'params':>9} {'scaling':>9} {'tokens':>8} {'batch':>9} "
        f"{'steps':>7} {'muon_lr':>8} {'embed_lr':>8} {'unemb_lr':>8} {'scalar_lr':>9}"
    )
    print(header)
    print("-" * len(header))
    for depth in depths:
        model_config, cfg = load_config([*sources, f"--depth={depth}"], GPTConfig, TrainConfig)
        with torch.device("meta"):
            total = GPT(model_config).num_params()["total"]
        tokens = cfg.total_batch_tokens * cfg.max_iters
        unembedding_lr = "tied" if cfg.unembedding_lr is None else f"{cfg.unembedding_lr:.5f}"
        print(
            f"{depth:>5} {model_config.n_embd:>6} {model_config.n_head:>5} {total / 1e6:>8.1f}M "
            f"{scaling_parameters(model_config) / 1e6:>8.1f}M {tokens / 1e9:>7.2f}B {cfg.total_batch_tokens:>9,} "
            f"{cfg.max_iters:>7,} {cfg.muon_lr:>8.4f} {cfg.embedding_lr:>8.4f} {unembedding_lr:>8} "
            f"{cfg.scalar_lr:>9.5f}"
        )


def parse_depths(text):
    try:
        depths = [int(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"--depths takes whole numbers separated by commas, e.g. 4,8,12; got {text!r}") from None
    return depths


def main(argv):
    parser = OneLineParser("model.py", "Parameters and FLOPs of configs; with --gpus, a memory plan")
    parser.add_argument("configs", nargs="*", help="config files, one model each (with --depths: their settings)")
    parser.add_argument("--gpus", type=int, help="plan the memory per GPU for this many GPUs")
    parser.add_argument("--gpu_memory", type=float, default=80.0, help="GB per GPU (default 80)")
    parser.add_argument("--depths", help="comma-separated depths: the depth dial's table for the configs' settings")
    args = parser.parse_args(argv)
    if args.gpus is not None and args.gpus < 1:
        raise UserError(f"--gpus must be >= 1, got {args.gpus}")
    if args.depths is not None:
        return print_depth_table(args.configs, parse_depths(args.depths))
    if not args.configs:
        raise UserError("config files are required (or --depths 4,8,12 for the depth dial's table)")
    header = f"{'config':<40} {'total':>9} {'non-emb':>9} {'active':>9} {'GFLOPs/token':>13}"
    print(header)
    print("-" * len(header))
    plans = []
    for path in args.configs:
        model_config, train_config = load_config([path], GPTConfig, TrainConfig)
        with torch.device("meta"):  # counts need shapes only, not memory
            model = GPT(model_config)
        counts = model.num_params()
        print(
            f"{path:<40} {counts['total'] / 1e6:>8.2f}M {counts['non_embedding'] / 1e6:>8.2f}M "
            f"{counts['active'] / 1e6:>8.2f}M {model.flops_per_token() / 1e9:>13.3f}"
        )
        if args.gpus is not None:
            block_params = sum(p.numel() for p in model.transformer.h[0].parameters())
            plans.append(
                describe_plan(
                    path, model_config, train_config, counts["total"], block_params, args.gpus, args.gpu_memory
                )
            )
    for plan in plans:
        print("\n" + plan)


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
