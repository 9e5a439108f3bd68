"""
Where the figures of a run go: one JSON object per line in metrics.jsonl, and wandb when it is enabled.

metrics.jsonl is what plot.py reads; wandb's offline mode keeps its run files locally for a later `wandb sync`.
"""

import json
from pathlib import Path


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
