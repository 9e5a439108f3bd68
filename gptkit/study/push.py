"""
A study's finished runs on the Hub: each exported into RUN/hf by the export export_hf.py runs
(gptkit/interop/checkpoint_export.py), its model card holding the run's evaluation as model-index metadata
(gptkit/study/model_index.py), and pushed to the repository PREFIX-<run>, whose address the report links.

Offline or without a token the study goes on: the folders stay written, and one line names the runs not pushed
and the first reason. The invariant the tests check: each finished run's folder goes to its own repository, and
a run not pushed is named in that one line.
"""

import sys
from pathlib import Path

from gptkit.errors import UserError
from gptkit.interop.checkpoint_export import export_checkpoint
from gptkit.interop.hf_hub import push_folder
from gptkit.study.model_index import eval_results
from gptkit.study.runs import checkpoint_file, record_hub_url


def push_finished(study, facts, prefix, private, model_class):
    """Each finished run (RunFacts) exported and pushed to PREFIX-<run>; model_class is model.py's GPT."""
    not_pushed = []
    for run in facts:
        if not run.finished:
            continue
        repo_id = f"{prefix}-{run.name}"
        folder = Path(run.out_dir) / "hf"
        export_checkpoint(checkpoint_file(run), folder, model_class, card_name=repo_id, eval_results=eval_results(run))
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
