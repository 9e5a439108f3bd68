"""
The DCLM eval bundle that the CORE score reads, in the layout nanochat downloads it:

    eval_bundle/core.yaml             the tasks: label, icl_task_type, dataset_uri, num_fewshot, continuation_delimiter
    eval_bundle/eval_meta_data.csv    each task's random baseline in percent ("Eval Task", "Random baseline")
    eval_bundle/eval_data/...jsonl    the examples, one JSON object a line

It is downloaded once into a cache (DEFAULT_FOLDER), or given as a folder. It is read and checked whole before
anything is scored. The examples scored are shuffled with a fixed seed and cut to max_per_task, as nanochat's
base_eval does, so a subset is the same subset every time.

The invariants the tests check: a bundle that is missing or incomplete (no core.yaml, no eval_meta_data.csv, a
task file missing, a malformed task or row) is one UserError naming the file, and the line for a row; nothing is
written. A download leaves either the whole bundle in the cache or nothing there.
"""

import csv
import os
import random
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml
from tqdm import tqdm

from gptkit.distributed import on_master
from gptkit.errors import UserError
from gptkit.evaluation.example_lines import read_example_lines

BUNDLE_URL = "https://karpathy-public.s3.us-west-2.amazonaws.com/eval_bundle.zip"  # nanochat's copy
DEFAULT_FOLDER = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gptkit" / "eval_bundle"
TASK_TYPES = ("multiple_choice", "schema", "language_modeling")
SHUFFLE_SEED = 1337  # nanochat's: the order the examples are scored in, and the subset max_per_task keeps


@dataclass(frozen=True)
class Task:
    label: str
    task_type: str  # one of TASK_TYPES
    num_fewshot: int
    continuation_delimiter: str
    random_baseline: float  # the accuracy of guessing, in percent
    examples: list  # in scoring order


def load_tasks(folder, max_per_task, run):
    """read_bundle's tasks on every process of the run: the master finds the bundle first (downloading it once
    into the cache) while the others wait, and a failure there stops them all."""
    on_master(run, lambda: locate_bundle(folder), failure="rank 0 found no CORE bundle")
    return read_bundle(locate_bundle(folder), max_per_task)


def locate_bundle(folder="", url=BUNDLE_URL, cache=DEFAULT_FOLDER):
    """The bundle's folder: folder when given (it must exist), else the cache, downloaded into it once."""
    if folder:
        if not Path(folder).is_dir():
            raise UserError(f"CORE bundle {folder} not found: a folder of core.yaml, eval_meta_data.csv, eval_data/")
        return Path(folder)
    if not (cache / "core.yaml").is_file():
        download_bundle(url, cache)
    return cache


def download_bundle(url, destination):
    """The zip at url, unzipped into destination (its eval_bundle folder, or its root if that holds core.yaml).
    Nothing is left in destination's folder unless the whole bundle arrived."""
    remedy = f"download {BUNDLE_URL}, unzip it and put its eval_bundle folder at {destination}, or pass --bundle DIR"
    if destination.exists():
        raise UserError(f"{destination} holds no core.yaml: not a whole CORE bundle; delete it to download it again")
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "eval_bundle.zip"
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as out:
                size = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=size, unit="B", unit_scale=True, desc="CORE eval bundle") as bar:
                    while chunk := response.read(1 << 20):
                        out.write(chunk)
                        bar.update(len(chunk))
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(Path(scratch) / "unzipped")
        except (OSError, zipfile.BadZipFile) as e:
            raise UserError(f"could not download the CORE eval bundle from {url} ({e}); offline, {remedy}") from None
        unzipped = Path(scratch) / "unzipped"
        bundle = unzipped / "eval_bundle" if (unzipped / "eval_bundle" / "core.yaml").is_file() else unzipped
        if not (bundle / "core.yaml").is_file():
            raise UserError(f"the zip at {url} holds no core.yaml: it is not the CORE eval bundle; {remedy}")
        destination.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=".eval_bundle-"))  # same filesystem
        shutil.move(bundle, staging / "bundle")
        (staging / "bundle").replace(destination)  # one rename: the cache holds the whole bundle or nothing
        staging.rmdir()
    print(f"CORE eval bundle in {destination}")


def read_bundle(folder, max_per_task=0):
    """The bundle's tasks, in core.yaml's order, each with the examples to score (all, or the first max_per_task
    of the shuffled examples)."""
    folder = Path(folder)
    incomplete = f"the CORE bundle {folder} is incomplete: delete it and unzip {BUNDLE_URL} there again"
    for name in ("core.yaml", "eval_meta_data.csv"):
        if not (folder / name).is_file():
            raise UserError(f"{folder / name} not found: {incomplete}")
    baselines = read_baselines(folder / "eval_meta_data.csv")
    tasks = []
    for entry in read_task_list(folder / "core.yaml"):
        label = entry["label"]
        if label not in baselines:
            raise UserError(f"{folder / 'eval_meta_data.csv'} has no random baseline for task {label!r}")
        path = folder / "eval_data" / entry["dataset_uri"]
        if not path.is_file():
            raise UserError(f"{path} not found (task {label!r}): {incomplete}")
        task_type = entry["icl_task_type"]
        examples = read_example_lines(path, task_type, partial(example_problem, task_type=task_type))
        random.Random(SHUFFLE_SEED).shuffle(examples)
        examples = examples[:max_per_task] if max_per_task > 0 else examples
        shots = entry["num_fewshot"]
        if shots >= len(examples):  # the few-shot examples are drawn from the task's other examples
            remedy = f"max_per_task must be above {shots}" if max_per_task > 0 else f"{path} holds too few"
            raise UserError(f"task {label!r} shows {shots} other examples before each of its {len(examples)}: {remedy}")
        delimiter = entry["continuation_delimiter"]
        tasks.append(Task(label, task_type, shots, delimiter, baselines[label], examples))
    return tasks


def read_task_list(path):
    """core.yaml's icl_tasks, checked: [{label, icl_task_type, dataset_uri, num_fewshot, continuation_delimiter}]."""
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not YAML ({str(e).splitlines()[0]})") from None
    entries = config.get("icl_tasks") if isinstance(config, dict) else None
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{path}: no icl_tasks list")
    tasks, labels = [], set()
    for number, entry in enumerate(entries, 1):
        name = f"{path}: task {entry.get('label', number) if isinstance(entry, dict) else number}"
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("label", "dataset_uri")):
            raise UserError(f"{name}: needs a label and a dataset_uri")
        task_type = entry.get("icl_task_type")
        if task_type not in TASK_TYPES:
            raise UserError(f"{name}: icl_task_type must be one of {', '.join(TASK_TYPES)}, got {task_type!r}")
        given = entry.get("num_fewshot")
        shots = given[0] if isinstance(given, list) and given else given  # a list in DCLM's files: its first
        if not isinstance(shots, int) or isinstance(shots, bool) or shots < 0:
            raise UserError(f"{name}: num_fewshot must be a count (or a list of them), got {given!r}")
        delimiter = entry.get("continuation_delimiter", " ")
        if not isinstance(delimiter, str):
            raise UserError(f"{name}: continuation_delimiter must be text, got {delimiter!r}")
        if entry["label"] in labels:
            raise UserError(f"{name}: a second task of that label")
        labels.add(entry["label"])
        tasks.append({**entry, "num_fewshot": shots, "continuation_delimiter": delimiter})
    return tasks


def read_baselines(path):
    """{task label: random baseline in percent} from eval_meta_data.csv."""
    with open(path, encoding="utf-8", errors="replace", newline="") as f:  # a stray byte fails as a bad value
        rows = list(csv.DictReader(f))
    baselines = {}
    for number, row in enumerate(rows, 2):  # line 1 is the header
        if "Eval Task" not in row or "Random baseline" not in row:
            raise UserError(f"{path}: needs the columns 'Eval Task' and 'Random baseline'")
        try:
            baseline = float(row["Random baseline"])
        except (TypeError, ValueError):
            baseline = None
        if baseline is None or not 0 <= baseline < 100:
            given = row["Random baseline"]
            raise UserError(f"{path}:{number}: the random baseline must be a percentage below 100, got {given!r}")
        baselines[row["Eval Task"]] = baseline
    return baselines


# The fields each task type's examples need: text, a list of texts, or the index of one of those texts.
FIELDS = {
    "multiple_choice": {"query": "text", "choices": "texts", "gold": "index"},
    "schema": {"context_options": "texts", "continuation": "text", "gold": "index"},
    "language_modeling": {"context": "text", "continuation": "text"},
}


def example_problem(example, task_type):
    """What makes example unusable for task_type (an empty string if nothing does)."""
    if not isinstance(example, dict):
        return "a JSON object is expected"
    fields = FIELDS[task_type]
    missing = [name for name in fields if name not in example]
    if missing:
        return f"no {', '.join(missing)}"
    options = 0
    for name, kind in fields.items():
        value = example[name]
        if kind == "text" and not isinstance(value, str):
            return f"{name} must be text"
        if kind == "texts":
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                return f"{name} must be a list of texts"
            options = len(value)
    gold = example.get("gold")
    if "gold" in fields and (not isinstance(gold, int) or isinstance(gold, bool) or not 0 <= gold < options):
        return f"gold must be the index of an option, 0 ... {options - 1}, got {gold!r}"
    return ""
