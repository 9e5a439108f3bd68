"""A checkpoint is only written of a model that a resume trains from, a bad step stops the run (or, rolling back,
is reported), and the error names the step whose checkpoint is kept (issue 11, item 8; issue 18, items 6 and 7;
gptkit/checkpointing/checkpoint_guard.py)."""

import re
import shutil

import pytest
import torch

from conftest import assert_one_line_error, train, train_in_process
from gptkit.checkpointing.checkpoint import load_checkpoint, rng_state
from gptkit.checkpointing.checkpoint_guard import CheckpointGuard
from gptkit.checkpointing.training_checkpoint import TrainingCheckpoint, TrainingParts
from gptkit.config import TrainConfig
from gptkit.data.dataloader import ShardedBatches, validation_batches
from gptkit.data.shards import find_shards
from gptkit.distributed import Run
from gptkit.errors import UserError
from gptkit.training.metrics import read_metrics
from gptkit.training.optim import build_optimizer
from model import GPT, GPTConfig


def resumed_losses(out_dir, steps):
    """The losses and gradient norms of the last `steps` logged steps: the resumed run's lines."""
    return [r for r in read_metrics(out_dir / "metrics.jsonl") if "loss" in r][-steps:]


def assert_finite(records):
    assert all(torch.isfinite(torch.tensor([r["loss"], r["grad_norm"]])).all() for r in records), records


def test_exploding_run_keeps_a_finite_checkpoint_that_resumes(data_dir, tmp_path):
    out_dir = tmp_path / "out"
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
    train_in_process(*sane, data_dir=data_dir, out_dir=out_dir)
    resumed = resumed_losses(out_dir, 3)
    assert [r["step"] for r in resumed] == [kept_step + 1, kept_step + 2, kept_step + 3]
    assert_finite(resumed)


@pytest.fixture(scope="module")
def step_5_checkpoint(tmp_path_factory, data_dir):
    """out_dir of a good tiny run of 5 steps with a checkpoint at each."""
    out_dir = tmp_path_factory.mktemp("good") / "out"
    train_in_process("--max_iters=5", "--checkpoint_interval=1", data_dir=data_dir, out_dir=out_dir)
    return out_dir


# Before the fix, 1e4, 1e5 and 3e5 kept step 6's checkpoint on the 2-core dev machine, and a resume from it at 3e-3
# stopped at once (3e5: "gradient norm is nan at step 7", the words); 1e6 is the issue's own case, which
# kept such a checkpoint on another machine.
@pytest.mark.integration  # two whole runs each; the guard's own checks are the fast ones below
@pytest.mark.parametrize("exploding_lr", ["3e5", "1e6"])
def test_the_checkpoint_an_exploding_resume_keeps_trains_on(step_5_checkpoint, data_dir, tmp_path, exploding_lr):
    out_dir = tmp_path / "out"
    shutil.copytree(step_5_checkpoint, out_dir)
    exploding = (f"--learning_rate={exploding_lr}", "--checkpoint_interval=1", "--max_iters=30", "--init_from=resume")
    result = train(*exploding, data_dir=data_dir, out_dir=out_dir, check=False)
    assert_one_line_error(result, "stopping", "lower learning_rate?")
    kept_step = load_checkpoint(out_dir / "ckpt.pt")["step"]
    assert f"the checkpoint of step {kept_step} in" in result.stderr and kept_step >= 5
    sane = ("--learning_rate=3e-3", f"--max_iters={kept_step + 5}", "--init_from=resume")
    train_in_process(*sane, data_dir=data_dir, out_dir=out_dir)
    resumed = resumed_losses(out_dir, 5)
    assert [r["step"] for r in resumed] == list(range(kept_step + 1, kept_step + 6))
    assert_finite(resumed)


# ----------------------------------------------------------------------------------------------------------
# The guard on its own, with a 1-layer model that took one AdamW step


def tiny_guard(tmp_path, data_dir, saved_step=None, **settings):
    """(parts, guard) for out_dir tmp_path; saved_step: that of a checkpoint this run has (None: none)."""
    cfg = TrainConfig(out_dir=str(tmp_path), **settings)
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=8, vocab_size=257, n_layer=1, n_head=2, n_embd=16, dropout=0.1))
    optimizer = build_optimizer(model.named_parameters(), cfg, "cpu")
    batches = ShardedBatches(find_shards(data_dir, "train"), batch_size=2, block_size=8)
    model(*batches.next_batch())[1].backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    parts = TrainingParts(model, optimizer, torch.amp.GradScaler("cpu", enabled=False), batches)
    check_batch = next(validation_batches(find_shards(data_dir, "val"), 2, 8, num_batches=1))
    resumed = None if saved_step is None else {"step": saved_step}
    return parts, CheckpointGuard(TrainingCheckpoint(cfg, Run()), parts, Run(), check_batch, resumed)


def test_a_non_finite_gradient_norm_stops_unless_a_scaler_skips_it(tmp_path, data_dir):
    _, guard = tiny_guard(tmp_path, data_dir, saved_step=4)
    guard.check_step(5, loss=8e12, grad_norm=3.0, gradient_scaling=False)  # huge but finite: no objection
    with pytest.raises(UserError, match=r"gradient norm is nan at step 5: stopping; the checkpoint of step 4"):
        guard.check_step(5, loss=8e12, grad_norm=float("nan"), gradient_scaling=False)
    guard.check_step(5, loss=2.0, grad_norm=float("inf"), gradient_scaling=True)  # float16: the step is skipped
    with pytest.raises(UserError, match=r"loss is inf at step 5"):
        guard.check_step(5, loss=float("inf"), grad_norm=1.0, gradient_scaling=True)


DAMAGE = {
    "nan weight": (lambda parts: parts.model.lm_head.weight[0, 0].fill_(float("nan")), "non-finite weights"),
    "finite weights, infinite logits": (lambda parts: parts.model.lm_head.weight.fill_(1e38), "non-finite loss"),
    # The case: weights blown up so far that the loss is finite but the gradient norm overflows. Whether
    # an overflow happens depends on the CPU's kernels (this model's did on some machines only), so a hook makes
    # the gradient non-finite for certain.
    "finite loss, non-finite gradient": (
        lambda parts: parts.model.lm_head.weight.register_hook(lambda grad: grad * float("inf")),
        "a non-finite gradient norm on a validation batch",
    ),
    "nan optimizer state": (
        lambda parts: next(iter(parts.optimizer.state.values()))["exp_avg"].fill_(float("nan")),
        "a non-finite optimizer state",
    ),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_model_that_would_not_resume_is_never_saved(tmp_path, data_dir, damage):
    parts, guard = tiny_guard(tmp_path, data_dir)
    guard.check_step(1, loss=5.0, grad_norm=1.0, gradient_scaling=False, saving=True)
    guard.save(1)
    good = (tmp_path / "ckpt.pt").read_bytes()
    damage_it, reason = DAMAGE[damage]
    with torch.no_grad():
        damage_it(parts)
    with pytest.raises(UserError, match=rf"model after step 2 would not resume \(.*{reason}.*the checkpoint of step 1"):
        guard.check_step(2, loss=5.0, grad_norm=1.0, gradient_scaling=False, saving=True)
    with pytest.raises(RuntimeError, match="not checked"):
        guard.save(2)
    assert (tmp_path / "ckpt.pt").read_bytes() == good


def test_the_check_before_a_save_leaves_no_trace(tmp_path, data_dir):
    parts, guard = tiny_guard(tmp_path, data_dir)
    weights = {k: v.clone() for k, v in parts.model.state_dict().items()}
    rng = rng_state()
    guard.check_step(1, loss=5.0, grad_norm=1.0, gradient_scaling=False, saving=True)
    assert parts.model.training and all(p.grad is None for p in parts.model.parameters())
    assert all(torch.equal(v, weights[k]) for k, v in parts.model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng["torch"])


def test_a_loss_spike_is_judged_against_the_running_average(tmp_path, data_dir):
    _, guard = tiny_guard(tmp_path, data_dir, saved_step=2, loss_spike_factor=2.0)
    for step, loss in enumerate([5.0, 4.0, 3.5, 6.5], start=3):  # falling, then up but under 2x the average
        assert guard.check_step(step, loss, grad_norm=1.0, gradient_scaling=False) is None
    average = guard.loss_average
    assert average == pytest.approx(((5.0 * 0.9 + 0.4) * 0.9 + 0.35) * 0.9 + 0.65)  # each new loss weighs 0.1
    with pytest.raises(UserError, match=r"loss 9.9000 at step 7 is a spike \(over 2 x the running average"):
        guard.check_step(7, 9.9, grad_norm=1.0, gradient_scaling=False)
    assert guard.loss_average == average  # a spike is not averaged in


def test_rolling_back_reports_the_problem_while_a_checkpoint_and_rollbacks_are_left(tmp_path, data_dir):
    bad_step = dict(loss=float("nan"), grad_norm=1.0, gradient_scaling=False)
    _, guard = tiny_guard(tmp_path, data_dir, on_nonfinite="rollback", max_rollbacks=1)
    with pytest.raises(UserError, match="no checkpoint was written"):  # nothing to go back to
        guard.check_step(3, **bad_step)
    _, guard = tiny_guard(tmp_path, data_dir, saved_step=2, on_nonfinite="rollback", max_rollbacks=1)
    assert guard.check_step(3, **bad_step) == "loss is nan at step 3"
    guard.rollbacks = 1
    with pytest.raises(UserError, match="loss is nan at step 3: stopping after 1 rollbacks; the checkpoint of step 2"):
        guard.check_step(3, **bad_step)


@pytest.mark.parametrize(
    "settings,message",
    [
        (dict(on_nonfinite="retry"), "on_nonfinite must be one of stop, rollback, got 'retry'"),
        (dict(loss_spike_factor=0.5), "loss_spike_factor must be 0 (off) or above 1, got 0.5"),
        (dict(max_rollbacks=-1), "max_rollbacks must be >= 0, got -1"),
    ],
)
def test_bad_recovery_settings_are_refused(settings, message):
    with pytest.raises(UserError, match=re.escape(message)):
        TrainConfig(**settings)
