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

The parts are in gptkit/study/: spec.py reads the study file, run_loop.py trains the runs, runs.py reads their
folders, evaluations.py runs evaluate.py on them, reach.py, report.py and figures.py write the report, push.py
exports (through export_hf.py's export) and pushes.
"""

import shlex
import sys

import torch

from gptkit.command_line import OneLineParser
from gptkit.config import TrainConfig
from gptkit.errors import UserError, run_main
from gptkit.evaluation.evaluate_flags import parse_arguments as evaluate_arguments
from gptkit.interop.hf_hub import check_repo_id
from gptkit.study import report
from gptkit.study.evaluations import check_evaluation, evaluate_finished
from gptkit.study.push import push_finished
from gptkit.study.reach import reach_target
from gptkit.study.run_loop import check_processes, run_study, train_command
from gptkit.study.runs import read_run
from gptkit.study.spec import read_study
from model import GPT, GPTConfig

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


def write_study_report(study, nproc_per_node, push_prefix=None, private=False):
    """Evaluates what is new, pushes if asked, and writes report.md with its figures."""
    facts = study_facts(study)
    note = evaluate_finished(study, facts, nproc_per_node)
    if push_prefix:
        push_finished(study, facts, push_prefix, private, GPT)
    reach = reach_target(study, facts)
    path = report.write_report(study, facts, study.out_dir, study.file.evaluation, reach, [note] if note else [])
    print(f"wrote {path}")
    return facts


def main(argv):
    args, overrides = parse_arguments(argv)
    study = read_study(args.study, overrides, GPTConfig, TrainConfig)  # every run checked before any work
    check_evaluation(study, evaluate_arguments)
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
            push_finished(study, facts, args.push_to_hub, args.private, GPT)
    else:
        write_study_report(study, args.nproc_per_node, args.push_to_hub, args.private)


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
