"""A checkpoint never holds non-finite weights or comes from a non-finite step, and the error names the step whose
checkpoint is kept (issue 11, item 8; gptkit/checkpoint_guard.py)."""

import re

import pytest
import torch

from conftest import assert_one_line_error, byte_shards, train
from gptkit.checkpoint import load_checkpoint, save_checkpoint
from gptkit.checkpoint_guard import CheckpointGuard
from gptkit.distributed import Run
from gptkit.errors import UserError
from gptkit.metrics import read_metrics
from model import GPT, GPTConfig


def test_exploding_run_keeps_a_finite_checkpoint_that_resumes(tmp_path):
    data_dir, out_dir = byte_shards(tmp_path / "data"), tmp_path / "out"
    exploding = ("--learning_rate=1e6", "--min_lr=1e6", "--checkpoint_interval=1", "--max_iters=30")
    result = train(*exploding, data_dir=data_dir, out_dir=out_dir, check=False)
    assert_one_line_error(result, "stopping", "lower learning_rate?")
    kept_step = int(re.search(r"the checkpoint of step (\d+) in \S+ckpt.pt is kept", result.stderr).group(1))
    kept = load_checkpoint(out_dir / "ckpt.pt")
    assert kept["step"] == kept_step
    for name, tensor in kept["model"].items():
        assert torch.isfinite(tensor).all(), name
    assert not (out_dir / "ckpt.pt.tmp").exists()

    sane = ("--learning_rate=3e-3", "--min_lr=3e-4", f"--max_iters={kept_step + 3}", "--init_from=resume")
    result = train(*sane, data_dir=data_dir, out_dir=out_dir, check=False)
    assert result.returncode == 0, result.stderr
    resumed = [r for r in read_metrics(out_dir / "metrics.jsonl") if "loss" in r][-3:]  # the resumed run's lines
    assert [r["step"] for r in resumed] == [kept_step + 1, kept_step + 2, kept_step + 3]
    assert all(torch.isfinite(torch.tensor([r["loss"], r["grad_norm"]])).all() for r in resumed)


def tiny_guard(tmp_path, saved_step=None):
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=8, vocab_size=32, n_layer=1, n_head=2, n_embd=16))
    batch = (torch.randint(0, 32, (2, 8)), torch.randint(0, 32, (2, 8)))
    return model, CheckpointGuard(tmp_path / "ckpt.pt", Run(), batch, saved_step)


def test_a_non_finite_gradient_norm_stops_unless_a_scaler_skips_it(tmp_path):
    _, guard = tiny_guard(tmp_path, saved_step=4)
    guard.check_step(5, loss=8e12, grad_norm=3.0, gradient_scaling=False)  # huge but finite: no objection
    with pytest.raises(UserError, match=r"gradient norm is nan at step 5: stopping; the checkpoint of step 4"):
        guard.check_step(5, loss=8e12, grad_norm=float("nan"), gradient_scaling=False)
    guard.check_step(5, loss=2.0, grad_norm=float("inf"), gradient_scaling=True)  # float16: the step is skipped
    with pytest.raises(UserError, match=r"loss is inf at step 5"):
        guard.check_step(5, loss=float("inf"), grad_norm=1.0, gradient_scaling=True)


@pytest.mark.parametrize("damage", ["nan weight", "finite weights, infinite logits"])
def test_bad_weights_are_never_saved(tmp_path, damage):
    model, guard = tiny_guard(tmp_path)
    state = {"model": model.state_dict(), "model_config": vars(model.config), "step": 1}
    guard.save(1, model, lambda: save_checkpoint(tmp_path / "ckpt.pt", state))
    good = (tmp_path / "ckpt.pt").read_bytes()
    with torch.no_grad():
        if damage == "nan weight":
            model.lm_head.weight[0, 0] = float("nan")
        else:
            model.lm_head.weight.fill_(1e38)  # every weight finite, the logits overflow
    assert all(torch.isfinite(p).all() for p in model.parameters()) == (damage != "nan weight")
    with pytest.raises(UserError, match=r"weights after step 2 .* the checkpoint of step 1 in .* is kept"):
        guard.save(2, model, lambda: save_checkpoint(tmp_path / "ckpt.pt", {**state, "step": 2}))
    assert (tmp_path / "ckpt.pt").read_bytes() == good
