"""
One run per out_dir: the process that writes the checkpoints holds an exclusive lock on out_dir/.lock.

A second run on the same out_dir (a second scratch run, or a resume while the first still trains) stops at once
with a one-line error naming the holder (pid and host, written into the lock file). The lock is an flock: the
kernel drops it when its process dies, however it dies, so a lock file left by a killed run never blocks the
resume. Taking the lock is also the start-up check that out_dir can be created and written.
"""

import fcntl
import os
import socket
from pathlib import Path

from gptkit.distributed import on_master
from gptkit.errors import UserError

LOCK_NAME = ".lock"


class RunLock:
    def __init__(self, out_dir):
        self.path = Path(out_dir) / LOCK_NAME
        try:  # a plain file descriptor: unbuffered, so a failed write fails here and not again at close
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise UserError(f"cannot write to out_dir {out_dir}: {e.strerror}") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self.fd, 200).decode(errors="replace").strip() or "another process"
            self.release()
            raise UserError(
                f"out_dir {out_dir} is in use by another run ({holder}); wait for it to end or choose another out_dir"
            ) from None
        try:  # who holds it, for the error above; writing it also proves that out_dir takes new data
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
            os.fsync(self.fd)
        except OSError as e:
            self.release()
            raise UserError(f"cannot write to out_dir {out_dir}: {e.strerror}") from None

    @classmethod
    def for_run(cls, out_dir, run):
        """The lock, taken by the master process (the one that writes); None on the others. If the master cannot
        take it, every process stops."""
        return on_master(run, lambda: cls(out_dir), failure=f"out_dir {out_dir} could not be locked (see rank 0)")

    def release(self):
        """Unlocks (closing the file is what releases an flock); the file stays, a later run reuses it."""
        os.close(self.fd)
