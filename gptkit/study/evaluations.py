"""
The study's evaluation of its finished runs: evaluate.py on each run's checkpoint and data folder (under torchrun
for more than one process), with the study file's `evaluation` settings as its flags. Its --json file (schema 1,
evaluate.py's docstring) is what the study keeps, as it is: cached in the run's folder by checkpoint step and
settings (gptkit/study/runs.py), then read by the report, its figures and the model card.

The invariant the tests check: the cached evaluation is evaluate.py's own JSON for that checkpoint and those
flags, a run is evaluated once per checkpoint step and settings, and settings evaluate.py would refuse (an
unknown key, a value of the wrong type) are one line before any run.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from gptkit.errors import UserError
from gptkit.evaluation.long_context_report import SCHEMA
from gptkit.study.run_loop import COMMANDS_FOLDER, python_command
from gptkit.study.runs import cache_evaluation, cached_evaluation, checkpoint_file

STUDY_OWNED = ("checkpoint", "hf", "json", "data_dir")  # evaluate.py's flags that the study sets for each run


def evaluation_flags(settings):
    """evaluate.py's flags of a study's evaluation settings (a list joined by commas)."""
    return [f"--{key}={','.join(map(str, v)) if isinstance(v, list) else v}" for key, v in settings.items()]


def check_evaluation(study, parse_arguments):
    """The study's evaluation settings are flags that evaluate.py reads (parse_arguments: its argument parser),
    none of them the study's own: a bad one is one line before any run."""
    owned = [key for key in study.file.evaluation if key in STUDY_OWNED]
    if owned:
        raise UserError(f"study {study.path}: evaluation key {owned[0]!r} is the study's to set for each run")
    try:
        parse_arguments(["--checkpoint=ckpt.pt", "--data_dir=data", *evaluation_flags(study.file.evaluation)])
    except UserError as e:
        raise UserError(f"study {study.path}: evaluation: {e}") from None


def evaluate_run(checkpoint, settings, data_dir, nproc_per_node=1):
    """evaluate.py's JSON for one checkpoint on data_dir, with the settings as flags."""
    if not (COMMANDS_FOLDER / "evaluate.py").is_file():
        raise UserError("evaluate.py is not in this checkout: the runs were not evaluated")
    flags = evaluation_flags({"data_dir": data_dir, **settings})
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "evaluation.json"
        command = [*python_command("evaluate.py", nproc_per_node), f"--checkpoint={checkpoint}", f"--json={output}"]
        result = subprocess.run([*command, *flags], capture_output=True, text=True)
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise UserError(f"evaluate.py failed on {checkpoint}: {reason}")
        evaluation = json.loads(output.read_text())
    if evaluation.get("schema") != SCHEMA:
        raise UserError(f"evaluate.py wrote schema {evaluation.get('schema')!r}; this study reads schema {SCHEMA}")
    return evaluation


def evaluate_finished(study, facts, nproc_per_node):
    """Each finished run's evaluation (RunFacts.evaluation), from its cache or evaluated now; returns a note for
    the report if one could not be made, else None."""
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
