"""
A study: a grid of training runs, written as a plain-Python file in configs/ and checked like every config.

    configs = ["configs/rope_theta.py"]      # train.py's config files for every run, in order
    settings = {"max_iters": 2000}            # settings on top of them, for every run
    grid = {"block_size": [1024, 4096], "rope_theta": [1e4, 1e6]}   # every combination is a run
    derived = {"micro_batch_size": lambda block_size: 65536 // block_size}   # settings computed from grid values
    run_name = "ctx{block_size}_theta{rope_theta}"   # each run's folder under the study's out_dir
    seeds = [1337, 1338]                      # each cell of the grid trained once per seed: run name + _seed1337

`grid` may also be a list of such dicts (the runs of each, one after the other), with `run_name` a list of one
template per part. Each run is a train.py run of its own out_dir with --init_from=auto: started again, it
continues from its checkpoint. The runs of one cell of the grid, one per seed, differ only in `seed` (the
model's initialisation and the order of the training windows); the report gives their mean and spread. The
file's other keys (StudyFile) say what the report evaluates and shows.

The invariant the tests check: a study expands to the same runs, names and train.py arguments every time (N seeds:
N runs per cell, each in its own folder), each run's settings read back from those arguments equal the study's,
and bad input (an unknown key, an empty grid, a value of the wrong type, seeds that are not distinct ints, a
derived setting that takes no grid key, two runs in one folder, an error in the file) stops with one line before
any run starts.
"""

import inspect
import itertools
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path

from gptkit.config import build_configs, check_type, config_error_line, parse_flag, read_settings
from gptkit.errors import UserError

# Settings a study decides for each run: its own folder, and init_from="auto" so that a second start resumes.
STUDY_OWNED = ("out_dir", "init_from")


@dataclass
class StudyFile:
    """The keys of a study file."""

    configs: list = field(default_factory=list)  # train.py config files for every run, in order
    settings: dict = field(default_factory=dict)  # {setting: value} on top of them, for every run
    grid: dict | list = field(default_factory=dict)  # {setting: [values]}, every combination a run; or a list
    derived: dict = field(default_factory=dict)  # {setting: function whose parameters are grid keys}
    run_name: str | list = ""  # "ctx{block_size}_theta{rope_theta}" (a list: one per grid part); "": key+value
    seeds: list = field(default_factory=list)  # [1337, 1338]: every cell once per seed; []: the settings' seed
    out_dir: str = ""  # where the runs' folders and the report go; "": out/<the study file's name>
    title: str = ""  # the report's title; "": the study's name
    evaluation: dict = field(default_factory=dict)  # evaluate.py's settings for each finished run; {}: none
    evaluation_name: str = "evaluation"  # names the evaluation (its cache file in each run's folder)
    table: list = field(default_factory=list)  # [row key, column key] of the val-loss table; []: the grid's two
    reach_baseline: dict = field(default_factory=dict)  # {setting: value} of the runs whose best final val loss
    # is the target of the report's "steps to reach" column; {}: no such column

    def __post_init__(self):
        problems = []
        if not all(isinstance(path, str) for path in self.configs):
            problems.append(f"configs must be a list of config file paths, got {self.configs!r}")
        parts = self.grid if isinstance(self.grid, list) else [self.grid]
        if not parts or not all(isinstance(part, dict) and part for part in parts):
            problems.append("grid is empty: give {setting: [values, ...]} (or a list of such dicts)")
        for part in parts:
            for key, values in part.items() if isinstance(part, dict) else ():
                if not isinstance(values, list) or not values:
                    problems.append(f"grid key {key!r} needs a non-empty list of values, got {values!r}")
        names = self.run_name if isinstance(self.run_name, list) else [self.run_name] * len(parts)
        if len(names) != len(parts) or not all(isinstance(name, str) for name in names):
            problems.append(f"run_name must be one template or a list of one per grid part ({len(parts)})")
        for key, function in self.derived.items():
            if not callable(function):
                problems.append(f"derived setting {key!r} must be a function of grid keys, got {function!r}")
        seeds_are_ints = isinstance(self.seeds, list) and all(
            isinstance(seed, int) and not isinstance(seed, bool) for seed in self.seeds
        )
        if not seeds_are_ints or len(set(self.seeds)) != len(self.seeds):
            problems.append(f"seeds must be a list of distinct ints, got {self.seeds!r}")
        if any("seed" in part for part in parts if isinstance(part, dict)):
            problems.append("seed is not a grid key: give seeds = [...], whose runs the report aggregates")
        if self.table and (len(self.table) != 2 or not all(isinstance(key, str) for key in self.table)):
            problems.append(f"table must name two grid keys [rows, columns], got {self.table!r}")
        if problems:
            raise UserError("bad study: " + "; ".join(problems))

    @property
    def grid_parts(self):
        return self.grid if isinstance(self.grid, list) else [self.grid]

    @property
    def run_names(self):
        return self.run_name if isinstance(self.run_name, list) else [self.run_name] * len(self.grid_parts)


@dataclass
class StudyRun:
    """One run of a study: its name and folder, its grid values, and every setting the study gives it."""

    name: str
    out_dir: str
    grid_values: dict
    settings: dict  # train settings on top of the config files: the study's, the grid's, derived, overrides
    configs: list  # the config files
    seed: int | None = None  # one of the study's seeds; None: the study gives none
    cell: str = ""  # the name of its cell of the grid: its name without the seed
    model_config: object = None  # GPTConfig and TrainConfig as train.py will build them
    train_config: object = None

    def train_arguments(self):
        """train.py's arguments for this run: the config files, every setting as a flag, its folder, auto."""
        flags = [f"--{key}={flag_text(value)}" for key, value in self.settings.items()]
        return [*self.configs, *flags, f"--out_dir={self.out_dir}", "--init_from=auto"]


@dataclass
class Study:
    name: str
    path: Path
    file: StudyFile
    out_dir: Path
    runs: list

    @property
    def grid_keys(self):
        return list(dict.fromkeys(key for part in self.file.grid_parts for key in part))


def flag_text(value):
    """A value as train.py's --key=value reads it back: text for strings, Python literals for the rest."""
    return value if isinstance(value, str) else repr(value)


def short_text(value):
    """A grid value as a run name shows it: 1e4, 5e5, 0.002, 1024, rope."""
    if isinstance(value, float) and value and (abs(value) >= 1e4 or abs(value) < 1e-3):
        mantissa, exponent = f"{value:e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def read_study(path, overrides, *config_classes):
    """The Study of the file at path with --key=value overrides for every run; config_classes are train.py's
    (GPTConfig, TrainConfig). Every run's settings are checked as train.py will check them."""
    path = Path(path)
    file = StudyFile(**read_settings([str(path)], StudyFile))
    field_types = {}
    for cls in config_classes:
        field_types.update(typing.get_type_hints(cls))
    origin = f"study {path}"
    settings = checked_settings(file.settings, field_types, f"{origin} settings")
    grid_parts = [
        {key: [checked(key, v, field_types, f"{origin} grid") for v in part[key]] for key in part}
        for part in file.grid_parts
    ]
    grid_keys = set().union(*grid_parts)
    check_derived(file.derived, grid_parts, field_types, origin)
    extra = checked_settings(dict(parse_flag(flag, field_types) for flag in overrides), field_types, "flags")
    seeded = {"seed"} if file.seeds else set()
    taken = sorted(set(extra) & (grid_keys | set(file.derived) | seeded))
    if taken:
        raise UserError(f"{', '.join(taken)}: set by the study's grid, derived settings or seeds, not a flag")
    if seeded & (set(settings) | set(file.derived)):
        raise UserError(f"{origin}: seed is set by seeds = {file.seeds!r}; leave it out of settings and derived")
    for key in file.table:
        if key not in grid_keys:
            raise UserError(f"{origin}: table key {key!r} is not a grid key ({', '.join(sorted(grid_keys))})")
    out_dir = Path(file.out_dir or Path("out") / path.stem)
    runs = []
    for part, template in zip(grid_parts, file.run_names):
        for values in itertools.product(*part.values()):
            grid_values = dict(zip(part, values))
            derived = derive(file.derived, grid_values, field_types, path)
            cell = run_name(template, grid_values, origin)
            for seed in file.seeds or [None]:
                name, seeded = (cell, {}) if seed is None else (f"{cell}_seed{seed}", {"seed": seed})
                run_settings = {**settings, **grid_values, **derived, **seeded, **extra}
                folder = str(out_dir / name)
                runs.append(StudyRun(name, folder, grid_values, run_settings, list(file.configs), seed, cell))
    check_unique_folders(runs)
    for run in runs:
        resolve_configs(run, config_classes)
    return Study(path.stem, path, file, out_dir, runs)


def check_key(key, field_types, origin):
    """key is a training setting that a study may set."""
    if key not in field_types:
        valid = ", ".join(sorted(field_types))
        raise UserError(f"unknown setting {key!r} ({origin}); valid keys: {valid}")
    if key in STUDY_OWNED:
        raise UserError(f"{key} is the study's to set ({origin}): each run trains in its own folder, init_from=auto")


def checked(key, value, field_types, origin):
    check_key(key, field_types, origin)
    return check_type(key, value, field_types[key])


def checked_settings(settings, field_types, origin):
    return {key: checked(key, value, field_types, origin) for key, value in settings.items()}


def check_derived(derived, grid_parts, field_types, origin):
    """Each derived setting is a setting, not a grid key, and takes grid keys (of every part) only."""
    for key, function in derived.items():
        check_key(key, field_types, f"{origin} derived")
        parameters = list(inspect.signature(function).parameters)
        for part in grid_parts:
            if key in part:
                raise UserError(f"{origin}: {key!r} is both a grid key and a derived setting")
            missing = [name for name in parameters if name not in part]
            if missing or not parameters:
                raise UserError(
                    f"{origin}: derived setting {key!r} takes {', '.join(missing) or 'no grid key'}, "
                    f"not a grid key ({', '.join(part)})"
                )


def derive(derived, grid_values, field_types, path):
    """The derived settings of one run, each its function of the run's grid values."""
    values = {}
    for key, function in derived.items():
        arguments = {name: grid_values[name] for name in inspect.signature(function).parameters}
        try:
            value = function(**arguments)
        except Exception as e:  # the user's code: its error as the line of the study file that raised it
            where = f"{path} line {config_error_line(e, path)}"
            message = f"{where}: derived setting {key!r} failed for {arguments}: {type(e).__name__}: {e}"
            raise UserError(message) from None
        values[key] = checked(key, value, field_types, f"study {path} derived")
    return values


def run_name(template, grid_values, origin):
    """The run's folder name: the template filled with the grid values' short texts, or key+value joined."""
    texts = {key: short_text(value) for key, value in grid_values.items()}
    if not template:
        return "_".join(f"{key}{text}" for key, text in texts.items())
    try:
        name = template.format(**texts)
    except (KeyError, IndexError, ValueError) as e:
        keys = ", ".join(texts)
        raise UserError(f"{origin}: run_name {template!r} names {e}, not a grid key of its part ({keys})") from None
    if not re.fullmatch(r"[\w.+=-]+", name):
        raise UserError(f"{origin}: run name {name!r} is not a plain folder name (letters, digits, . _ + = -)")
    return name


def check_unique_folders(runs):
    seen = {}
    for run in runs:
        if run.out_dir in seen:
            first = seen[run.out_dir]
            raise UserError(
                f"runs {first.grid_values} and {run.grid_values} would share out_dir {run.out_dir}: give run_name "
                "a field for every grid key that differs"
            )
        seen[run.out_dir] = run


def resolve_configs(run, config_classes):
    """The run's configs as train.py builds them from its arguments; a bad value, or a value that would not
    read back as given, is a one-line error naming the run."""
    try:
        read_back = read_settings(run.train_arguments(), *config_classes)
        run.model_config, run.train_config = build_configs(read_back, *config_classes)
    except UserError as e:
        raise UserError(f"run {run.name}: {e}") from None
    changed = [key for key, value in run.settings.items() if read_back[key] != value]
    if changed:
        raise UserError(f"run {run.name}: {', '.join(changed)} would not reach train.py as given (quote a string?)")
