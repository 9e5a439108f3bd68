"""The report's steps to reach: the target is the lowest final validation loss among the finished baseline runs,
and each run's steps to it come from its own validation curve."""

from types import SimpleNamespace

import pytest

from gptkit.study.reach import reach_target
from gptkit.study.runs import RunFacts


def study_of(optimizers, reach_baseline):
    runs = [SimpleNamespace(model_config=SimpleNamespace(n_layer=2), train_config=SimpleNamespace(optimizer=o))
            for o in optimizers]  # fmt: skip
    return SimpleNamespace(file=SimpleNamespace(reach_baseline=reach_baseline), runs=runs)


def facts(name, curve, finished=True):
    records = [{"step": step, "tokens": 100 * step, "val_loss": loss} for step, loss in curve]
    return RunFacts(name, f"out/{name}", {}, 300, 300 if finished else 100, records=records)


def test_the_target_is_the_best_finished_baseline_and_each_run_reaches_it_on_its_own_curve():
    runs = [
        facts("adamw_a", [(100, 3.0), (200, 2.4), (300, 2.2)]),
        facts("adamw_b", [(100, 2.9), (200, 2.3), (300, 2.0)]),
        facts("adamw_c", [(100, 1.5)], finished=False),  # lower, but not finished: not a baseline
        facts("muon", [(100, 2.5), (200, 1.8), (300, 1.6)]),
    ]
    study = study_of(["adamw", "adamw", "adamw", "muon"], {"optimizer": "adamw"})
    assert reach_target(study, runs) == (2.0, "adamw_b", 300)
    # muon: 2.5 at step 100, 1.8 at step 200; 2.0 lies 5/7 of the way
    assert [run.steps_to_reach for run in runs] == [None, 300, 100, pytest.approx(100 + 100 * 5 / 7)]


def test_no_baseline_or_none_finished_no_column():
    runs = [facts("adamw", [(100, 2.0)], finished=False), facts("muon", [(100, 1.0)])]
    assert reach_target(study_of(["adamw", "muon"], {"optimizer": "adamw"}), runs) is None
    assert reach_target(study_of(["adamw", "muon"], {}), runs) is None
    assert [run.steps_to_reach for run in runs] == [None, None]
