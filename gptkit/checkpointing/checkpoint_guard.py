"""
The checkpoint a run keeps is always one that a resume trains from; a bad step stops the run, or rolls it back
to that checkpoint.

A bad step has a non-finite loss or gradient norm (unless a float16 gradient scaler skips such steps), or, with
loss_spike_factor on, a loss above that factor times the running average of the losses before it. Steps are
judged where the host reads the loss anyway, where it is logged or a checkpoint is due, in both modes: reading
it on every step would make the host wait for the GPU on every step, and a NaN or an overflow stays in the
weights, so the next such step sees it. A bad step is seen at most log_interval steps late; a rollback goes
back to the checkpoint all the same and skips those steps' batches too.

Before a checkpoint is written, the weights and the optimizer state must be finite, and on a validation batch
the model must give a finite loss and a finite gradient norm: the tests the first step of a resumed run faces.
Finite weights are not enough: weights blown up by a learning rate of 1e4 (to 8e3) gave a finite loss (5e8) but
gradients whose norm overflowed, and a resume from them stopped at once. Every process checks, and all agree
on the outcome. The check leaves no trace (gradients cleared, RNG state restored): exact resumes stay exact.

What a bad step does is on_nonfinite's choice. "stop" ends the run with one line that names the checkpoint
kept. "rollback" reloads that checkpoint from disk, moves the data position past every batch read since (the
batches that led to the bad step are skipped, as PaLM's authors did for their loss spikes), logs it and goes
on: at most max_rollbacks times, then it stops as "stop" does; without a checkpoint of this run, it stops too.
"""

import math

import torch
from torch.distributed.tensor import DTensor

from gptkit.checkpointing.checkpoint import rng_state, set_rng_state
from gptkit.distributed import all_reduce_max
from gptkit.errors import UserError
from gptkit.training.parallel import clip_gradients

# The running average of the loss is an exponential moving average of the losses the host reads, each new one
# weighing this much (a memory of about ten readings). A spike is not averaged in.
LOSS_AVERAGE_WEIGHT = 0.1

# Why a model would not resume, worst last: processes that disagree take the largest code, so all stop alike.
NOT_RESUMABLE = {
    1: "non-finite weights",
    2: "a non-finite optimizer state",
    3: "a non-finite loss on a validation batch",
    4: "a non-finite gradient norm on a validation batch",
}


class CheckpointGuard:
    def __init__(self, checkpoint, parts, run, check_batch, resumed=None):
        """checkpoint: the run's TrainingCheckpoint, writing the state of parts (TrainingParts); check_batch: an
        (x, y) validation batch the model is tried on; resumed: the checkpoint this run took up, if any."""
        self.checkpoint, self.parts, self.run = checkpoint, parts, run
        self.cfg = checkpoint.cfg
        self.check_batch = tuple(t.to(run.device) for t in check_batch)
        self.saved_step = resumed["step"] if resumed else None  # the step of this run's checkpoint on disk
        self.loss_average = resumed.get("loss_average") if resumed else None
        self.rollbacks, self.checked_step = 0, None

    def kept(self):
        """What is on disk if the run stops now, for the error message."""
        if self.saved_step is not None:
            return f"the checkpoint of step {self.saved_step} in {self.checkpoint.path} is kept"
        if self.checkpoint.path.exists():
            return f"{self.checkpoint.path}, from an earlier run, is left as it was"
        return "no checkpoint was written"

    def check_step(self, step, loss, grad_norm, gradient_scaling, saving=False):
        """None if the step is good (and, saving, its model is one to checkpoint). Otherwise the run stops with
        a UserError, or, rolling back, this returns what is wrong. Every process gets the same answer."""
        problem = self.step_problem(step, loss, grad_norm, gradient_scaling)
        if problem is None and saving:
            reason = self.not_resumable(gradient_scaling)
            if reason is not None:
                problem = f"the model after step {step} would not resume ({reason})"
        if problem is None:
            if saving:
                self.checked_step = step
            average = self.loss_average
            self.loss_average = loss if average is None else average + LOSS_AVERAGE_WEIGHT * (loss - average)
            return None
        rollback_left = self.cfg.on_nonfinite == "rollback" and self.rollbacks < self.cfg.max_rollbacks
        if rollback_left and self.saved_step is not None:
            return problem
        after = f" after {self.rollbacks} rollbacks" if self.rollbacks else ""
        before = " before saving it" if saving else ""
        raise UserError(f"{problem}: stopping{before}{after}; {self.kept()}; lower learning_rate?")

    def step_problem(self, step, loss, grad_norm, gradient_scaling):
        """What is wrong with a step's (all-reduced) loss and gradient norm, or None."""
        if not math.isfinite(loss):
            return f"loss is {loss} at step {step}"
        if not math.isfinite(grad_norm) and not gradient_scaling:
            return f"gradient norm is {grad_norm} at step {step}"
        average, factor = self.loss_average, self.cfg.loss_spike_factor
        if factor and average is not None and loss > factor * average:
            return f"loss {loss:.4f} at step {step} is a spike (over {factor:g} x the running average {average:.4f})"
        return None

    def not_resumable(self, gradient_scaling):
        """Why a resume from the model as it is would fail at once (a NOT_RESUMABLE entry), or None."""
        parts = self.parts
        code = 0 if all_finite(list(parts.model.parameters())) else 1
        if code == 0 and not all_finite(parts.optimizer.state_dict()):
            code = 2
        code = all_reduce_max(code, self.run.world_size, self.run.device)
        if code == 0:  # every process takes part in the check batch's forward and backward (FSDP gathers)
            code = all_reduce_max(self.try_check_batch(gradient_scaling), self.run.world_size, self.run.device)
        return NOT_RESUMABLE.get(int(code))

    def try_check_batch(self, gradient_scaling):
        """0 if the model gives a finite loss on the check batch and a finite gradient norm on its first
        sequence (one sequence: little memory besides training's), else the NOT_RESUMABLE code. Evaluation mode,
        so dropout draws no random numbers; the RNG state is restored all the same, the gradients cleared."""
        model, rng = self.parts.model, rng_state()
        was_training = model.training
        model.eval()
        with torch.no_grad(), self.run.autocast():
            _, loss = model(*self.check_batch)
        with self.run.autocast():
            _, one_sequence_loss = model(*(t[:1] for t in self.check_batch))
        one_sequence_loss.backward()
        grad_norm = clip_gradients(model.parameters(), math.inf)  # the training step's own measure
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        set_rng_state(rng)
        if not torch.isfinite(loss):
            return 3
        return 4 if not torch.isfinite(grad_norm) and not gradient_scaling else 0

    def save(self, step):
        """Writes the checkpoint of step, whose model check_step(saving=True) found good."""
        if self.checked_step != step:
            raise RuntimeError(f"step {step} was not checked before saving (check_step with saving=True)")
        try:
            self.checkpoint.save(step, self.parts, self.loss_average)
        except UserError as e:
            raise UserError(f"{e}; {self.kept()}") from None
        if self.run.is_master:
            print(f"step {step}: checkpoint saved to {self.checkpoint.path}")
        self.saved_step = step

    def roll_back(self, step, problem, report):
        """Back to this run's checkpoint, with the data position past every batch read since; returns the step
        to go on from. The rollback is printed and logged to metrics.jsonl."""
        skipped_to = self.parts.batches.state_dict()
        checkpoint = self.checkpoint.reload(self.parts)
        self.parts.batches.load_state_dict(skipped_to)
        self.loss_average = checkpoint.get("loss_average")
        self.rollbacks += 1
        back_to = checkpoint["step"]
        position = {key: skipped_to[key] for key in ("epoch", "shard_position", "window_position")}
        message = (
            f"{problem}: rolled back to the checkpoint of step {back_to}, skipping the batches of steps "
            f"{back_to + 1}-{step} (data position now epoch {position['epoch']}, shard {position['shard_position']}, "
            f"window {position['window_position']}); rollback {self.rollbacks} of {self.cfg.max_rollbacks}"
        )
        report.rollback(step, back_to, message, problem=problem, rolled_back_to=back_to, data_position=position)
        return back_to


def all_finite(state):
    """Whether every tensor in state (a tensor, or a list or dict of them, nested) is finite; of a sharded
    tensor, this process' shard."""
    if isinstance(state, DTensor):
        state = state.to_local()
    if isinstance(state, torch.Tensor):
        return bool(torch.isfinite(state).all())
    if isinstance(state, dict):
        state = list(state.values())
    return all(all_finite(item) for item in state) if isinstance(state, (list, tuple)) else True
