"""
What a study's run folders hold: how far each run got, its figures from metrics.jsonl and config.json, and the
cached result of its evaluation.

A run that was interrupted and resumed has appended to its metrics.jsonl: the steps it logged after its last
checkpoint appear twice, and the later record (the resumed run's) is the one kept. The wall time of a run is
the sum of its logged step times (evaluations and checkpoints included; start-up and the time lost to
interruptions not). An evaluation (evaluate.py's JSON as it wrote it) is cached in the run's folder with the
checkpoint step and the settings it was made with, and is reused only while both are the same and its schema is
the one evaluate.py writes now: a cache in another layout (before issue 26 the study cached a reshaped dict,
without a schema) is a miss, evaluated again and overwritten. This is the study's one part that knows where a
run's checkpoint lives and in which format (checkpoint_step, checkpoint_file).

The invariant the tests check: the figures equal those of the metrics.jsonl records of the final trajectory,
and a cached evaluation is returned again without evaluating.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from gptkit.checkpointing.checkpoint import load_checkpoint
from gptkit.checkpointing.sharded_checkpoint import consolidate, read_training_state, sharded_checkpoint_path
from gptkit.checkpointing.training_checkpoint import checkpoint_file_in
from gptkit.evaluation.long_context_report import SCHEMA
from gptkit.training.metrics import read_metrics

HELLASWAG_EXAMPLES = 10042  # the validation split


def checkpoint_step(out_dir, parallelism):
    """The step of the checkpoint a resume of out_dir continues from (ddp: ckpt.pt, fsdp: the sharded folder),
    or None if there is none. Only the step is read: ckpt.pt is memory-mapped, not loaded."""
    if parallelism == "fsdp":
        sharded = sharded_checkpoint_path(out_dir)
        return None if sharded is None else read_training_state(sharded)["step"]
    path = checkpoint_file_in(out_dir)
    if not path.is_file():
        return None
    return load_checkpoint(path, mmap=True).get("step")


def checkpoint_file(run):
    """The weights of a run (RunFacts) as one ckpt.pt file: an FSDP run's sharded checkpoint is consolidated
    beside it first (once per checkpoint step)."""
    if run.train.get("parallelism") != "fsdp":
        return checkpoint_file_in(run.out_dir)
    consolidated = Path(run.out_dir) / "consolidated.pt"
    if not consolidated.is_file() or load_checkpoint(consolidated, mmap=True).get("step") != run.step:
        consolidate(sharded_checkpoint_path(run.out_dir), consolidated)
    return consolidated


def final_records(out_dir):
    """The metrics.jsonl records of the run's final trajectory, in order: where a resumed run logged a step
    again, its record replaces the earlier one."""
    path = Path(out_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    kept = {}
    for record in read_metrics(path):
        step = record.get("step", 0)
        if kept and step < max(s for s, _ in kept):  # a resume from an earlier checkpoint: later steps are redone
            kept = {key: r for key, r in kept.items() if key[0] < step}
        kind = "train" if "loss" in record else tuple(sorted(record))
        kept[(step, kind)] = record
    return list(kept.values())


def curve(records, key):
    """[(step, tokens, value)] of the records holding key."""
    return [(r["step"], r.get("tokens"), r[key]) for r in records if key in r]


def elapsed_seconds(records):
    """{logged step: the wall time of the training steps up to it}: each logged step time times the steps since
    the previous log."""
    elapsed, seconds, previous = {}, 0.0, 0
    for step, _, step_ms in curve(records, "step_ms"):
        seconds += step_ms / 1000 * (step - previous)
        elapsed[step], previous = seconds, step
    return elapsed


def seconds_at(elapsed, step):
    """The training wall time at step, read between the logged steps around it (an evaluation's step need not be
    a logged one); None past the last logged step."""
    after = min((logged for logged in elapsed if logged >= step), default=None)
    if after is None:
        return None
    before = max((logged for logged in elapsed if logged < step), default=0)
    start = elapsed.get(before, 0.0)
    return start + (elapsed[after] - start) * (step - before) / (after - before)


def training_seconds(records):
    """The wall time of the training steps."""
    return max(elapsed_seconds(records).values(), default=0.0)


@dataclass
class RunFacts:
    """A run of a study as its folder tells it, and what the study says it should be."""

    name: str
    out_dir: str
    grid_values: dict
    max_iters: int
    step: int | None  # of its checkpoint; None: not started
    config: dict = field(default_factory=dict)  # config.json: "model", "train", "derived"
    records: list = field(default_factory=list)
    flops_per_token: float | None = None
    evaluation: dict | None = None  # evaluate.py's JSON (schema 1)
    hub_url: str | None = None
    steps_to_reach: float | None = None  # of the study's reach target (gptkit/study/reach.py)
    seed: int | None = None  # one of the study's seeds; None: the study gives none
    cell: str = ""  # its cell of the grid (the runs that differ only in seed); "": its name

    @property
    def finished(self):
        return self.step is not None and self.step >= self.max_iters

    @property
    def state(self):
        if self.finished:
            return "finished"
        return "not started" if self.step is None else f"at step {self.step} of {self.max_iters}"

    @property
    def model(self):
        return self.config.get("model", {})

    @property
    def train(self):
        return self.config.get("train", {})

    @property
    def derived(self):
        return self.config.get("derived", {})

    def last(self, key):
        values = curve(self.records, key)
        return values[-1][2] if values else None

    @property
    def last_step(self):
        return self.records[-1]["step"] if self.records else None

    @property
    def tokens(self):
        values = [r["tokens"] for r in self.records if "tokens" in r]
        return values[-1] if values else None

    @property
    def training_flops(self):
        return None if self.tokens is None or self.flops_per_token is None else self.tokens * self.flops_per_token

    @property
    def wall_seconds(self):
        return training_seconds(self.records) if self.records else None

    @property
    def device_hours(self):
        """Processes (one device each) times wall time, in hours."""
        seconds = self.wall_seconds
        return None if seconds is None else seconds * self.derived.get("processes", 1) / 3600

    @property
    def hellaswag(self):
        """(acc_norm, standard error) of the last HellaSwag evaluation logged, or None."""
        acc_norm = self.last("hellaswag_acc_norm")
        if acc_norm is None:
            return None
        examples = min(self.train.get("hellaswag_limit") or HELLASWAG_EXAMPLES, HELLASWAG_EXAMPLES)
        return acc_norm, math.sqrt(acc_norm * (1 - acc_norm) / examples)


def read_run(run, flops_per_token=None):
    """RunFacts of a StudyRun (gptkit/study/spec.py) from its folder."""
    config_path = Path(run.out_dir) / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    return RunFacts(
        name=run.name,
        out_dir=run.out_dir,
        grid_values=run.grid_values,
        max_iters=run.train_config.max_iters,
        step=checkpoint_step(run.out_dir, run.train_config.parallelism),
        config=config,
        records=final_records(run.out_dir),
        flops_per_token=flops_per_token,
        hub_url=recorded_hub_url(run.out_dir),
        seed=run.seed,
        cell=run.cell,
    )


def record_hub_url(out_dir, step, url):
    """Where the run was pushed (the report links it)."""
    (Path(out_dir) / "study_hub.json").write_text(json.dumps({"step": step, "url": url}))


def recorded_hub_url(out_dir):
    path = Path(out_dir) / "study_hub.json"
    return json.loads(path.read_text())["url"] if path.is_file() else None


def cached_evaluation(out_dir, name, step, settings):
    """The result of evaluation `name` cached in out_dir for this checkpoint step and settings, or None."""
    path = Path(out_dir) / f"study_{name}.json"
    if not path.is_file():
        return None
    cached = json.loads(path.read_text())
    same = cached.get("step") == step and cached.get("settings") == json.loads(json.dumps(settings))
    return cached["result"] if same and cached["result"].get("schema") == SCHEMA else None


def cache_evaluation(out_dir, name, step, settings, result):
    path = Path(out_dir) / f"study_{name}.json"
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({"step": step, "settings": settings, "result": result}, indent=1))
    temporary.replace(path)
