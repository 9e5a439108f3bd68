"""
Training a study's runs one after the other, each a train.py run in its own folder with --init_from=auto, so the
same command carries a study through preemptions: a finished run is skipped, an interrupted one continues from
its checkpoint.

SIGTERM or Ctrl-C reaches the running train.py once: it saves and stops, and so does the study (exit code 128 +
the signal). A failed run stops the study naming it; with keep_going the next one starts and the failed runs are
named at the end. train_command is exactly what runs, so `study.py commands` prints it for a scheduler.

The invariant the tests check: the commands run are the commands printed, and a study stopped by a signal (or
killed with its run) and started again ends with the losses of an uninterrupted study without retraining a
finished run.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

from gptkit.errors import UserError
from gptkit.study.runs import read_run
from gptkit.training.micro_batch import gradient_accumulation_steps

COMMANDS_FOLDER = Path(__file__).resolve().parents[2]  # the repository's root: train.py, evaluate.py


def python_command(script, nproc_per_node):
    """This Python running one of the repository's commands (train.py, evaluate.py), under torchrun (as a
    module of this torch) for more than one process."""
    torchrun = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc_per_node}"]
    return [sys.executable, *(torchrun if nproc_per_node > 1 else []), os.path.relpath(COMMANDS_FOLDER / script)]


def train_command(run, nproc_per_node):
    """The command that trains a run: train.py with the run's arguments."""
    return [*python_command("train.py", nproc_per_node), *run.train_arguments()]


def check_processes(study, nproc_per_node):
    """Each run's batch splits over the processes as train.py will need, checked before any run starts."""
    for run in study.runs:
        micro_batch_size = run.train_config.micro_batch_size
        if micro_batch_size != "auto":
            try:
                gradient_accumulation_steps(
                    run.train_config, micro_batch_size, run.model_config.block_size, nproc_per_node
                )
            except UserError as e:
                raise UserError(f"run {run.name}: {e}") from None


class RunLauncher:
    """Starts one train.py at a time. SIGTERM or Ctrl-C is passed to it once (it saves a checkpoint and stops),
    and the study stops after it; the run has its own session, so a terminal's Ctrl-C does not reach it twice."""

    def __init__(self):
        self.child, self.signal = None, None
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame):
        self.signal = signum
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)  # a second signal, passed on too, ends the run at once

    def run(self, command):
        self.child = subprocess.Popen(command, start_new_session=True)
        code = self.child.wait()
        self.child = None
        return code


def run_study(study, nproc_per_node, keep_going):
    """Trains every run not yet finished, in the study's order."""
    launcher, failed = RunLauncher(), []
    for run in study.runs:
        facts = read_run(run)
        if facts.finished:
            print(f"study {study.name}: {run.name} finished at step {facts.step}, skipped", flush=True)
            continue
        if launcher.signal is None:
            print(f"study {study.name}: {run.name} ({facts.state}): training", flush=True)
            code = launcher.run(train_command(run, nproc_per_node))
        if launcher.signal is not None:
            name = signal.Signals(launcher.signal).name
            print(
                f"study {study.name}: stopped by {name} during {run.name} ({read_run(run).state}); run the "
                "same command again to continue",
                file=sys.stderr,
            )
            sys.exit(128 + launcher.signal)
        state = read_run(run).state
        if code != 0 or state != "finished":
            message = f"run {run.name} {'failed' if code else 'stopped'} (exit code {code}, {state}; its output above)"
            if not keep_going:
                raise UserError(f"{message}; the study stopped there: fix it and run the same command again")
            print(f"study {study.name}: {message}; --keep_going: on to the next run", flush=True)
            failed.append(run.name)
    if failed:
        raise UserError(f"{len(failed)} of {len(study.runs)} runs failed: {', '.join(failed)}")
