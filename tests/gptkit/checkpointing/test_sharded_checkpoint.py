import signal
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from gptkit.checkpointing.checkpoint import load_checkpoint
from gptkit.checkpointing.sharded_checkpoint import (
    consolidate,
    load_sharded_checkpoint,
    process_state,
    read_training_state,
    save_sharded_checkpoint,
    sharded_checkpoint_path,
)
from gptkit.distributed import Run
from gptkit.errors import UserError
from model import GPT, GPTConfig

CONFIG = dict(vocab_size=64, block_size=16, n_layer=2, n_head=2, n_embd=16)


def model_and_optimizer(fill):
    """A GPT and AdamW (with state) whose every weight and moment is `fill`: which save it came from shows."""
    model = GPT(GPTConfig(**CONFIG))
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long))[1].backward()
    optimizer.step()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(fill)
            optimizer.state[p]["exp_avg"].fill_(fill)
    return model, optimizer


def save(out_dir, step):
    model, optimizer = model_and_optimizer(step)
    state = {"model_config": CONFIG, "train_config": {}, "step": step, "tokenizer": "bytes"}
    save_sharded_checkpoint(out_dir, model, optimizer, state, {"data": {"epoch": step}, "rng": None}, Run())


def loaded_step(out_dir):
    """The step of the checkpoint a resume would take, after checking its weights and moments are that step's."""
    path = sharded_checkpoint_path(out_dir)
    step = read_training_state(path)["step"]
    model, optimizer = model_and_optimizer(-1)
    load_sharded_checkpoint(path, model, optimizer)
    for p in model.parameters():
        assert (p == step).all() and (optimizer.state[p]["exp_avg"] == step).all()
    return step


def test_save_and_load_restore_weights_moments_and_plain_state(tmp_path):
    save(tmp_path, 1)
    save(tmp_path, 2)  # replaces the first, leaving no temporary folders
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert loaded_step(tmp_path) == 2
    state = read_training_state(tmp_path / "ckpt")
    assert process_state(state, 0) == {"data": {"epoch": 2}, "rng": None}
    assert process_state(state, 3) == process_state(state, 0)  # a larger run reuses the writers' states


# A save killed (SIGKILL, no cleanup) at each stage: after the shards are written, between the two renames,
# and while deleting the previous checkpoint.
KILLED_SAVE = """
import os, shutil, signal, sys
from pathlib import Path
import gptkit.checkpointing.sharded_checkpoint as sharded
sys.path[:0] = ["tests", "tests/gptkit/checkpointing"]  # this file, and the conftest it imports
from test_sharded_checkpoint import save

out_dir, stage = Path(sys.argv[1]), sys.argv[2]
save(out_dir, 1)
die = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
replace, rmtree = os.replace, shutil.rmtree
if stage == "shards written":
    sharded.save_checkpoint = die
if stage == "between renames":
    os.replace = lambda src, dst: die() if Path(src).name == "ckpt.tmp" else replace(src, dst)
if stage == "deleting the previous":
    swapped = lambda: not (out_dir / "ckpt.tmp").exists()
    shutil.rmtree = lambda path, **kw: die() if Path(path).name == "ckpt.old" and swapped() else rmtree(path, **kw)
save(out_dir, 2)
"""


@pytest.mark.parametrize(
    "stage,survivor", [("shards written", 1), ("between renames", 1), ("deleting the previous", 2)]
)
def test_a_save_killed_at_any_stage_leaves_a_complete_checkpoint(tmp_path, stage, survivor):
    result = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(tmp_path), stage], cwd=ROOT, capture_output=True)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()[-2000:]
    assert loaded_step(tmp_path) == survivor
    save(tmp_path, 3)  # the next save clears what the killed one left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"] and loaded_step(tmp_path) == 3


def test_consolidated_checkpoint_holds_the_weights_and_loads_safely(tmp_path):
    save(tmp_path, 5)
    consolidate(tmp_path / "ckpt", tmp_path / "ckpt.pt")
    checkpoint = load_checkpoint(tmp_path / "ckpt.pt")  # weights_only=True
    assert checkpoint["step"] == 5 and "optimizer" not in checkpoint
    model = GPT.from_checkpoint(checkpoint)
    assert all((p == 5).all() for p in model.parameters())
    assert sorted(checkpoint["model"]) == sorted(GPT(GPTConfig(**CONFIG)).state_dict())


def test_a_sharded_folder_given_as_a_checkpoint_file_points_to_consolidate(tmp_path):
    save(tmp_path, 1)
    with pytest.raises(UserError, match=f"python consolidate.py {tmp_path}$"):
        load_checkpoint(tmp_path / "ckpt")


def test_a_full_disk_is_named_and_the_previous_checkpoint_kept(tmp_path):
    save(tmp_path, 1)
    # the folder the next save writes into, its shard file on /dev/full, where every write fails with ENOSPC
    # (a symbolic link to a folder: the save's clearing of a killed save's leftovers leaves it in place)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "__0_0.distcp").symlink_to("/dev/full")
    (tmp_path / "ckpt.tmp").symlink_to(tmp_path / "full")
    with pytest.raises(UserError) as error:
        save(tmp_path, 2)
    assert str(error.value) == f"could not write the sharded checkpoint {tmp_path}/ckpt.tmp: No space left on device"
    assert loaded_step(tmp_path) == 1
