"""
The depth dial: one number, `depth`, sets the model's width and heads and the run's batch, learning rates and
length. The rules are karpathy/nanochat's (scripts/base_train.py and nanochat/gpt.py, read at commit 92d63d4;
the numbers are its defaults, the code is ours), in the order they are applied:

1. Shape: n_layer = depth; n_embd = depth * aspect_ratio (64), rounded up to a multiple of head_size (128);
   n_head = n_embd / head_size.
2. Tokens: tokens_per_parameter (12) times the scaling parameters, the weights each token multiplies in the
   attention and MLP matrices and the output head (not the embedding lookups). Chinchilla's compute-optimal
   ratio is about 20; nanochat trains shorter and found 12 (8 for its speedrun) better for its time.
3. Batch: 2^19 tokens at depth 12, growing as tokens^0.383 (the "Power Lines" fit, Bergsma et al. 2025),
   rounded to a power of two.
4. Learning rates, each times sqrt(batch / 2^19), AdamW's square-root rule, which nanochat applies to Muon too:
   Muon's matrices 0.02; the token embedding 0.3 and the output head 0.008, both also times (n_embd / 768)^-0.5;
   the scalars (norm gains, biases, residual scalars) 0.005, nanochat's rate for its residual scalars.
   learning_rate, AdamW's LR for the matrices Muon does not take (an MoE router, value-embedding gates), is the
   output head's. min_lr is 5% of learning_rate: every group decays to 5% of its peak (nanochat's final LR).
   nanochat unties the output head; a tied one (tie_embeddings=True) is both, and takes the head's rate.
5. Steps: max_iters = tokens / batch (and lr_decay_iters, for a cosine schedule), after 40 warmup steps (a
   tenth of the steps in a run of fewer than 400, so that a small model's warmup ends before any decay).

A key set explicitly (in a config file or a flag) wins over its rule, and the later rules read it: with
`--n_embd=1024` the heads and the parameter count follow that width; with `--total_batch_tokens=...` the LR
scale and the steps follow that batch. The reference run (depth 12) has the same settings but its own shape.
What nanochat also scales and this dial does not: Muon's weight decay (its decay is "cautious", ours is not),
Muon's momentum warmup, and per-group Adam betas.

The invariant the tests check (tests/gptkit/model_parts/test_depth_dial.py): the derived settings equal these
rules computed by hand at any depth; scaling_parameters equals the count of the built model's weights; a depth
that gives no model, no whole batch or no step is one line.
"""

import math
from dataclasses import dataclass, fields

from gptkit.errors import UserError

REFERENCE_DEPTH = 12  # where nanochat tuned the numbers below
REFERENCE_BATCH_TOKENS = 2**19
BATCH_EXPONENT = 0.383  # the optimal batch grows as tokens^0.383
REFERENCE_WIDTH = 768  # the width of the AdamW learning rates below
MUON_LR = 0.02
EMBEDDING_LR = 0.3
UNEMBEDDING_LR = 0.008
SCALAR_LR = 0.005
FINAL_LR_FRACTION = 0.05
WARMUP_STEPS = 40
SHAPE_KEYS = ("n_layer", "n_embd", "n_head", "n_kv_head", "mlp_width")  # the reference run takes its own


@dataclass
class DepthDial:
    """The dial's keys: a config file or flag may set them beside the model and training settings."""

    depth: int | None = None  # None: no dial, every setting as given
    aspect_ratio: int = 64  # n_embd per layer
    head_size: int = 128
    tokens_per_parameter: float = 12.0

    def __post_init__(self):
        problems = []
        if self.depth is not None and self.depth < 1:
            problems.append(f"depth must be >= 1, got {self.depth}")
        if self.aspect_ratio < 1 or self.head_size < 1:
            problems.append(f"aspect_ratio and head_size must be >= 1, got {self.aspect_ratio} and {self.head_size}")
        if not self.tokens_per_parameter > 0:
            problems.append(f"tokens_per_parameter must be positive, got {self.tokens_per_parameter}")
        if problems:
            raise UserError("bad depth dial: " + "; ".join(problems))

    def shape(self, depth, n_embd=None):
        """Rule 1: n_layer, n_embd, n_head of a depth (the heads of n_embd where that is given)."""
        n_embd = n_embd or math.ceil(depth * self.aspect_ratio / self.head_size) * self.head_size
        return dict(n_layer=depth, n_embd=n_embd, n_head=n_embd // self.head_size)


DIAL_KEYS = tuple(f.name for f in fields(DepthDial))


def scaling_parameters(model_config):
    """The weights each token multiplies in the attention and MLP matrices (an MoE layer's router and active
    experts) and the output head: the parameters of rule 2."""
    c = model_config
    kv_width = c.n_kv_head * c.head_size
    attention = c.n_embd * (c.n_embd + 2 * kv_width) + c.n_embd * c.n_embd
    fc_width = c.mlp_hidden * (2 if c.mlp_activation == "swiglu" else 1)
    mlp = c.n_embd * fc_width + c.mlp_hidden * c.n_embd
    if c.n_expert:
        mlp = c.n_expert_active * mlp + c.n_embd * c.n_expert
    return c.n_layer * (attention + mlp) + c.vocab_size * c.n_embd


def with_depth_dial(settings, model_config_class):
    """settings (config keys and values) with what the dial derives for every key they do not set; settings without
    a depth as they are. model_config_class (GPTConfig) gives the defaults and checks the shape."""
    dial = DepthDial(**{key: settings[key] for key in DIAL_KEYS if key in settings})
    if dial.depth is None:
        given = [key for key in DIAL_KEYS if key in settings]
        if given:
            raise UserError(f"{', '.join(given)} set without depth: the depth dial's settings need a depth")
        return settings
    derived = {}

    def rule(key, value):  # a key's rule applies only where the key is not set explicitly
        if key not in settings:
            derived[key] = value
        return settings.get(key, value)

    for key, value in dial.shape(dial.depth, settings.get("n_embd")).items():
        rule(key, value)
    model_fields = {f.name for f in fields(model_config_class)}
    model = model_config_class(**{k: v for k, v in {**settings, **derived}.items() if k in model_fields})
    others = {k: v for k, v in settings.items() if k in model_fields and k not in SHAPE_KEYS}
    reference = model_config_class(**others, **dial.shape(REFERENCE_DEPTH))

    tokens = dial.tokens_per_parameter * scaling_parameters(model)
    reference_tokens = dial.tokens_per_parameter * scaling_parameters(reference)
    ideal_batch = REFERENCE_BATCH_TOKENS * (tokens / reference_tokens) ** BATCH_EXPONENT
    batch = rule("total_batch_tokens", 2 ** round(math.log2(ideal_batch)))
    lr_scale = math.sqrt(batch / REFERENCE_BATCH_TOKENS)
    width_scale = (model.n_embd / REFERENCE_WIDTH) ** -0.5
    rule("muon_lr", MUON_LR * lr_scale)
    head_lr = UNEMBEDDING_LR * lr_scale * width_scale
    if model.tie_embeddings:
        rule("embedding_lr", head_lr)
    else:
        rule("embedding_lr", EMBEDDING_LR * lr_scale * width_scale)
        head_lr = rule("unembedding_lr", head_lr)
    rule("scalar_lr", SCALAR_LR * lr_scale)
    learning_rate = rule("learning_rate", head_lr)
    rule("min_lr", FINAL_LR_FRACTION * learning_rate)
    steps = rule("max_iters", int(tokens // batch))
    rule("lr_decay_iters", steps)
    rule("warmup_iters", min(WARMUP_STEPS, steps // 10))

    where = f"depth {dial.depth} gives a batch of {batch:,} tokens"
    if batch < model.block_size:
        raise UserError(f"{where}, less than one sequence of block_size {model.block_size}: set total_batch_tokens")
    if steps < 1:
        raise UserError(f"{where} and {tokens:,.0f} tokens to train on, less than one step: set max_iters")
    return {**settings, **derived}
