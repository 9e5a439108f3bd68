"""torchrun's automatic restart, as a user runs it (issue 18, item 9): under `torchrun --max-restarts=1` a worker
SIGKILLed once the first checkpoint exists makes torchrun restart both, and the restarted round resumes from the
checkpoint (init_from="auto") and ends on the uninterrupted run's last loss. DDP and FSDP; rank 1 and rank 0 are
killed in turn (rank 0 holds the run lock and, under DDP, writes the checkpoint).

A repeat loop, so marked slow: `pytest -m slow tests/test_train_elastic.py -s` (ELASTIC_REPEATS sets the count,
20 by default; 40-60 s a run on a loaded 2-core machine). The fast check of a restarted round is in
tests/gptkit/test_distributed.py."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from subprocess import PIPE

import pytest

from conftest import ROOT, SINGLE_THREAD, TINY_RUN, losses, torchrun_output, torchrun_workers, train

REPEATS = int(os.environ.get("ELASTIC_REPEATS", "20"))
TORCHRUN = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
STEPS = 24  # a checkpoint every 2 steps: the kill lands while the run still has many steps to go
SETTINGS = ("--micro_batch_size=2", f"--max_iters={STEPS}", "--checkpoint_interval=2", "--init_from=auto")
FIRST_CHECKPOINT = {"ddp": "ckpt.pt", "fsdp": "ckpt/train_state.pt"}  # fsdp: the file a finished save writes last

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the workers through /proc (Linux)"),
]


def killed_and_restarted(out_dir, data_dir, parallelism, rank):
    """A torchrun run whose worker of `rank` is SIGKILLed after the first checkpoint: (problem or None, stdout)."""
    flags = [*TINY_RUN, *SETTINGS, f"--parallelism={parallelism}", f"--data_dir={data_dir}", f"--out_dir={out_dir}"]
    command = [*TORCHRUN, "--max-restarts=1", str(ROOT / "train.py"), *flags]
    process = subprocess.Popen(command, cwd=ROOT, env=SINGLE_THREAD, stdout=PIPE, stderr=PIPE, text=True)
    checkpoint = out_dir / FIRST_CHECKPOINT[parallelism]
    deadline = time.time() + 300
    while not checkpoint.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    workers = torchrun_workers(process.pid) if process.poll() is None else {}  # none: it failed before the checkpoint
    if rank in workers:
        os.kill(workers[rank], signal.SIGKILL)
    stdout, stderr, hung = torchrun_output(process, timeout=300)
    if hung:
        return "hung", stdout
    if process.returncode != 0:  # the last error a worker raised (torchrun's own summary follows it)
        errors = [line for line in stderr.splitlines() if "Error: " in line and "ChildFailedError" not in line]
        return f"exit code {process.returncode}: {errors[-1] if errors else stderr[-1500:]}", stdout
    if "resuming from step" not in stdout:
        return "the workers were not restarted", stdout
    return None, stdout


@pytest.mark.parametrize("parallelism", ["ddp", "fsdp"])
def test_killed_worker_is_restarted_and_the_run_ends_like_an_uninterrupted_one(data_dir, tmp_path, parallelism):
    reference = tmp_path / "reference"
    train(*SETTINGS, f"--parallelism={parallelism}", data_dir=data_dir, out_dir=reference, launcher=TORCHRUN)
    last_loss = losses(reference)[STEPS]
    failures, start = [], time.time()
    for attempt in range(REPEATS):
        out_dir, rank, attempt_start = tmp_path / f"run{attempt}", attempt % 2, time.time()
        problem, stdout = killed_and_restarted(out_dir, data_dir, parallelism, rank)
        if problem is None and losses(out_dir).get(STEPS) != pytest.approx(last_loss, abs=1e-6):
            problem = f"step {STEPS} loss {losses(out_dir).get(STEPS)} != {last_loss}"
        if problem is not None:
            failures.append((attempt, rank, problem))
        outcome = problem or next(line for line in stdout.splitlines() if line.startswith("resuming from step"))
        print(f"{parallelism} run {attempt}, rank {rank} killed: {outcome} ({time.time() - attempt_start:.0f} s)")
    finished, wall_s = REPEATS - len(failures), time.time() - start
    print(f"\n{parallelism}: {finished}/{REPEATS} restarted runs ended like the uninterrupted one in {wall_s:.0f} s")
    assert not failures, failures[:3]
