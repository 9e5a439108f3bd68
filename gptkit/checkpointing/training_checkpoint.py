"""
A training run's checkpoint, in one place: where it lives, which processes write it, and what a resume (or a
rollback to it) takes up. The kind follows from the parallelism; train.py never asks which one it has.

    ddp    out_dir/ckpt.pt   one file, written by rank 0 (every process holds the same weights and optimizer)
    fsdp   out_dir/ckpt/     a folder of shards, every process writing its own (sharded_checkpoint.py)

Either holds the weights, the optimizer and gradient-scaler state, the step, the configs, the tokenizer (its name
and, for a trained one, its definition: a checkpoint copied alone still reads and writes text), the data
position, the RNG state and the running loss average of checkpoint_guard.py. Restoring takes all of it up except
the peak learning rates, which stay the config's (a resumed run may change learning_rate). The
invariant the tests check: a resumed run logs the losses the uninterrupted run logs (identical floats on one
process; the sharded kind on any number of processes), and a rollback takes up the very same state.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from gptkit.checkpointing.checkpoint import check_resumable, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from gptkit.checkpointing.sharded_checkpoint import (
    FOLDER,
    load_sharded_checkpoint,
    process_state,
    read_training_state,
    save_sharded_checkpoint,
    sharded_checkpoint_path,
)
from gptkit.data.dataloader import ShardedBatches
from gptkit.distributed import on_master
from gptkit.errors import UserError
from gptkit.training.optim import config_peaks_kept, load_optimizer_state

FILE = "ckpt.pt"


def checkpoint_file_in(out_dir):
    """Where a run's one-file checkpoint lives (ddp runs write it, consolidate.py makes one of the sharded kind):
    the one place its name is spelled."""
    return Path(out_dir) / FILE


@dataclass
class TrainingParts:
    """What a training checkpoint holds the state of."""

    model: torch.nn.Module  # the GPT itself (under FSDP sharded in place), not a DDP or torch.compile wrapper
    optimizer: object  # torch's AdamW, or gptkit.training.optim's pair of Muon and AdamW
    scaler: torch.amp.GradScaler
    batches: ShardedBatches


class TrainingCheckpoint:
    def __init__(self, cfg, run):
        """The checkpoint of the run that cfg (its out_dir, parallelism and init_from) describes."""
        self.cfg, self.run = cfg, run
        self.out_dir = Path(cfg.out_dir)
        self.sharded = cfg.parallelism == "fsdp"
        self.path = self.out_dir / FOLDER if self.sharded else checkpoint_file_in(self.out_dir)

    def find(self, init_from=None):
        """The checkpoint to take up for init_from (default the config's): for "resume" the one this run's kind
        writes, for "auto" that one if it exists; None: start as configured. A checkpoint of the other kind is
        refused, never ignored. The sharded kind's is its plain training state (the weights are read by
        restore, once the model is sharded) with the folder it came from, "sharded_path"."""
        init_from = init_from or self.cfg.init_from
        if init_from not in ("resume", "auto"):
            return None
        full, sharded = checkpoint_file_in(self.out_dir), sharded_checkpoint_path(self.out_dir)
        if self.sharded and sharded is not None:
            return {**read_training_state(sharded), "sharded_path": sharded}
        if not self.sharded and full.is_file():
            checkpoint = load_checkpoint(full)
            if "optimizer" not in checkpoint and sharded is not None:
                raise UserError(f"{full} holds weights only (consolidated): resume the run with --parallelism=fsdp")
            check_resumable(checkpoint, full)
            return checkpoint
        if not self.sharded and sharded is not None:
            raise UserError(f"{self.out_dir} holds a sharded checkpoint ({sharded}): resume with --parallelism=fsdp")
        if self.sharded and full.is_file():
            raise UserError(f"{self.out_dir} holds {full}, not a sharded checkpoint: resume with --parallelism=ddp")
        if init_from == "resume":
            raise UserError(f"no checkpoint at {self.path}")
        return None

    def restore(self, checkpoint, parts):
        """Takes up what a found checkpoint holds into parts (every process); returns its step."""
        if self.sharded:
            with config_peaks_kept(parts.optimizer):
                load_sharded_checkpoint(checkpoint["sharded_path"], parts.model, parts.optimizer)
            own = process_state(checkpoint, self.run.rank)
        else:
            parts.model.load_state_dict(checkpoint["model"])
            load_optimizer_state(parts.optimizer, checkpoint["optimizer"], self.cfg)
            own = checkpoint  # rank 0's data position and RNG state: the position is every process' alike
        parts.scaler.load_state_dict(checkpoint["scaler"])
        saved_block_size, block_size = checkpoint["model_config"]["block_size"], parts.model.config.block_size
        if saved_block_size == block_size:
            parts.batches.load_state_dict(own["data"])
        elif self.run.is_master:  # a RoPE model continued at another length: its windows are another stream
            print(f"block_size {saved_block_size} -> {block_size}: the data stream starts from its beginning")
        set_rng_state(own["rng"])
        return checkpoint["step"]

    def reload(self, parts):
        """Takes up the checkpoint on disk again, as a resume would (a rollback); returns it."""
        checkpoint = self.find("resume")
        self.restore(checkpoint, parts)
        return checkpoint

    def save(self, step, parts, loss_average=None):
        """Writes parts' state as the checkpoint of step. Called on every process; the kind decides which write.
        A failed write raises a UserError on every process, and the previous checkpoint stays as it was."""
        state = {
            "model_config": asdict(parts.model.config),
            "train_config": asdict(self.cfg),
            "scaler": parts.scaler.state_dict(),
            "step": step,
            "tokenizer": parts.batches.tokenizer_name,
            "tokenizer_definition": parts.batches.tokenizer.definition,  # None for gpt2 and bytes
            "loss_average": loss_average,
        }
        own = {"data": parts.batches.state_dict(), "rng": rng_state()}  # this process' data position and RNG
        if self.sharded:
            save_sharded_checkpoint(self.out_dir, parts.model, parts.optimizer, state, own, self.run)
            return

        def write():
            weights = {"model": parts.model.state_dict(), "optimizer": parts.optimizer.state_dict()}
            save_checkpoint(self.path, {**weights, **state, **own})

        on_master(self.run, write, failure=f"rank 0 could not write the checkpoint of step {step} to {self.path}")
