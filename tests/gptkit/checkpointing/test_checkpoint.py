import errno
import os
import pickle
import random

import pytest
import torch

from conftest import small_checkpoint
from gptkit.checkpointing import checkpoint
from gptkit.checkpointing.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    write_error_reason,
)
from gptkit.errors import UserError
from model import load_model


def test_round_trip_gives_the_same_model(tmp_path):
    model, state = small_checkpoint()
    save_checkpoint(tmp_path / "ckpt.pt", state)
    loaded, tokenizer = load_model(tmp_path / "ckpt.pt")
    idx = torch.randint(0, 64, (1, 16))
    assert torch.equal(model.eval()(idx)[0], loaded(idx)[0]) and tokenizer.name == "gpt2"  # older ones: GPT-2


def test_an_interrupted_save_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    _, state = small_checkpoint()
    save_checkpoint(tmp_path / "ckpt.pt", state)
    good = (tmp_path / "ckpt.pt").read_bytes()

    def dies_half_way(obj, f):
        f.write(good[: len(good) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "ckpt.pt", {**state, "step": 4})
    assert (tmp_path / "ckpt.pt").read_bytes() == good
    assert load_checkpoint(tmp_path / "ckpt.pt")["step"] == 3


def test_a_full_disk_is_named_as_the_system_names_it(tmp_path):
    _, state = small_checkpoint()
    save_checkpoint(tmp_path / "ckpt.pt", state)
    good = (tmp_path / "ckpt.pt").read_bytes()
    (tmp_path / "ckpt.pt.tmp").symlink_to("/dev/full")  # every write fails there with ENOSPC, as on a full disk
    with pytest.raises(UserError) as error:
        save_checkpoint(tmp_path / "ckpt.pt", {**state, "step": 4})
    assert str(error.value) == f"could not write checkpoint {tmp_path / 'ckpt.pt'}: No space left on device"
    assert (tmp_path / "ckpt.pt").read_bytes() == good and not os.path.lexists(tmp_path / "ckpt.pt.tmp")


def test_the_system_error_behind_torchs_own_is_the_reason():
    # a write that fails half-way (a disk that fills up during the save): torch.save's clean-up then fails with
    # an error of its own, raised while the OSError is handled (as on a small tmpfs: tests/test_train_unwritable.py)
    torch_error = "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"
    try:
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            raise RuntimeError(torch_error)  # noqa: B904
    except RuntimeError as e:
        assert write_error_reason(e) == "No space left on device"
    assert write_error_reason(RuntimeError(torch_error)) == f"{torch_error} (is the disk full?)"


class RunsCodeWhenUnpickled:
    def __reduce__(self):
        return (os.mkdir, ("/tmp/a-checkpoint-ran-code",))


def test_a_checkpoint_cannot_run_code(tmp_path):
    if os.path.exists("/tmp/a-checkpoint-ran-code"):
        os.rmdir("/tmp/a-checkpoint-ran-code")
    _, state = small_checkpoint()
    torch.save({**state, "payload": RunsCodeWhenUnpickled()}, tmp_path / "evil.pt", pickle_module=pickle)
    with pytest.raises(UserError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not os.path.exists("/tmp/a-checkpoint-ran-code")


def test_missing_and_foreign_files_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "ckpt.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not a checkpoint of this repository"):
        load_checkpoint(tmp_path / "other.pt")


def test_saved_rng_state_replays_the_same_draws(tmp_path):
    random.seed(1)
    torch.manual_seed(1)
    save_checkpoint(tmp_path / "ckpt.pt", {"model": {}, "model_config": {}, "rng": rng_state()})
    draws = (random.random(), torch.rand(4))
    random.seed(2)
    torch.manual_seed(2)
    set_rng_state(load_checkpoint(tmp_path / "ckpt.pt")["rng"])  # through a file: weights_only must take it
    again = (random.random(), torch.rand(4))
    assert draws[0] == again[0] and torch.equal(draws[1], again[1])
