"""
micro_batch_size = "auto": the largest micro-batch that fits the GPU, found by trying training steps (DDP, one
process) or from the memory plan (FSDP: a trial step of a sharded model runs collectives, and an out-of-memory
error on one GPU would leave the others waiting in them).

The candidates are the divisors of each process' share of total_batch_tokens, so the batch in tokens stays what
the config says and gradient accumulation makes up the difference. gradient_accumulation_steps is the one place
that says whether a batch splits: train.py, the auto search and study.py's check before any run all ask it.
"""

import torch

from gptkit.errors import UserError
from gptkit.training.memory_plan import MEMORY_HEADROOM, plan_memory

CPU_MICRO_BATCH = 12  # off CUDA there is no memory to fill: the largest divisor up to this


def gradient_accumulation_steps(cfg, micro_batch_size, block_size, world_size):
    """Micro-steps per optimizer step, so that each step trains on cfg.total_batch_tokens; a batch that does not
    split into whole micro-batches on every process is refused in one line."""
    tokens_per_micro_step = micro_batch_size * block_size * world_size
    if cfg.total_batch_tokens % tokens_per_micro_step:
        raise UserError(
            f"total_batch_tokens {cfg.total_batch_tokens} is not a multiple of micro_batch_size * block_size * "
            f"processes = {micro_batch_size} * {block_size} * {world_size} = {tokens_per_micro_step}"
        )
    return cfg.total_batch_tokens // tokens_per_micro_step


def random_batch(batch_size, block_size, vocab_size, device):
    # random tokens, not zeros: every embedding row and every logit is exercised as in real training
    tokens = torch.randint(0, vocab_size, (batch_size, block_size + 1), device=device)
    return tokens[:, :-1], tokens[:, 1:]


def fits_in_memory(model, batch_size, run):
    """Whether a training step at this micro-batch stays under the headroom (CUDA only); leaves weights unchanged."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(run.device)
        adam_state = [torch.empty_like(p, dtype=torch.float32) for p in params for _ in range(2)]  # AdamW's moments
        x, y = random_batch(batch_size, model.config.block_size, model.config.vocab_size, run.device)
        with run.autocast():
            _, loss = model(x, y)
        loss.backward()
        peak = torch.cuda.max_memory_allocated(run.device)
        del adam_state, loss
        fits = peak <= MEMORY_HEADROOM * torch.cuda.get_device_properties(run.device).total_memory
    except torch.OutOfMemoryError:
        fits = False
    for p in params:
        p.grad = None
    torch.cuda.empty_cache()
    return fits


def planned_micro_batch_size(model, cfg, run, candidates):
    """The largest candidate that the FSDP memory plan fits into this GPU."""
    params = model.num_params()["total"]
    block_params = sum(p.numel() for p in model.transformer.h[0].parameters())
    plan = plan_memory(model.config, params, block_params, run.world_size, "fsdp", run.dtype)
    gpu_bytes = torch.cuda.get_device_properties(run.device).total_memory
    sequences = candidates[-1]
    fitting = [b for b in candidates if plan.fits(b, cfg.activation_checkpointing, b < sequences, gpu_bytes)]
    if not fitting:
        raise UserError("by the memory plan not even a micro-batch of 1 sequence fits; see python model.py --gpus")
    return fitting[-1]


def find_micro_batch_size(model, cfg, run):
    """The largest micro-batch that fits the GPU and divides each process' share of total_batch_tokens, so the
    total batch is kept by adjusting gradient accumulation. Off CUDA: the largest such divisor up to 12."""
    sequences = gradient_accumulation_steps(cfg, 1, model.config.block_size, run.world_size)  # each process' share
    candidates = [b for b in range(1, sequences + 1) if sequences % b == 0]
    if run.device_type != "cuda":
        chosen = max(b for b in candidates if b <= CPU_MICRO_BATCH)
    elif cfg.parallelism == "fsdp" and run.world_size > 1:
        chosen = planned_micro_batch_size(model, cfg, run, candidates)
    else:
        low, high = 0, len(candidates) - 1  # binary search: fitting is monotone in the batch size
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if fits_in_memory(model, candidates[middle], run) else (low, middle - 1)
        if low == 0 and not fits_in_memory(model, candidates[0], run):
            raise UserError("not even a micro-batch of 1 sequence fits this GPU; use a smaller model or block_size")
        chosen = candidates[low]
    if run.is_master:
        print(f"micro_batch_size auto: {chosen} (gradient accumulation {sequences // chosen})")
    return chosen
