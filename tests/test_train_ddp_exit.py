"""A finished 2-process gloo run exits cleanly every time (issue 11, item 12): exit code 0 from torchrun and no
`terminate called` / SIGABRT from a rank tearing down the process group while the other still uses it.

A repeat loop, so marked slow: `pytest -m slow tests/test_train_ddp_exit.py -s` (DDP_EXIT_REPEATS sets the
count, 100 by default; about 20 s a run on a loaded 2-core machine)."""

import os
import sys
import time

import pytest

from conftest import byte_shards, train

REPEATS = int(os.environ.get("DDP_EXIT_REPEATS", "100"))
TORCHRUN = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")


@pytest.mark.slow
def test_two_process_runs_exit_cleanly(tmp_path):
    data_dir = byte_shards(tmp_path / "data", documents=2)
    failures, start = [], time.time()
    for attempt in range(REPEATS):
        out_dir = tmp_path / f"run{attempt}"
        result = train("--max_iters=2", data_dir=data_dir, out_dir=out_dir, launcher=TORCHRUN, check=False)
        if result.returncode != 0 or "terminate called" in result.stderr or not (out_dir / "ckpt.pt").exists():
            failures.append((attempt, result.returncode, result.stderr[-2000:]))
    print(f"\n{REPEATS} two-process runs: {len(failures)} unclean exits in {time.time() - start:.0f} s")
    assert not failures, failures[:3]
