"""
A study: a grid of training runs written as a file in configs/ (gptkit/study/spec.py), trained one after the other,
then evaluated and written up as a report with its figures.

    python study.py run configs/rope_theta_study.py --nproc_per_node 8       # train every run not yet finished
    python study.py commands configs/rope_theta_study.py --nproc_per_node 8  # each run's train.py command
    python study.py status configs/rope_theta_study.py                       # how far each run got
    python study.py report configs/rope_theta_study.py                       # -> out/rope_theta_study/report.md
    python study.py run configs/muon_study.py --max_iters=100                # --key=value: for every run

Each run is a normal train.py run in its own out_dir (out/<study>/<run>) with --init_from=auto, so the same
command carries a study through preemptions: a finished run is skipped, an interrupted one continues from its
checkpoint. SIGTERM or Ctrl-C (to study.py) reaches the running train.py once: it saves and stops, and so does the
study. A failed run stops the study naming it (--keep_going: the next one starts). `commands` prints exactly
what `run` runs, for a scheduler that runs them in parallel (a SLURM array, one node each); `report` works from
whatever has finished. Give every subcommand the same --key=value flags.

`report` evaluates each finished run once with the study's evaluation (cached in the run's folder by checkpoint
step, so a later call evaluates only what is new) and writes report.md beside the runs. --push_to_hub PREFIX
(run and report) exports each finished run and pushes it to the Hub repository PREFIX-<run>, its model card's
metadata holding the run's evaluation (model-index); offline or without a token, one line says what was not pushed.
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from gptkit.checkpointing.checkpoint import load_checkpoint
from gptkit.command_line import OneLineParser
from gptkit.config import TrainConfig
from gptkit.data.tokenizer import saved_tokenizer
from gptkit.errors import UserError, run_main
from gptkit.interop.hf_format import write_folder  # the export's code, imported here only
from gptkit.interop.hf_hub import check_repo_id, push_folder
from gptkit.interop.model_card import model_card, run_summary, training_command
from gptkit.study import report
from gptkit.study.model_index import with_model_index
from gptkit.study.runs import (
    cache_evaluation,
    cached_evaluation,
    checkpoint_file,
    curve,
    read_run,
    record_hub_url,
)
from gptkit.study.spec import read_study
from model import GPT, GPTConfig
from plot import steps_to_reach
from train import gradient_accumulation_steps

ROOT = Path(__file__).resolve().parent
COMMANDS = ("run", "commands", "status", "report")


def parse_arguments(argv):
    """(arguments, --key=value overrides for every run)."""
    parser = OneLineParser("study.py", __doc__, allow_abbrev=False)  # --key=value run settings pass through whole
    parser.add_argument("command", choices=COMMANDS, help="what to do with the study")
    parser.add_argument("study", help="a study file (configs/..._study.py)")
    parser.add_argument("--nproc_per_node", type=int, default=1, help="processes per run")
    parser.add_argument("--keep_going", action="store_true", help="run on after a failed run")
    parser.add_argument("--push_to_hub", metavar="PREFIX", help="push run R to PREFIX-R")
    parser.add_argument("--private", action="store_true", help="create the Hub repositories as private")
    args, overrides = parser.parse_known_args(argv)
    if args.nproc_per_node < 1:
        raise UserError(f"--nproc_per_node must be >= 1, got {args.nproc_per_node}")
    if args.private and not args.push_to_hub:
        raise UserError("--private applies to --push_to_hub PREFIX; give both")
    return args, overrides


def launcher(nproc_per_node):
    """This Python, under torchrun (as a module of this torch) for more than one process."""
    if nproc_per_node == 1:
        return [sys.executable]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc_per_node}"]


def train_command(run, nproc_per_node):
    """The command that trains a run: train.py with the run's arguments."""
    return [*launcher(nproc_per_node), os.path.relpath(ROOT / "train.py"), *run.train_arguments()]


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


# ----------------------------------------------------------------------------------------------------------
# run


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


# ----------------------------------------------------------------------------------------------------------
# status and report


def flops_per_token(run):
    with torch.device("meta"):  # the count needs shapes only
        return GPT(run.model_config).flops_per_token()


def study_facts(study):
    return [read_run(run, flops_per_token(run)) for run in study.runs]


def status_lines(study, facts):
    rows = [
        [
            run.name,
            run.state,
            report.number(run.last_step, "d"),
            report.number(run.last("val_loss")),
            report.count(run.tokens),
            report.duration(run.wall_seconds),
        ]
        for run in facts
    ]
    finished = sum(run.finished for run in facts)
    header = ["run", "state", "last logged step", "last val loss", "tokens", "wall time"]
    return [f"study {study.name}: {finished} of {len(facts)} runs finished ({study.out_dir})", ""] + report.table(
        header, rows
    )


def evaluate_run(checkpoint, settings, data_dir, nproc_per_node=1):
    """The study's evaluation of one checkpoint, as the report reads it (the one place that knows evaluate.py):

        {"data": {"windows_from", "windows", "seed", "validation_tokens", "perplexity_tokens", "processes", "dtype"},
         "lengths": {scaling: {length: {"loss", "se", "windows"}}},     # mean loss of windows of that length
         "loss_by_position": {scaling: [{"start", "end", "loss", "se"}, ...]},   # bins, to the longest length
         "perplexity": {scaling: {length: {"non_overlapping", "sliding"}}},
         "probe": {scaling: [{"distance", "loss", "se"}, ...]},       # loss on the second copy of a span
         "passkey": {scaling: {length: accuracy}}}                      # mean over depths (GPT-2 tokens only)

    Lengths are keys as text (as JSON keeps them). It runs evaluate.py (under torchrun for more than one process)
    with the settings as flags (a list joined by commas) on the run's data folder, and reads its --json file."""
    script = ROOT / "evaluate.py"
    if not script.is_file():
        raise UserError("evaluate.py is not in this checkout: the runs were not evaluated")
    settings = {"data_dir": data_dir, **settings}
    flags = [f"--{key}={','.join(map(str, v)) if isinstance(v, list) else v}" for key, v in settings.items()]
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "evaluation.json"
        command = [*launcher(nproc_per_node), str(script), f"--checkpoint={checkpoint}", f"--json={output}", *flags]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise UserError(f"evaluate.py failed on {checkpoint}: {reason}")
        return evaluation_from_json(json.loads(output.read_text()))


def evaluation_from_json(result):
    """evaluate.py's --json content (schema 1, its docstring) as evaluate_run's dict."""
    if result.get("schema") != 1:
        raise UserError(f"evaluate.py wrote schema {result.get('schema')!r}; this study.py reads schema 1")
    converted = {
        "data": result["data"],
        "lengths": {},
        "loss_by_position": {},
        "perplexity": {},
        "probe": {},
        "passkey": {},
    }
    for scaling, method in result["methods"].items():
        if method.get("positions"):
            converted["lengths"][scaling] = {
                str(p["length"]): {"loss": p["loss"], "se": p["se"], "windows": p["windows"]}
                for p in method["positions"]
            }
            converted["loss_by_position"][scaling] = max(method["positions"], key=lambda p: p["length"])["bins"]
        if method.get("perplexity"):
            converted["perplexity"][scaling] = {
                str(p["length"]): {kind: p[kind]["perplexity"] for kind in ("non_overlapping", "sliding")}
                for p in method["perplexity"]
            }
        if method.get("probe"):
            converted["probe"][scaling] = [
                {key: point[key] for key in ("distance", "loss", "se")} for point in method["probe"]["points"]
            ]
        if method.get("passkey"):
            accuracies = {}
            for point in method["passkey"]["points"]:
                accuracies.setdefault(str(point["length"]), []).append(point["accuracy"])
            converted["passkey"][scaling] = {n: sum(a) / len(a) for n, a in accuracies.items()}
    return converted


def evaluate_finished(study, facts, nproc_per_node):
    """Each finished run's evaluation, from its cache or evaluated now; returns a note if none could be made."""
    settings, name = study.file.evaluation, study.file.evaluation_name
    if not settings:
        return None
    evaluated = cached = 0
    for run in facts:
        if not run.finished:
            continue
        run.evaluation = cached_evaluation(run.out_dir, name, run.step, settings)
        if run.evaluation is not None:
            cached += 1
            continue
        try:
            run.evaluation = evaluate_run(checkpoint_file(run), settings, run.train["data_dir"], nproc_per_node)
        except UserError as e:
            print(f"study {study.name}: {e}", file=sys.stderr)
            return f"Not evaluated: {e}."
        cache_evaluation(run.out_dir, name, run.step, settings, run.evaluation)
        evaluated += 1
    print(f"study {study.name}: finished runs evaluated now: {evaluated}, from the cache: {cached}", flush=True)
    return None


def reach_target(study, facts):
    """(target, baseline run's name, its steps) of the study's reach_baseline, with each run's steps_to_reach
    set; None without a baseline run that finished."""
    wanted = study.file.reach_baseline
    if not wanted:
        return None
    val_losses = {}
    for run, run_facts in zip(study.runs, facts):
        settings = {**vars(run.model_config), **vars(run.train_config)}
        if run_facts.finished and run_facts.last("val_loss") is not None:
            if all(settings.get(key) == value for key, value in wanted.items()):
                val_losses[run_facts.name] = run_facts.last("val_loss")
    if not val_losses:
        return None
    best = min(val_losses, key=val_losses.get)
    for run in facts:
        run.steps_to_reach = steps_to_reach(
            [(step, loss) for step, _, loss in curve(run.records, "val_loss")], val_losses[best]
        )
    return val_losses[best], best, next(run.last_step for run in facts if run.name == best)


# ----------------------------------------------------------------------------------------------------------
# the Hub


def export_run(run, repo_id):
    """The run exported as a transformers folder (RUN/hf), its model card holding the run's evaluation."""
    checkpoint_path = checkpoint_file(run)
    checkpoint = load_checkpoint(checkpoint_path)
    model = GPT.from_checkpoint(checkpoint)
    model_config, tokenizer = asdict(model.config), saved_tokenizer(checkpoint, checkpoint_path)
    folder = Path(run.out_dir) / "hf"
    family = write_folder(folder, model_config, model.state_dict(), tokenizer)
    defaults = asdict(GPTConfig()), asdict(TrainConfig())
    command = training_command(model_config, checkpoint.get("train_config", {}), *defaults)
    summary = run_summary(checkpoint_path, checkpoint)
    card = model_card(family, model_config, tokenizer.name, model.num_params(), summary, command, repo_id)
    (folder / "README.md").write_text(with_model_index(card, run, repo_id))
    return folder


def push_finished(study, facts, prefix, private):
    """Each finished run exported and pushed to PREFIX-<run>; the runs not pushed are named in one line."""
    not_pushed = []
    for run in facts:
        if not run.finished:
            continue
        repo_id = f"{prefix}-{run.name}"
        folder = export_run(run, repo_id)
        try:
            run.hub_url = push_folder(folder, repo_id, private)
        except UserError as e:
            not_pushed.append((run.name, str(e)))
            continue
        record_hub_url(run.out_dir, run.step, run.hub_url)
        print(f"study {study.name}: {run.name} pushed to {run.hub_url}", flush=True)
    if not_pushed:
        names = ", ".join(name for name, _ in not_pushed)
        print(f"study {study.name}: not pushed: {names} (the first: {not_pushed[0][1]})", file=sys.stderr)


def write_study_report(study, nproc_per_node, push_prefix=None, private=False):
    """Evaluates what is new, pushes if asked, and writes report.md with its figures."""
    facts = study_facts(study)
    note = evaluate_finished(study, facts, nproc_per_node)
    if push_prefix:
        push_finished(study, facts, push_prefix, private)
    reach = reach_target(study, facts)
    path = report.write_report(study, facts, study.out_dir, study.file.evaluation, reach, [note] if note else [])
    print(f"wrote {path}")
    return facts


def main(argv):
    args, overrides = parse_arguments(argv)
    study = read_study(args.study, overrides, GPTConfig, TrainConfig)  # every run checked before any work
    check_processes(study, args.nproc_per_node)
    if args.push_to_hub:
        for run in study.runs:
            check_repo_id(f"{args.push_to_hub}-{run.name}")
    if args.command == "commands":
        for run in study.runs:
            print(shlex.join(train_command(run, args.nproc_per_node)))
    elif args.command == "status":
        print("\n".join(status_lines(study, study_facts(study))))
    elif args.command == "run":
        run_study(study, args.nproc_per_node, args.keep_going)
        if args.push_to_hub:
            facts = study_facts(study)
            evaluate_finished(study, facts, args.nproc_per_node)
            push_finished(study, facts, args.push_to_hub, args.private)
    else:
        write_study_report(study, args.nproc_per_node, args.push_to_hub, args.private)


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
