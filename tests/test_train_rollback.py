"""train.py with on_nonfinite="rollback" (issue 18, item 7): a run made to blow up at a chosen step goes back to
its last checkpoint, skips the batches read since, logs the data position it skipped to, and ends with finite
losses; with no rollback left or no checkpoint yet it stops as on_nonfinite="stop" does; two processes (DDP
and FSDP) take the same decisions and log the losses of one process.

The blow-up is injected by a wrapper of train.py (BLOW_UP below, test code only): before the training step of
the chosen calls it multiplies every weight, on one rank, by nan (a non-finite loss) or by 20 (a loss spike)."""

import math
import sys

import pytest

from conftest import ROOT, assert_one_line_error, losses, train
from gptkit.checkpointing.checkpoint import load_checkpoint
from gptkit.data.dataloader import ShardedBatches
from gptkit.data.shards import find_shards
from gptkit.training.metrics import read_metrics

# python blow_up_train.py train.py --blow_up_at=5,9 --blow_up_factor=nan --blow_up_rank=1 FLAGS (as run_script
# calls it): train.py's FLAGS, with every weight multiplied by the factor before the training step of those calls
BLOW_UP = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import torch
import train
from gptkit.errors import run_main

own = dict(flag[len("--blow_up_"):].split("=") for flag in sys.argv[2:] if flag.startswith("--blow_up_"))
flags = [flag for flag in sys.argv[2:] if not flag.startswith("--blow_up_")]
at, factor, rank = [int(call) for call in own["at"].split(",")], float(own["factor"]), int(own["rank"])
calls, real_train_step = [], train.train_step

def blowing_up(model, optimizer, scaler, batches, grad_accum_steps, cfg, run):
    calls.append(None)
    if len(calls) in at and run.rank == rank:
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(factor)
    return real_train_step(model, optimizer, scaler, batches, grad_accum_steps, cfg, run)

train.train_step = blowing_up
run_main(train.main, flags)
"""

TORCHRUN = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
# 10 steps of 2 micro-batches of 4 windows (1 process; 2 processes: 1 each), a checkpoint every 3 steps
RUN = ("--max_iters=10", "--lr_decay_iters=10", "--checkpoint_interval=3")
ROLLBACK = ("--on_nonfinite=rollback", "--loss_spike_factor=2")
WINDOWS_PER_STEP = 8


@pytest.fixture
def blow_up(tmp_path):
    """blow_up(*flags, at="5", factor="nan", rank=0, ...): train.py through BLOW_UP, with RUN and flags."""
    script = tmp_path / "blow_up_train.py"
    script.write_text(BLOW_UP)

    def run(*flags, at, factor="nan", rank=0, launcher=(sys.executable,), out_dir=tmp_path / "out", **kwargs):
        injection = (f"--blow_up_at={at}", f"--blow_up_factor={factor}", f"--blow_up_rank={rank}")
        return train(*RUN, *flags, *injection, launcher=(*launcher, str(script)), out_dir=out_dir, **kwargs)

    return run


def data_position(data_dir, steps):
    """The data position after `steps` steps, from a loader of its own: the global stream's windows."""
    batches = ShardedBatches(find_shards(data_dir, "train"), batch_size=WINDOWS_PER_STEP, block_size=32, seed=1337)
    for _ in range(steps):
        batches.next_batch()
    state = batches.state_dict()
    return {key: state[key] for key in ("epoch", "shard_position", "window_position")}


def rollbacks(out_dir):
    return [r for r in read_metrics(out_dir / "metrics.jsonl") if "rolled_back_to" in r]


@pytest.mark.parametrize(
    "factor,problem", [("nan", "loss is nan at step 5"), ("20", "at step 5 is a spike (over 2 x the running average")]
)
def test_a_blow_up_rolls_back_skips_the_batches_and_trains_on(blow_up, data_dir, tmp_path, factor, problem):
    result = blow_up(*ROLLBACK, at=5, factor=factor, data_dir=data_dir)
    out_dir = tmp_path / "out"
    (record,) = rollbacks(out_dir)
    assert record["step"] == 5 and record["rolled_back_to"] == 3 and problem in record["problem"]
    assert record["data_position"] == data_position(data_dir, steps=5)  # past the batches of steps 4 and 5
    assert "rolled back to the checkpoint of step 3, skipping the batches of steps 4-5" in result.stdout
    logged = losses(out_dir)  # the latest loss logged for each step: after the rollback for steps 4 and 5
    assert sorted(logged) == list(range(1, 11)) and all(math.isfinite(loss) for loss in logged.values())
    assert logged[10] < logged[1]
    final = load_checkpoint(out_dir / "ckpt.pt")  # 12 steps' batches read for 10 steps: 2 skipped
    assert final["step"] == 10 and final["data"]["window_position"] == data_position(data_dir, 12)["window_position"]


@pytest.mark.parametrize(
    "flags,at,message",
    [
        (("--on_nonfinite=rollback", "--max_rollbacks=0"), "5", "loss is nan at step 5: stopping; the checkpoint of"),
        (("--on_nonfinite=rollback", "--max_rollbacks=1"), "5,9", "loss is nan at step 7: stopping after 1 rollbacks"),
        (("--on_nonfinite=rollback",), "2", "loss is nan at step 2: stopping; no checkpoint was written"),
    ],
)
def test_with_no_rollback_left_or_no_checkpoint_the_run_stops_as_with_stop(blow_up, data_dir, flags, at, message):
    result = blow_up(*flags, at=at, data_dir=data_dir, check=False)
    assert_one_line_error(result, message)
    if at == "5":  # the very line on_nonfinite="stop" gives
        stopped = blow_up("--on_nonfinite=stop", at=at, data_dir=data_dir, check=False)
        assert stopped.returncode == 1 and stopped.stderr == result.stderr


@pytest.mark.integration
@pytest.mark.parametrize("parallelism", ["ddp", "fsdp"])
def test_two_processes_roll_back_together_and_log_what_one_process_logs(blow_up, data_dir, tmp_path, parallelism):
    # the weights blown up on rank 1 only: the loss averaged over both is nan, and both roll back
    blow_up(*ROLLBACK, at=5, data_dir=data_dir, out_dir=tmp_path / "one")
    two = tmp_path / "two"
    blow_up(*ROLLBACK, f"--parallelism={parallelism}", at=5, rank=1, launcher=TORCHRUN, data_dir=data_dir, out_dir=two)
    assert rollbacks(two) == rollbacks(tmp_path / "one")
    one_losses, two_losses = losses(tmp_path / "one"), losses(two)
    assert sorted(one_losses) == sorted(two_losses) == list(range(1, 11))
    for step, loss in one_losses.items():
        assert two_losses[step] == pytest.approx(loss, abs=1e-5), step
