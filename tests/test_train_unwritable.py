"""Unwritable output is a one-line error: out_dir checked at start-up before any work, and a checkpoint write that
fails (disk full, folder turned read-only) names the cause as the system does and leaves the previous checkpoint
intact and no temporary file (issue 11, item 10; issue 18, item 8). An out_dir refused at start-up is refused
as the run lock is taken, holding nothing: train.py's main runs in this process there."""

import errno
import os
import shutil
import subprocess
import sys

import pytest

from conftest import (
    ROOT,
    SINGLE_THREAD,
    TINY_RUN,
    assert_one_line_error,
    byte_shards,
    one_line_refusal,
    snapshot,
    train,
    train_in_process,
)
from gptkit.checkpointing.checkpoint import TRAINING_STATE, load_checkpoint

# train.py with torch.save failing from its second call on, as a full disk or a read-only folder makes its writes
# to the file it is given fail
FAILING_SAVE = """
import errno, os, runpy, sys, torch
real_save, calls, code = torch.save, [], getattr(errno, sys.argv.pop(1))
def failing_save(obj, f, *args, **kwargs):
    calls.append(f)
    if len(calls) < 2:
        return real_save(obj, f, *args, **kwargs)
    if code == errno.ENOSPC:
        f.write(b"PK" * 1000)
    raise OSError(code, os.strerror(code))
torch.save = failing_save
runpy.run_path("train.py", run_name="__main__")
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return byte_shards(tmp_path_factory.mktemp("data") / "docs", documents=3)


@pytest.mark.parametrize("code,reason", [("ENOSPC", "No space left on device"), ("EROFS", "Read-only file system")])
def test_failed_checkpoint_write_keeps_the_previous_one(data_dir, tmp_path, code, reason):
    args = [*TINY_RUN, f"--data_dir={data_dir}", f"--out_dir={tmp_path}", "--max_iters=4", "--checkpoint_interval=1"]
    result = subprocess.run(
        [sys.executable, "-c", FAILING_SAVE, code, *args], cwd=ROOT, env=SINGLE_THREAD, capture_output=True, text=True
    )
    path = tmp_path / "ckpt.pt"
    assert_one_line_error(result, f"could not write checkpoint {path}: {reason}; the checkpoint of step 1 in")
    assert load_checkpoint(path, required=("model", *TRAINING_STATE))["step"] == 1
    assert not (tmp_path / "ckpt.pt.tmp").exists()


def put_on_dev_full(temporary, parallelism):
    """The next save's temporary file on /dev/full, where every write fails with ENOSPC as on a full disk; for the
    sharded kind the temporary folder, a link to one whose shard file is /dev/full."""
    if parallelism == "ddp":
        temporary.symlink_to("/dev/full")
        return
    (temporary.parent / "full").mkdir()
    (temporary.parent / "full" / "__0_0.distcp").symlink_to("/dev/full")
    temporary.symlink_to(temporary.parent / "full")


@pytest.mark.parametrize(
    "parallelism,checkpoint,message",
    [
        ("ddp", "ckpt.pt", "could not write checkpoint {out_dir}/ckpt.pt: "),
        ("fsdp", "ckpt", "could not write the sharded checkpoint {out_dir}/ckpt.tmp: "),
    ],
)
def test_a_full_disk_is_named_as_the_system_names_it(data_dir, tmp_path, parallelism, checkpoint, message):
    train_in_process("--max_iters=2", f"--parallelism={parallelism}", data_dir=data_dir, out_dir=tmp_path)
    saved = lambda: snapshot(tmp_path / checkpoint) if parallelism == "fsdp" else (tmp_path / checkpoint).read_bytes()
    before = saved()
    temporary = tmp_path / f"{checkpoint}.tmp"
    put_on_dev_full(temporary, parallelism)
    resumed = ("--max_iters=4", "--init_from=resume", f"--parallelism={parallelism}")
    result = train(*resumed, data_dir=data_dir, out_dir=tmp_path, check=False)
    kept = f"the checkpoint of step 2 in {tmp_path / checkpoint} is kept"
    assert_one_line_error(result, message.format(out_dir=tmp_path) + f"No space left on device; {kept}")
    assert saved() == before
    assert parallelism == "fsdp" or not os.path.lexists(temporary)  # a sharded save's is cleared by the next one


def test_out_dir_below_a_file(data_dir, tmp_path):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    before = snapshot(tmp_path)
    with one_line_refusal(f"cannot write to out_dir {tmp_path / 'notes.txt' / 'out'}: Not a directory"):
        train_in_process("--max_iters=2", data_dir=data_dir, out_dir=tmp_path / "notes.txt" / "out")
    assert snapshot(tmp_path) == before


def mount_tmpfs(path, options):
    """A small tmpfs at path (needs root); skips the test where mounting is not allowed."""
    path.mkdir(exist_ok=True)
    command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)]
    if os.geteuid() != 0 or not shutil.which("mount") or subprocess.run(command).returncode:
        pytest.skip("mounting a tmpfs needs root")


def test_read_only_out_dir(data_dir, tmp_path):
    folder = tmp_path / "read_only"
    mount_tmpfs(folder, "size=1m,ro")
    try:
        with one_line_refusal(f"cannot write to out_dir {folder}: Read-only file system"):
            train_in_process("--max_iters=2", data_dir=data_dir, out_dir=folder)
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_disk_full_from_the_start_and_at_a_checkpoint(data_dir, tmp_path):
    folder = tmp_path / "small_disk"
    mount_tmpfs(folder, "size=600k")  # a checkpoint of the tiny model is 450 KB: the second one does not fit
    try:
        result = train("--max_iters=3", "--checkpoint_interval=1", data_dir=data_dir, out_dir=folder, check=False)
        full = f"could not write checkpoint {folder / 'ckpt.pt'}: No space left on device; the checkpoint of step 1"
        assert_one_line_error(result, full)
        assert load_checkpoint(folder / "ckpt.pt", required=("model", *TRAINING_STATE))["step"] == 1
        assert sorted(p.name for p in folder.iterdir()) == [".lock", "ckpt.pt", "config.json", "metrics.jsonl"]
        with open(folder / "filler", "wb") as filler:  # fill the disk up
            with pytest.raises(OSError) as full:
                filler.write(b"\0" * 1_000_000)
                filler.flush()
        assert full.value.errno == errno.ENOSPC
        with one_line_refusal(f"cannot write to out_dir {folder / 'new_run'}: No space left on device"):
            train_in_process("--max_iters=3", data_dir=data_dir, out_dir=folder / "new_run")
    finally:
        subprocess.run(["umount", str(folder)], check=True)
