"""A study file expands to its runs: the grid's combinations in order, names from the template, derived settings,
and train.py arguments that read back to the same settings; bad input is one UserError before anything runs."""

import textwrap

import pytest

from gptkit.config import TrainConfig, read_settings
from gptkit.errors import UserError
from gptkit.study.spec import read_study, short_text
from model import GPTConfig

THETA_STUDY = """
configs = []
settings = {"pos_emb": "rope", "max_iters": 10}
grid = {"block_size": [64, 256], "rope_theta": [1e4, 5e5, 2e6]}
derived = {"micro_batch_size": lambda block_size: 1024 // block_size}
run_name = "ctx{block_size}_theta{rope_theta}"
"""


def study_file(tmp_path, text, name="a_study.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def read(path, *overrides):
    return read_study(path, list(overrides), GPTConfig, TrainConfig)


def test_the_grid_expands_in_order_with_names_and_derived_settings(tmp_path):
    study = read(study_file(tmp_path, THETA_STUDY))
    assert [run.name for run in study.runs] == [
        "ctx64_theta1e4",
        "ctx64_theta5e5",
        "ctx64_theta2e6",
        "ctx256_theta1e4",
        "ctx256_theta5e5",
        "ctx256_theta2e6",
    ]
    assert study.name == "a_study" and str(study.out_dir) == "out/a_study"
    for run in study.runs:
        assert run.out_dir == f"out/a_study/{run.name}"
        assert run.train_config.micro_batch_size == 1024 // run.model_config.block_size
        assert run.model_config.rope_theta == run.grid_values["rope_theta"] and run.train_config.max_iters == 10
        assert run.train_arguments()[-2:] == [f"--out_dir={run.out_dir}", "--init_from=auto"]


def test_train_arguments_read_back_as_the_runs_settings(tmp_path):
    study = read(study_file(tmp_path, THETA_STUDY), "--learning_rate=1e-3")
    for run in study.runs:
        read_back = read_settings(run.train_arguments(), GPTConfig, TrainConfig)
        assert read_back == {**run.settings, "out_dir": run.out_dir, "init_from": "auto"}
        assert read_back["learning_rate"] == 1e-3


def test_a_list_of_grids_runs_each_part_with_its_own_name(tmp_path):
    text = """
    grid = [{"optimizer": ["adamw"], "learning_rate": [1e-3, 2e-3]}, {"optimizer": ["muon"], "learning_rate": [2e-3],
             "muon_lr": [0.01]}]
    derived = {"min_lr": lambda learning_rate: learning_rate / 10}
    run_name = ["adamw_lr{learning_rate}", "muon_lr{muon_lr}"]
    """
    study = read(study_file(tmp_path, text))
    assert [run.name for run in study.runs] == ["adamw_lr0.001", "adamw_lr0.002", "muon_lr0.01"]
    assert [run.train_config.min_lr for run in study.runs] == [1e-3 / 10, 2e-3 / 10, 2e-3 / 10]
    assert study.runs[2].train_config.optimizer == "muon" and study.grid_keys == [
        "optimizer",
        "learning_rate",
        "muon_lr",
    ]


def test_without_a_template_the_name_is_keys_and_values(tmp_path):
    study = read(study_file(tmp_path, 'grid = {"n_layer": [1, 2], "lr_schedule": ["wsd"]}'))
    assert [run.name for run in study.runs] == ["n_layer1_lr_schedulewsd", "n_layer2_lr_schedulewsd"]


def test_n_seeds_are_n_runs_per_cell_each_in_its_own_folder(tmp_path):
    study = read(study_file(tmp_path, THETA_STUDY + "seeds = [1337, 7]\n"))
    cells = ["ctx64_theta1e4", "ctx64_theta5e5", "ctx64_theta2e6", "ctx256_theta1e4", "ctx256_theta5e5"]
    cells.append("ctx256_theta2e6")
    assert [run.name for run in study.runs] == [f"{cell}_seed{seed}" for cell in cells for seed in (1337, 7)]
    assert [run.cell for run in study.runs] == [cell for cell in cells for _ in (1337, 7)]
    assert len({run.out_dir for run in study.runs}) == 12
    for run in study.runs:
        assert run.out_dir == f"out/a_study/{run.name}" and run.train_config.seed == run.seed
        assert f"--seed={run.seed}" in run.train_arguments()
    first, second = study.runs[:2]
    assert {k: v for k, v in first.settings.items() if k != "seed"} == {
        k: v for k, v in second.settings.items() if k != "seed"
    }  # a cell's runs differ in their seed alone
    without = read(study_file(tmp_path, THETA_STUDY))
    assert [run.seed for run in without.runs] == [None] * 6 and without.runs[0].cell == "ctx64_theta1e4"


@pytest.mark.parametrize(
    "value, text", [(1e4, "1e4"), (5e5, "5e5"), (2e6, "2e6"), (0.002, "0.002"), (1e-5, "1e-5"), (1024, "1024")]
)
def test_short_texts(value, text):
    assert short_text(value) == text


BAD_STUDIES = [
    ('grid = {"blok_size": [64]}', "unknown setting 'blok_size'"),
    ("grid = {}", "grid is empty"),
    ('grid = {"block_size": []}', "needs a non-empty list"),
    ('grid = {"block_size": ["64"]}', "'block_size' must be int"),
    ('grid = {"block_size": [64]}\nderived = {"micro_batch_size": lambda blok_size: 4}', "takes blok_size"),
    ('grid = {"block_size": [64]}\nderived = {"micro_batch_size": lambda: 4}', "takes no grid key"),
    ('grid = {"block_size": [64, 128], "n_layer": [1, 2]}\nrun_name = "ctx{block_size}"', "would share out_dir"),
    ('grid = {"block_size": [64]}\nrun_name = "ctx{context}"', "names 'context'"),
    ('grid = {"block_size": [64]}\nsettings = {"out_dir": "x"}', "out_dir is the study's to set"),
    ('grid = {"block_size": [64]}\ngird = 1', "unknown config key 'gird'"),
    ('grid = {"block_size": [64]}\nsettings = {"learning_rate": -1.0}', "run block_size64: bad training settings"),
    ('grid = {"block_size": [64]}\ntable = ["block_size", "n_layer"]', "table key 'n_layer' is not a grid key"),
    ('grid = {"block_size": [64]}\nseeds = 1337', "config key 'seeds' must be list, got 1337"),
    ('grid = {"block_size": [64]}\nseeds = [1337, "1338"]', "seeds must be a list of distinct ints"),
    ('grid = {"block_size": [64]}\nseeds = [1.0, 2.0]', "seeds must be a list of distinct ints"),
    ('grid = {"block_size": [64]}\nseeds = [True]', "seeds must be a list of distinct ints"),
    ('grid = {"block_size": [64]}\nseeds = [3, 3]', "seeds must be a list of distinct ints"),
    ('grid = {"block_size": [64], "seed": [1, 2]}', "seed is not a grid key: give seeds = [...]"),
    ('grid = {"block_size": [64]}\nseeds = [1, 2]\nsettings = {"seed": 3}', "seed is set by seeds = [1, 2]"),
]


@pytest.mark.parametrize("text, message", BAD_STUDIES, ids=[m for _, m in BAD_STUDIES])
def test_bad_studies_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("[", r"\[")):
        read(study_file(tmp_path, text))
    assert not (tmp_path / "out").exists()


def test_an_error_in_the_file_or_in_a_derived_function_names_the_file_and_line(tmp_path):
    path = study_file(tmp_path, 'grid = {"block_size": [64]}\nx = 1 / 0\n')
    with pytest.raises(UserError, match=f"{path} line 2: ZeroDivisionError"):
        read(path)
    path = study_file(
        tmp_path, 'grid = {"block_size": [64]}\nderived = {\n  "n_layer": lambda block_size: 1 // 0,\n}\n'
    )
    with pytest.raises(UserError, match=f"{path} line 3: derived setting 'n_layer' failed"):
        read(path)


def test_a_flag_may_not_override_the_grid(tmp_path):
    with pytest.raises(UserError, match="block_size: set by the study's grid"):
        read(study_file(tmp_path, THETA_STUDY), "--block_size=128")
    with pytest.raises(UserError, match="unknown setting 'max_iter'"):
        read(study_file(tmp_path, THETA_STUDY), "--max_iter=3")
    with pytest.raises(UserError, match="seed: set by the study's grid, derived settings or seeds"):
        read(study_file(tmp_path, THETA_STUDY + "seeds = [1, 2]\n"), "--seed=3")
