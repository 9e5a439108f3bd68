"""
Rotary position embeddings (RoPE) and the three ways to stretch them past the length a model was trained at.

Each pair of dimensions (i, i + head_size/2) of q and k turns by position * inv_freq[i]. The scalings change
inv_freq (and YaRN the size of cos and sin), never the weights:
- "none": inv_freq[i] = theta^(-2i / head_size), the plain RoPE;
- "linear" (position interpolation): inv_freq / factor, so position p is read as p / factor;
- "dynamic" (NTK-aware): for a sequence of L tokens longer than the original length o, a larger base
  theta * (factor * L / o - (factor - 1))^(head_size / (head_size - 2)); up to o it is the plain RoPE;
- "yarn" (NTK-by-parts): pairs that turn at least beta_fast times within o keep their frequency, pairs that
  turn fewer than beta_slow times are interpolated (divided by factor), a linear ramp blends those between,
  and cos and sin are multiplied by the attention factor 0.1 * ln(factor) + 1.
The original length o is the block_size the weights were trained at: rope_original_block_size, or the model's
block_size when that is None. A run that continues a checkpoint at a longer block_size with a scaling records
the checkpoint's length there (continued_rope_settings), so checkpoints and exports carry it.

Invariant (tests/gptkit/model_parts/test_rope.py): for every scaling, inv_freq and the attention factor equal those of
transformers' rope initialisation functions (transformers.modeling_rope_utils) for the same rope_type to 1e-6,
and "dynamic" is bit-identical to "none" up to the original length. With a KV cache, "dynamic" rotates each new
token for the length of the text so far and cached keys keep their rotation, as transformers does.
"""

import math
from dataclasses import replace

import torch

from gptkit.errors import UserError

SCALINGS = ("none", "linear", "dynamic", "yarn")
# GPTConfig's RoPE scaling fields: a trained model may take other values for evaluation, sampling or a resume
SCALING_FIELDS = (
    "rope_scaling",
    "rope_scaling_factor",
    "rope_original_block_size",
    "rope_yarn_beta_fast",
    "rope_yarn_beta_slow",
)


def original_length(config):
    """The context length the weights were trained at (before any stretching)."""
    return config.rope_original_block_size or config.block_size


def scaling_settings(config, names, factor, longest):
    """{method: the RoPE settings a trained model (config, a GPTConfig) runs with for the methods named, to
    sequences of up to longest tokens}, each checked by GPTConfig before any work. A factor not given is the
    model's own (when it has a scaling), else the longest length over the training length."""
    if factor is None:
        scaled = config.rope_scaling != "none"
        factor = config.rope_scaling_factor if scaled else max(1.0, longest / original_length(config))
    elif all(name == "none" for name in names):
        raise UserError("--rope_scaling_factor applies to a --rope_scaling method other than none")
    methods = {}
    for name in names:
        settings = {**{k: getattr(config, k) for k in SCALING_FIELDS}, "rope_scaling": name}
        settings["rope_scaling_factor"] = 1.0 if name == "none" else factor
        replace(config, **settings)  # GPTConfig checks them: a one-line error before any work
        methods[name] = settings
    return methods


def setting_problems(config):
    """What is wrong with a GPTConfig's RoPE scaling settings, as a list of sentences (empty: all fine)."""
    scaling, factor = config.rope_scaling, config.rope_scaling_factor
    if scaling not in SCALINGS:
        return [f"rope_scaling must be one of {', '.join(SCALINGS)}, got {scaling!r}"]
    problems = []
    if factor <= 0 or (scaling != "none" and factor < 1):
        problems.append(f"rope_scaling_factor must be >= 1 (the context is stretched, not shrunk), got {factor}")
    elif scaling == "none" and factor != 1:
        problems.append(f"rope_scaling_factor {factor} applies to a rope_scaling, and rope_scaling is 'none'")
    if scaling != "none" and config.pos_emb != "rope":
        problems.append(f"rope_scaling {scaling!r} needs pos_emb='rope', got {config.pos_emb!r}")
    if config.rope_original_block_size is not None and config.rope_original_block_size < 1:
        problems.append(f"rope_original_block_size must be positive or None, got {config.rope_original_block_size}")
    if not config.rope_yarn_beta_fast > config.rope_yarn_beta_slow > 0:
        problems.append(
            f"rope_yarn_beta_fast ({config.rope_yarn_beta_fast}) must be > rope_yarn_beta_slow "
            f"({config.rope_yarn_beta_slow}) > 0"
        )
    if scaling == "dynamic" and config.n_embd // config.n_head <= 2:
        problems.append("rope_scaling 'dynamic' needs a head size above 2")
    return problems


# ----------------------------------------------------------------------------------------------------------
# Frequencies and tables


def plain_inverse_frequencies(head_size, theta):
    return 1.0 / theta ** (torch.arange(0, head_size, 2, dtype=torch.float32) / head_size)


def yarn_inverse_frequencies(config, factor):
    """NTK-by-parts (YaRN): interpolate the pairs that turn few times within the original length, keep the fast
    ones, and blend linearly between the pair indices where beta_fast and beta_slow turns fit."""
    head_size, theta, original = config.head_size, config.rope_theta, original_length(config)

    def pair_index_turning(turns):  # (fractional) index i whose wavelength 2 pi / inv_freq[i] fits `turns` times
        return head_size * math.log(original / (turns * 2 * math.pi)) / (2 * math.log(theta))

    low = max(math.floor(pair_index_turning(config.rope_yarn_beta_fast)), 0)
    high = min(math.ceil(pair_index_turning(config.rope_yarn_beta_slow)), head_size - 1)
    high = high + 0.001 if high == low else high  # a ramp of one step, as transformers keeps it finite
    ramp = ((torch.arange(head_size // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    inv_freq = plain_inverse_frequencies(head_size, theta)
    return inv_freq / factor * ramp + inv_freq * (1 - ramp)


def inverse_frequencies(config, length):
    """(inv_freq of shape (head_size / 2,), attention factor) of config's RoPE for a sequence of `length` tokens
    (the length matters to "dynamic" only)."""
    scaling, factor, original = config.rope_scaling, config.rope_scaling_factor, original_length(config)
    if scaling == "linear":
        return plain_inverse_frequencies(config.head_size, config.rope_theta) / factor, 1.0
    if scaling == "yarn":
        return yarn_inverse_frequencies(config, factor), (0.1 * math.log(factor) + 1.0 if factor > 1 else 1.0)
    theta = config.rope_theta
    if scaling == "dynamic" and length > original:
        theta *= (factor * length / original - (factor - 1)) ** (config.head_size / (config.head_size - 2))
    return plain_inverse_frequencies(config.head_size, theta), 1.0


def rope_tables(config, end, start=0):
    """cos and sin of shape (end - start, head_size / 2): positions start ... end - 1 of a sequence of `end`
    tokens, computed on the CPU in float32 (rows do not depend on `start`, so a longer table begins with the
    rows of a shorter one, bit for bit)."""
    inv_freq, attention_factor = inverse_frequencies(config, end)
    angles = torch.outer(torch.arange(start, end, dtype=torch.float32), inv_freq)
    cos, sin = angles.cos(), angles.sin()
    if attention_factor != 1.0:
        cos, sin = cos * attention_factor, sin * attention_factor
    return cos, sin


def tables_depend_on_length(config, length):
    """Whether a sequence of `length` tokens needs other frequencies than one of block_size ("dynamic" past the
    original length), so that the model's cached tables do not serve it."""
    original = original_length(config)
    return config.rope_scaling == "dynamic" and max(length, original) != max(config.block_size, original)


# ----------------------------------------------------------------------------------------------------------
# Continuing a checkpoint at another length


def continued_rope_settings(saved, overrides, source):
    """The model settings given to continue (resume or warm-start) from a checkpoint whose GPTConfig is `saved`
    (a dict), for a change of block_size: allowed for RoPE only (learned positions are a table of block_size
    rows); with a scaling on, the original length stays the checkpoint's unless given."""
    block_size = overrides.get("block_size", saved["block_size"])
    if block_size == saved["block_size"]:
        return overrides
    if saved.get("pos_emb") != "rope":
        raise UserError(
            f"{source} has learned positions for {saved['block_size']} tokens: block_size={block_size} cannot be "
            "honoured (a pos_emb='rope' model can continue at another block_size)"
        )
    scaling = overrides.get("rope_scaling", saved.get("rope_scaling", "none"))
    original = overrides.get("rope_original_block_size", saved.get("rope_original_block_size"))
    if scaling != "none" and original is None:
        return {**overrides, "rope_original_block_size": saved["block_size"]}
    return overrides


# ----------------------------------------------------------------------------------------------------------
# transformers' names for it (transformers 5's rope_parameters), both ways


def transformers_rope_parameters(model_config):
    """(rope_parameters, max_position_embeddings) of a GPTConfig (a dict) for a transformers config: "dynamic"
    reads the original length from max_position_embeddings, "yarn" from original_max_position_embeddings."""
    c = model_config
    parameters = {"rope_type": "default", "rope_theta": c["rope_theta"]}
    scaling = c.get("rope_scaling", "none")
    if scaling == "none":
        return parameters, c["block_size"]
    parameters.update(rope_type=scaling, factor=c["rope_scaling_factor"])
    original = c.get("rope_original_block_size") or c["block_size"]
    if scaling == "dynamic":
        return parameters, original
    if scaling == "yarn":
        parameters.update(original_max_position_embeddings=original)
        parameters.update(beta_fast=c["rope_yarn_beta_fast"], beta_slow=c["rope_yarn_beta_slow"])
    return parameters, c["block_size"]


def rope_settings_from_transformers(parameters, max_position_embeddings, saved_block_size, family):
    """GPTConfig fields (block_size, rope_theta and the scaling) of a transformers config's RoPE parameters; a
    type or an option model.py does not compute is refused, named. saved_block_size is our block's, if any."""
    rope_type = parameters.get("rope_type", parameters.get("type", "default"))
    known = {"default": "none", "linear": "linear", "dynamic": "dynamic", "yarn": "yarn"}
    if rope_type not in known:
        raise UserError(
            f"the {family} folder's RoPE type {rope_type!r} is not implemented here (model.py computes "
            f"{', '.join(known)})"
        )
    unsupported = [k for k in ("attention_factor", "mscale", "mscale_all_dim") if parameters.get(k) is not None]
    plain = {"partial_rotary_factor": 1.0, "truncate": True}
    unsupported += [k for k, value in plain.items() if parameters.get(k, value) != value]
    if unsupported:
        raise UserError(f"the {family} folder's RoPE has settings model.py cannot compute: {', '.join(unsupported)}")
    fields = dict(rope_theta=parameters.get("rope_theta", 10000.0), rope_scaling=known[rope_type])
    fields.update(block_size=max_position_embeddings, rope_original_block_size=None)
    if rope_type != "default":
        fields["rope_scaling_factor"] = float(parameters["factor"])
    if rope_type == "dynamic":  # max_position_embeddings is the original length there, ours the block_size
        fields["block_size"] = saved_block_size or max_position_embeddings
        fields["rope_original_block_size"] = max_position_embeddings
    if rope_type == "yarn":
        fields["rope_original_block_size"] = parameters["original_max_position_embeddings"]
        fields.update(rope_yarn_beta_fast=float(parameters.get("beta_fast") or 32.0))
        fields.update(rope_yarn_beta_slow=float(parameters.get("beta_slow") or 1.0))
    if fields["rope_original_block_size"] == fields["block_size"]:
        fields["rope_original_block_size"] = None  # the same length, said the default way
    if rope_type == "linear":
        del fields["rope_original_block_size"]  # linear does not read it: our block's value (if any) stays
    return fields
