"""
Where the figures of a run go: one JSON object per line in metrics.jsonl, and wandb when it is enabled; and
model FLOPs utilisation (MFU) against the device's datasheet peak.

metrics.jsonl is what plot.py and study.py read (read_metrics, and steps_to_reach on its validation curve); wandb's
offline mode keeps its run files locally for a later `wandb sync`.
"""

import json
import time
from pathlib import Path

import torch


class MetricsLog:
    def __init__(self, out_dir, wandb_settings=None, resume=False):
        self.path = Path(out_dir) / "metrics.jsonl"
        if not resume:  # a new run in an old folder starts a new file; a resumed run appends to its own
            self.path.unlink(missing_ok=True)
        self.wandb_run = None
        if wandb_settings:
            import wandb

            self.wandb_run = wandb.init(**wandb_settings)

    def log(self, step, **figures):
        figures = {k: v for k, v in figures.items() if v is not None}
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, **figures}) + "\n")
        if self.wandb_run is not None:
            self.wandb_run.log(figures, step=step)

    def close(self):
        if self.wandb_run is not None:
            self.wandb_run.finish()


def read_metrics(path):
    """The records of a metrics.jsonl file, as dicts."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def steps_to_reach(curve, target):
    """The first step at which the validation loss reaches target, interpolated linearly between evaluations
    (from the evaluation before, or from step 0 when the first one reaches it); None if it never does."""
    previous = None
    for step, loss in curve:
        if loss <= target:
            if previous is None:
                return step
            step_0, loss_0 = previous
            return step_0 + (loss_0 - target) / (loss_0 - loss) * (step - step_0)
        previous = (step, loss)
    return None


class TrainingReport:
    """What a training run tells its user, in one place: a console line per logged step and per evaluation,
    the same figures in metrics.jsonl and wandb. Only the master process reports; on the others it does nothing."""

    def __init__(self, run, cfg, resolved_config, flops_per_token, start_step=0):
        self.run, self.tokens_per_step, self.flops_per_token = run, cfg.total_batch_tokens, flops_per_token
        self.last_time, self.last_step = time.perf_counter(), start_step
        self.log = None
        if run.is_master:
            wandb_settings = None
            if cfg.wandb_log:
                wandb_settings = dict(
                    project=cfg.wandb_project,
                    name=cfg.wandb_run_name or None,
                    config=resolved_config,
                    mode=cfg.wandb_mode,
                    dir=cfg.out_dir,
                )
            self.log = MetricsLog(cfg.out_dir, wandb_settings, resume=start_step > 0)  # a resumed run appends

    def training_step(self, step, loss, lr, grad_norm, aux_loss=None):
        """Loss, learning rate, gradient norm and the speed since the last report."""
        if self.log is None:
            return
        run = self.run
        step_ms = 1000 * (time.perf_counter() - self.last_time) / (step - self.last_step)
        tokens_per_s = self.tokens_per_step / (step_ms / 1000)
        mfu = estimate_mfu(self.flops_per_token, tokens_per_s / run.world_size, run.device_name)
        memory_gb = torch.cuda.max_memory_allocated(run.device) / 1e9 if run.device_type == "cuda" else None
        line = f"step {step:6d} | loss {loss:.4f} | lr {lr:.2e} | grad norm {grad_norm:.3f} | "
        line += f"{step_ms:.0f} ms | {tokens_per_s:,.0f} tok/s"
        line += f" | MFU {100 * mfu:.1f}%" if mfu is not None else ""
        print(line + (f" | {memory_gb:.1f} GB" if memory_gb is not None else ""))
        aux_loss = aux_loss.item() if aux_loss is not None else None
        self.log.log(
            step,
            tokens=step * self.tokens_per_step,
            loss=loss,
            lr=lr,
            grad_norm=grad_norm,
            step_ms=step_ms,
            tokens_per_s=tokens_per_s,
            mfu=mfu,
            memory_gb=memory_gb,
            aux_loss=aux_loss,
        )
        self.last_time, self.last_step = time.perf_counter(), step

    def evaluation(self, step, **figures):
        """Evaluation figures (val_loss=... in nats per token, val_bpb=... in bits per byte, hellaswag_acc_norm=...),
        printed and logged."""
        if self.log is None:
            return
        print(
            f"step {step}: " + ", ".join(f"{name} {value:.4f}" for name, value in figures.items() if value is not None)
        )
        self.log.log(step, tokens=step * self.tokens_per_step, **figures)

    def rollback(self, step, back_to, message, **figures):
        """A rollback at step to the checkpoint of step back_to (gptkit/checkpointing/checkpoint_guard.py): the message
        printed, the figures logged; the speed is measured afresh from back_to."""
        self.last_time, self.last_step = time.perf_counter(), back_to
        if self.log is None:
            return
        print(message)
        self.log.log(step, **figures)

    def close(self):
        if self.log is not None:
            self.log.close()


# Dense bf16 (fp16 where the card has no bf16) tensor-core peaks in FLOP/s, from the vendors' data sheets,
# matched against torch.cuda.get_device_name(); the first name found in the device's name wins.
PEAK_FLOPS = {
    "H200": 989e12,
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "A100": 312e12,
    "A6000": 155e12,
    "A10G": 125e12,
    "A10": 125e12,
    "L40S": 362e12,
    "L4": 121e12,
    "4090": 165e12,
    "3090": 71e12,
    "V100": 125e12,
    "T4": 65e12,
}


def peak_flops(device_name):
    """The device's dense bf16/fp16 peak in FLOP/s, or None where unknown (CPUs, unlisted cards)."""
    for name, flops in PEAK_FLOPS.items():
        if name in device_name:
            return flops
    return None


def estimate_mfu(flops_per_token, tokens_per_second, device_name):
    """Model FLOPs utilisation: achieved model FLOP/s over the device's peak, or None where the peak is unknown."""
    peak = peak_flops(device_name)
    return None if peak is None else flops_per_token * tokens_per_second / peak
