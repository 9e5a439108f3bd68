"""
Checkpoints: written atomically, read with weights_only=True (a checkpoint from the internet cannot run code).

A checkpoint is a dict of plain data and tensors: model and optimizer state, configs as dicts, step, data
loader position and RNG states. It is written to a temporary file and renamed over the old one, so an
interrupted save never replaces the last good checkpoint with half a file.
"""

import contextlib
import os
import pickle
import random
from pathlib import Path

import torch

from gptkit.errors import UserError

# What a checkpoint needs beyond model and model_config to continue training where it stopped.
TRAINING_STATE = ("optimizer", "scaler", "step", "data", "rng")


def save_checkpoint(path, checkpoint):
    """Writes checkpoint to path, or raises a UserError that gives the system's reason ("No space left on
    device"), leaving the old file as it was and no temporary file behind."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    try:
        # through a file we opened: a failed write is an OSError with its errno, where torch.save given a path
        # reports "[enforce fail at inline_container.cc ...]" instead
        with open(temporary, "wb") as f:
            torch.save(checkpoint, f)
        os.replace(temporary, path)
    except (OSError, RuntimeError) as e:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise UserError(f"could not write checkpoint {path}: {write_error_reason(e)}") from None


def write_error_reason(error):
    """A failed write's cause as the system names it (No space left on device, Read-only file system): the
    OSError in error's chain. torch.save's clean-up after a failed write can raise an "[enforce fail at
    inline_container.cc ...] unexpected pos" of its own, with the OSError as its context."""
    cause = error
    while cause is not None and not (isinstance(cause, OSError) and cause.strerror):
        cause = cause.__cause__ or cause.__context__
    return cause.strerror if cause is not None else f"{str(error).strip()[:200]} (is the disk full?)"


def load_checkpoint(path, required=("model", "model_config"), mmap=False):
    """The checkpoint at path, holding at least the required keys. mmap=True maps the tensors instead of
    reading them, for a caller that needs only the small entries (the step)."""
    path = Path(path)
    if path.is_dir():  # an FSDP run's sharded checkpoint folder, given where a file is needed
        raise UserError(f"{path} is a folder; for a sharded checkpoint run: python consolidate.py {path.parent}")
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path} is not a readable checkpoint: {reason[:200]}") from None
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in required):
        raise UserError(f"{path} is not a checkpoint of this repository (no {' or '.join(required)})")
    return checkpoint


def check_resumable(checkpoint, path):
    """A checkpoint to resume must also hold the TRAINING_STATE, not only the weights."""
    missing = [key for key in TRAINING_STATE if key not in checkpoint]
    if missing:
        raise UserError(
            f"{path} holds model weights but no training state to resume ({', '.join(missing)} missing); "
            "it can be sampled and evaluated, not resumed"
        )


def rng_state():
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state):
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
