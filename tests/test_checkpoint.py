import os
import pickle
from dataclasses import asdict

import pytest
import torch

from gptkit import checkpoint
from gptkit.checkpoint import load_checkpoint, save_checkpoint
from gptkit.errors import UserError
from model import GPT, GPTConfig, load_model


def small_checkpoint():
    model = GPT(GPTConfig(block_size=16, vocab_size=64, n_layer=1, n_head=2, n_embd=16))
    return model, {"model": model.state_dict(), "model_config": asdict(model.config), "step": 3}


def test_round_trip_gives_the_same_model(tmp_path):
    model, state = small_checkpoint()
    save_checkpoint(tmp_path / "ckpt.pt", state)
    loaded, tokenizer_name = load_model(tmp_path / "ckpt.pt")
    idx = torch.randint(0, 64, (1, 16))
    assert torch.equal(model.eval()(idx)[0], loaded(idx)[0]) and tokenizer_name == "gpt2"


def test_an_interrupted_save_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    _, state = small_checkpoint()
    save_checkpoint(tmp_path / "ckpt.pt", state)
    good = (tmp_path / "ckpt.pt").read_bytes()

    def dies_half_way(obj, path):
        with open(path, "wb") as f:
            f.write(good[: len(good) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "ckpt.pt", {**state, "step": 4})
    assert (tmp_path / "ckpt.pt").read_bytes() == good
    assert load_checkpoint(tmp_path / "ckpt.pt")["step"] == 3


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


def test_weights_that_do_not_fit_the_config_are_a_one_line_error(tmp_path):
    _, state = small_checkpoint()
    state["model_config"]["n_embd"] = 32
    save_checkpoint(tmp_path / "ckpt.pt", state)
    with pytest.raises(UserError, match="do not fit") as error:
        load_model(tmp_path / "ckpt.pt")
    assert "\n" not in str(error.value)
