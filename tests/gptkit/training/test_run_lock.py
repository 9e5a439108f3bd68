"""One run per out_dir: a second run stops at once naming the holder, the first finishes untouched, and a lock left
by a killed process never blocks (issue 11, item 9; gptkit/training/run_lock.py)."""

import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, SINGLE_THREAD, TINY_RUN, one_line_refusal, train_in_process
from gptkit.checkpointing.checkpoint import load_checkpoint
from gptkit.errors import UserError
from gptkit.training.metrics import read_metrics
from gptkit.training.run_lock import LOCK_NAME, RunLock


def wait_for_holder(out_dir, pid, timeout_s=120):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if (out_dir / LOCK_NAME).exists() and f"pid {pid} " in (out_dir / LOCK_NAME).read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} never took the lock")


def test_second_run_on_the_same_out_dir_is_refused(data_dir, tmp_path):
    out_dir = tmp_path / "out"
    endless = [*TINY_RUN, f"--data_dir={data_dir}", f"--out_dir={out_dir}", "--max_iters=1000000"]
    first = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *endless],
        cwd=ROOT,
        env=SINGLE_THREAD,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_holder(out_dir, first.pid)
    with one_line_refusal(rf"out_dir {out_dir} is in use by another run \(pid {first.pid} on "):
        train_in_process("--max_iters=5", data_dir=data_dir, out_dir=out_dir)  # refused as it takes the lock
    assert first.poll() is None  # refused at once, while the first still trains
    metrics = out_dir / "metrics.jsonl"
    while first.poll() is None and not (metrics.exists() and metrics.read_text().count("\n")):
        time.sleep(0.1)  # in the training loop, where SIGTERM is caught
    first.send_signal(signal.SIGTERM)  # the first ends as a preempted run does: a checkpoint, exit code 0
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    step = load_checkpoint(out_dir / "ckpt.pt")["step"]
    assert f"stopped by a signal at step {step}" in stdout
    assert [r["step"] for r in read_metrics(out_dir / "metrics.jsonl")] == list(range(1, step + 1))  # one run's


def test_lock_of_a_killed_process_does_not_block(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from gptkit.training.run_lock import RunLock; RunLock({str(tmp_path)!r}); input()"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
    )
    wait_for_holder(tmp_path, holder.pid)
    with pytest.raises(UserError, match=f"in use by another run \\(pid {holder.pid} on "):
        RunLock(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert f"pid {holder.pid}" in (tmp_path / LOCK_NAME).read_text()  # the file stays; the kernel dropped the lock
    lock = RunLock(tmp_path)
    lock.release()
