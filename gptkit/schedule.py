"""
The learning-rate schedule: a pure function of the step, so a resumed run continues on the same curve.
"""

import math


def learning_rate(step, cfg):
    """Linear warmup to cfg.learning_rate, cosine decay to cfg.min_lr at lr_decay_iters, constant after."""
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / cfg.warmup_iters
    if step >= cfg.lr_decay_iters:
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / (cfg.lr_decay_iters - cfg.warmup_iters)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.learning_rate - cfg.min_lr)
