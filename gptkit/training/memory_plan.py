"""
A memory plan: what one GPU holds while training a GPT under DDP or FSDP, from the config's numbers alone.

    state     float32 weights (4 bytes a parameter), gradients (4) and AdamW's two moments (8): whole under DDP,
              a 1/gpus shard each under FSDP
    working   DDP: autocast's compute-dtype copy of every weight, kept from forward to backward;
              FSDP: the gathered root (embeddings, head) and two gathered blocks (the one running and the one
              prefetched), with their gradients before the reduce-scatter
    accumulation   FSDP only, when an optimizer step has several micro-steps: gradients are not synchronised
              until the last one, so each GPU accumulates unsharded float32 gradients of the whole model
    activations    per sequence of block_size tokens: every block's saved tensors, or with activation
              checkpointing only each block's input plus one block being recomputed; plus the loss head

The activation counts follow this repository's forward pass (flash attention: no T x T matrix is kept; norms
and the residual stream in float32 under autocast). The invariant the tests check: the numbers are these sums
(state = 16 bytes a parameter, divided by the GPUs under FSDP), and the largest micro-batch is the largest
whose total stays under MEMORY_HEADROOM of the GPU. It is a plan, not a measurement: allocator fragmentation
and the CUDA context come out of the headroom.
"""

from dataclasses import dataclass

MEMORY_HEADROOM = 0.9  # plan with this share of the GPU's memory; the rest covers context and fragmentation
GB = 1e9


def activation_bytes_per_token_per_block(config, compute_bytes):
    """Bytes one block keeps for its backward pass, per token, in this model's forward pass."""
    d, kv = config.n_embd, config.n_kv_head * (config.n_embd // config.n_head)
    experts = config.n_expert_active if config.n_expert else 1
    residual = 4 * d * 2  # the float32 inputs of both layer norms
    attention = compute_bytes * (d + (d + 2 * kv) + d + d)  # norm output, q k v, attention output and its copy
    if config.pos_emb == "rope":
        attention += 4 * (d + kv)  # q and k rotated in float32
    mlp = compute_bytes * (d + 8 * d * experts)  # norm output, the hidden layer before and after GeLU
    if config.n_expert:
        mlp += compute_bytes * 2 * d * experts + 4 * config.n_expert  # tokens gathered per expert, outputs; router
    return residual + attention + mlp


def loss_head_bytes_per_token(config, compute_bytes):
    """Final norm, logits (kept by the caller until backward), float32 log-probabilities and their gradient."""
    d, vocab = config.n_embd, config.vocab_size
    return 4 * d + compute_bytes * d + (2 * compute_bytes + 8) * vocab


def activation_bytes_per_sequence(config, compute_bytes, checkpointed):
    per_block = activation_bytes_per_token_per_block(config, compute_bytes)
    blocks = 4 * config.n_embd * config.n_layer + per_block if checkpointed else per_block * config.n_layer
    return config.block_size * (blocks + loss_head_bytes_per_token(config, compute_bytes))


@dataclass
class GPUMemory:
    """Bytes on one GPU; activations are per sequence of block_size tokens."""

    weights: float
    gradients: float
    optimizer: float
    working: float
    accumulation: float  # counted only when an optimizer step has several micro-steps
    activations: float
    activations_checkpointed: float

    def fixed(self, accumulating):
        return self.weights + self.gradients + self.optimizer + self.working + accumulating * self.accumulation

    def per_sequence(self, checkpointed):
        return self.activations_checkpointed if checkpointed else self.activations

    def fits(self, micro_batch_size, checkpointed, accumulating, gpu_bytes):
        total = self.fixed(accumulating) + micro_batch_size * self.per_sequence(checkpointed)
        return total <= MEMORY_HEADROOM * gpu_bytes

    def largest_micro_batch(self, gpu_bytes, checkpointed, sequences_per_gpu=None):
        """The most sequences per forward pass that stay under the headroom (0: not even the state fits).
        A micro-batch below sequences_per_gpu (each GPU's share of an optimizer step; None: unknown) means
        gradient accumulation, which costs FSDP its unsharded gradients."""
        free = MEMORY_HEADROOM * gpu_bytes - self.fixed(accumulating=False)
        whole_step = int(free // self.per_sequence(checkpointed))
        if sequences_per_gpu is not None and whole_step >= sequences_per_gpu:
            return whole_step
        return max(0, int((free - self.accumulation) // self.per_sequence(checkpointed)))


def plan_memory(config, params, block_params, gpus, parallelism, compute_dtype="bfloat16"):
    """GPUMemory for training a model of `params` parameters (`block_params` of them in each block) on `gpus`
    GPUs; config gives the shape (n_layer, n_embd, heads, experts, vocab_size, block_size)."""
    compute_bytes = 4 if compute_dtype == "float32" else 2
    activations = {
        "activations": activation_bytes_per_sequence(config, compute_bytes, checkpointed=False),
        "activations_checkpointed": activation_bytes_per_sequence(config, compute_bytes, checkpointed=True),
    }
    if parallelism == "ddp":
        copies = compute_bytes * params if compute_bytes < 4 else 0
        return GPUMemory(4 * params, 4 * params, 8 * params, copies, 0, **activations)
    root_params = params - config.n_layer * block_params
    gathered = compute_bytes * (root_params + 2 * block_params)
    unreduced_gradients = (compute_bytes + 4 * (compute_bytes < 4)) * (root_params + block_params)
    shard = params / gpus
    return GPUMemory(4 * shard, 4 * shard, 8 * shard, gathered + unreduced_gradients, 4 * params, **activations)


def describe_plan(name, config, train_config, params, block_params, gpus, gpu_memory_gb):
    """The plan as `python model.py CONFIG --gpus N --gpu-memory GB` prints it: GB per GPU, DDP beside FSDP,
    then what the config's own settings (parallelism, micro-batch, checkpointing) come to."""
    compute_dtype = "float32" if train_config.dtype == "float32" else "bfloat16"  # auto: a GPU with bfloat16
    plans = {p: plan_memory(config, params, block_params, gpus, p, compute_dtype) for p in ("ddp", "fsdp")}
    gpu_bytes = gpu_memory_gb * GB
    sequences_per_gpu = train_config.total_batch_tokens // (config.block_size * gpus)
    lines = [f"{name}: {params / 1e6:.0f}M parameters on {gpus} GPUs of {gpu_memory_gb:g} GB, {compute_dtype}"]
    lines.append(f"  {'GB per GPU':<42} {'DDP':>8} {'FSDP':>8}")
    rows = [
        ("weights (float32)", "weights"),
        ("gradients (float32)", "gradients"),
        ("AdamW moments (float32)", "optimizer"),
        ("working copies (autocast / gathered)", "working"),
        ("unsharded gradients while accumulating", "accumulation"),
        (f"activations per sequence of {config.block_size}", "activations"),
        ("  with activation checkpointing", "activations_checkpointed"),
    ]
    for label, key in rows:
        lines.append(f"  {label:<42} {getattr(plans['ddp'], key) / GB:>8.2f} {getattr(plans['fsdp'], key) / GB:>8.2f}")
    for checkpointed in (False, True):
        fits = [plans[p].largest_micro_batch(gpu_bytes, checkpointed, sequences_per_gpu) for p in ("ddp", "fsdp")]
        label = "largest micro-batch" + (" with checkpointing" if checkpointed else "")
        lines.append(f"  {label:<42} {fits[0]:>8} {fits[1]:>8}")
    micro_batch = train_config.micro_batch_size
    if isinstance(micro_batch, int):
        plan, checkpointed = plans[train_config.parallelism], train_config.activation_checkpointing
        accumulating = micro_batch < sequences_per_gpu
        total = plan.fixed(accumulating) + micro_batch * plan.per_sequence(checkpointed)
        setting = f"{train_config.parallelism}, micro-batch {micro_batch}" + (", checkpointing" * checkpointed)
        verdict = "fits" if plan.fits(micro_batch, checkpointed, accumulating, gpu_bytes) else "does NOT fit"
        lines.append(f"  this config ({setting}): {total / GB:.1f} GB per GPU, {verdict}")
    return "\n".join(lines)
