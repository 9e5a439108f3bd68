"""
The checkpoint a run keeps is always a good one: non-finite training stops before it can write a bad one.

A step's loss and gradient norm must be finite wherever the host reads them (log and save steps); before a
checkpoint is written, the weights must be finite and give a finite loss on a validation batch (a model that
exploded to 1e6 in every weight is finite yet already predicts NaN, and would resume straight into NaN). Every
process checks and they agree on the outcome, so DDP ranks stop together. The error names the step whose
checkpoint is kept.
"""

import math
from pathlib import Path

import torch
from torch.distributed.tensor import DTensor

from gptkit.distributed import all_reduce_max, on_master
from gptkit.errors import UserError


class CheckpointGuard:
    def __init__(self, path, run, check_batch, saved_step=None):
        """check_batch: an (x, y) validation batch the weights are tried on; saved_step: the step of the checkpoint
        already at path from this run (a resume), None if the file is not this run's."""
        self.path, self.run, self.saved_step = Path(path), run, saved_step
        self.check_batch = tuple(t.to(run.device) for t in check_batch)

    def kept(self):
        """What is on disk if the run stops now, for the error message."""
        if self.saved_step is not None:
            return f"the checkpoint of step {self.saved_step} in {self.path} is kept"
        if self.path.exists():
            return f"{self.path}, from an earlier run, is left as it was"
        return "no checkpoint was written"

    def check_step(self, step, loss, grad_norm, gradient_scaling):
        """Stops on a non-finite loss, or gradient norm (unless a float16 gradient scaler skips such steps)."""
        if not math.isfinite(loss):
            raise UserError(f"loss is {loss} at step {step}: stopping; {self.kept()}; lower learning_rate?")
        if not math.isfinite(grad_norm) and not gradient_scaling:
            raise UserError(
                f"gradient norm is {grad_norm} at step {step}: stopping; {self.kept()}; lower learning_rate?"
            )

    @torch.no_grad()
    def weights_are_good(self, model):
        """All weights finite, and a finite loss on the check batch, on every process."""
        local = (p.to_local() if isinstance(p, DTensor) else p for p in model.parameters())  # FSDP: this shard
        finite = all(torch.isfinite(p).all() for p in local)
        if finite:
            was_training = model.training
            model.eval()
            with self.run.autocast():
                _, loss = model(*self.check_batch)
            model.train(was_training)
            finite = bool(torch.isfinite(loss))
        return all_reduce_max(not finite, self.run.world_size, self.run.device) == 0

    def save(self, step, model, write, every_rank=False):
        """Calls write() if the model's weights are good, otherwise stops the run. write runs on the master, or on
        every process for a sharded checkpoint that all processes write together."""
        if not self.weights_are_good(model):
            raise UserError(
                f"the weights after step {step} are not finite or predict a non-finite loss: stopping before "
                f"saving them; {self.kept()}; lower learning_rate?"
            )

        def guarded_write():
            try:
                write()
            except UserError as e:
                raise UserError(f"{e}; {self.kept()}") from None
            if self.run.is_master:
                print(f"step {step}: checkpoint saved to {self.path}")

        if every_rank:
            guarded_write()
        else:
            failure = f"rank 0 could not write the checkpoint of step {step}; {self.kept()}"
            on_master(self.run, guarded_write, failure=failure)
        self.saved_step = step
