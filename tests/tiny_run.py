"""What the bad-input tests share: a tiny byte-level training run of train.py, and the checks every bad input
must pass (non-zero exit, exactly one line on stderr, no traceback, the files already there unchanged)."""

import os
import sys
from pathlib import Path

from conftest import run_script
from gptkit.corpus import embedded_documents, prepare_texts
from gptkit.run_lock import LOCK_NAME

TINY_RUN = [
    "--vocab_size=257",
    "--block_size=32",
    "--n_layer=2",
    "--n_head=2",
    "--n_embd=32",
    "--micro_batch_size=4",
    "--total_batch_tokens=256",
    "--learning_rate=3e-3",
    "--min_lr=3e-4",
    "--warmup_iters=2",
    "--lr_decay_iters=12",
    "--eval_interval=0",
    "--log_interval=1",
    "--checkpoint_interval=0",
    "--compile=False",
    "--device=cpu",
]
SINGLE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


def byte_shards(path, documents=20):
    prepare_texts(embedded_documents()[:documents], path, "bytes", workers=1)
    return path


def train(*args, data_dir, out_dir, launcher=(sys.executable,)):
    """train.py with the tiny model on data_dir, writing to out_dir; the CompletedProcess."""
    settings = [*TINY_RUN, f"--data_dir={data_dir}", f"--out_dir={out_dir}", *args]
    return run_script("train.py", *settings, launcher=launcher, env=SINGLE_THREAD)


def snapshot(*folders):
    """{path: bytes} of every file in the folders but the run lock (which names its latest holder), to show that
    a refused command changed nothing."""
    paths = (p for folder in folders for p in sorted(Path(folder).rglob("*")))
    return {p: p.read_bytes() for p in paths if p.is_file() and p.name != LOCK_NAME}


def assert_one_line_error(result, *expected):
    """A refused command: exit code 1, one line on stderr with no traceback, holding each expected text."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    for text in expected:
        assert text in lines[0], lines[0]
