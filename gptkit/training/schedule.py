"""
The learning-rate schedule: a pure function of the step, so a resumed run continues on the same curve.

Two shapes, both with a linear warmup over warmup_iters:
- "cosine": cosine decay from the peak to min_lr at lr_decay_iters, constant after (GPT-2 / nanoGPT).
- "wsd" (warmup-stable-decay): the peak until the last decay_fraction of max_iters, then a linear decay that
  reaches min_lr at max_iters. A run can be extended (or stopped) at any point of the stable phase and given
  its own short decay, without retuning a cosine to a new length.

Each optimizer param group follows the schedule relative to its own peak (learning_rate for AdamW, muon_lr for
Muon); the floor scales with the peak, min_lr / learning_rate of it.
"""

import math


def lr_at_step(step, cfg, peak_lr=None):
    """The learning rate at step (counted from 0) for a group whose peak is peak_lr (default learning_rate)."""
    peak = cfg.learning_rate if peak_lr is None else peak_lr
    floor = cfg.min_lr if peak == cfg.learning_rate else cfg.min_lr * peak / (cfg.learning_rate or math.inf)
    if step < cfg.warmup_iters:
        return peak * (step + 1) / cfg.warmup_iters
    if cfg.lr_schedule == "wsd":
        decay_iters = round(cfg.decay_fraction * cfg.max_iters)
        decay_start = cfg.max_iters - decay_iters
        if step < decay_start or decay_iters == 0:
            return peak
        return peak + (floor - peak) * min(1.0, (step - decay_start) / decay_iters)
    if step >= cfg.lr_decay_iters:
        return floor
    progress = (step - cfg.warmup_iters) / (cfg.lr_decay_iters - cfg.warmup_iters)
    return floor + 0.5 * (1.0 + math.cos(math.pi * progress)) * (peak - floor)
