"""
Sharded checkpoints of FSDP runs: the folder out_dir/ckpt, written by all processes in parallel with
torch.distributed.checkpoint (DCP) and readable by any number of processes.

    ckpt/.metadata, ckpt/__<rank>_0.distcp   model and AdamW state, each process writing its own shards
    ckpt/train_state.pt                      step, configs, scaler, tokenizer and every process' data position
                                             and RNG state (rank 0 writes it; read with weights_only=True)

A save becomes visible only once complete: every process writes into ckpt.tmp; when all have finished, rank 0
renames ckpt to ckpt.old, ckpt.tmp to ckpt, and deletes ckpt.old. A kill at any moment leaves ckpt complete or,
between the two renames, ckpt.old, and the reader takes ckpt, else ckpt.old (the tests interrupt a save at
each stage). A checkpoint written by N processes loads into M: DCP reshards the tensors, and the data position
counts windows of the one global stream (see process_state).

DCP reads its own metadata with pickle, so a sharded checkpoint is for resuming one's own runs. To share or
evaluate the weights, consolidate it into one ckpt.pt (python consolidate.py OUT_DIR), loaded with
weights_only=True like every other checkpoint.
"""

import contextlib
import os
import shutil
import warnings
from pathlib import Path

import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from gptkit.checkpointing.checkpoint import load_checkpoint, save_checkpoint, write_error_reason
from gptkit.distributed import all_gather_objects, barrier, on_master
from gptkit.errors import UserError

FOLDER = "ckpt"
STATE_FILE = "train_state.pt"


@contextlib.contextmanager
def single_process_quiet():
    """DCP warns at each save and load without a process group; one process is a supported case here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled, unavailable or uninitialized")
        yield


def sharded_checkpoint_path(out_dir):
    """The complete sharded checkpoint in out_dir: ckpt, or ckpt.old left by a save killed between its two
    renames; None if there is neither."""
    for name in (FOLDER, FOLDER + ".old"):
        path = Path(out_dir) / name
        if (path / STATE_FILE).is_file():
            return path
    return None


def save_sharded_checkpoint(out_dir, model, optimizer, state, own_state, run):
    """Called by every process: model and optimizer state into out_dir/ckpt, each process writing its shards,
    with `state` (plain data, rank 0's) and the list of every process' `own_state` (its data position and RNG
    state, which process_state gives back on resuming)."""
    out_dir = Path(out_dir)
    final, temporary, previous = (out_dir / (FOLDER + suffix) for suffix in ("", ".tmp", ".old"))
    if run.is_master:
        shutil.rmtree(temporary, ignore_errors=True)  # what a killed save left behind
    barrier(run.world_size)
    model_state, optimizer_state = get_state_dict(model, optimizer)
    try:
        with single_process_quiet():
            dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=temporary)
    except CheckpointException as e:  # raised on every process alike
        raise UserError(f"could not write the sharded checkpoint {temporary}: {first_failure(e)}") from None
    processes = all_gather_objects(own_state, run.world_size)

    def publish():  # rank 0, once dcp.save has returned: every process' shards and the metadata are written
        save_checkpoint(temporary / STATE_FILE, {**state, "processes": processes})
        try:
            if final.exists():
                shutil.rmtree(previous, ignore_errors=True)
                os.replace(final, previous)
            os.replace(temporary, final)
            shutil.rmtree(previous, ignore_errors=True)
        except OSError as e:
            raise UserError(f"could not put the sharded checkpoint in place at {final}: {e.strerror}") from None

    # every process waits for rank 0 here, and all stop together if it failed
    on_master(run, publish, failure=f"rank 0 could not write the sharded checkpoint {final}")


def first_failure(error):
    """The cause of a failed DCP save as the system names it: the first process' own exception (an OSError
    for a full disk), not DCP's report of every process' traceback."""
    failures = list(error.failures.values())
    return write_error_reason(failures[0][0]) if failures else str(error).strip()[:200]


def read_training_state(path):
    """The plain part of a sharded checkpoint (step, configs, scaler, tokenizer, processes), without tensors."""
    return load_checkpoint(Path(path) / STATE_FILE, required=("model_config", "step", "processes"))


def load_sharded_checkpoint(path, model, optimizer):
    """Called by every process: the model's and the optimizer's state, resharded to this run's processes."""
    model_state, optimizer_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optimizer": optimizer_state}
    with single_process_quiet():
        dcp.load(state, checkpoint_id=path)
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])


def process_state(training_state, rank):
    """This process' data position and RNG state from a checkpoint written by any number of processes.

    The data position is the same on every process: it counts windows of the global stream, and an optimizer
    step takes total_batch_tokens / block_size of them whatever the number of processes. So a run resumed on
    M processes reads the very windows the N-process run would have, each step's windows split differently
    between the processes; its losses equal the uninterrupted run's up to float rounding. The RNG state (dropout)
    is each process' own: taken over exactly when M == N; otherwise process r takes process r mod N's.
    """
    processes = training_state["processes"]
    return processes[rank % len(processes)]


def consolidate(path, output):
    """One ckpt.pt from sharded checkpoint `path`: weights, configs, step and tokenizer, for sample.py,
    hellaswag.py and GPT.from_checkpoint. Only the model's tensors are read (no optimizer state), in one
    process; the tensor shapes come from the checkpoint's own metadata."""
    state = read_training_state(path)
    metadata = dcp.FileSystemReader(path).read_metadata()
    model_state = {
        key.removeprefix("model."): torch.empty(item.size, dtype=item.properties.dtype)
        for key, item in metadata.state_dict_metadata.items()
        if key.startswith("model.")
    }
    with single_process_quiet():
        dcp.load({"model": model_state}, checkpoint_id=path)
    keep = ("model_config", "train_config", "step", "tokenizer", "tokenizer_definition")
    save_checkpoint(output, {"model": model_state, **{k: state[k] for k in keep if k in state}})
