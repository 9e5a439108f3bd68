"""gptkit/study/cells.py: the runs of a cell are those that differ only in seed, and a cell's mean, spread and
standard error equal their formulas computed here by hand."""

import math

import pytest

from gptkit.study.cells import Estimate, cells_of, difference, estimate, pooled
from gptkit.study.runs import RunFacts


def test_runs_that_differ_only_in_seed_are_one_cell_in_order():
    runs = [
        RunFacts(f"theta{t}_seed{s}", f"out/{t}_{s}", {"rope_theta": t}, 10, 10, seed=s, cell=f"theta{t}")
        for t in (100, 1000)
        for s in (1, 2)
    ]
    runs.append(RunFacts("lone", "out/lone", {"rope_theta": 5}, 10, 10))  # no seeds: a cell of its own name
    cells = cells_of(runs)
    assert [(c.name, [r.seed for r in c.runs]) for c in cells] == [
        ("theta100", [1, 2]),
        ("theta1000", [1, 2]),
        ("lone", [None]),
    ]


def test_mean_spread_and_standard_error_over_seeds():
    e = estimate([1.0, 1.2, 1.7], [0.1, 0.3, 0.2])
    mean = (1.0 + 1.2 + 1.7) / 3
    spread = math.sqrt(((1.0 - mean) ** 2 + (1.2 - mean) ** 2 + (1.7 - mean) ** 2) / 2)
    se = math.sqrt((spread**2 + (0.01 + 0.09 + 0.04) / 3) / 3)
    assert (e.mean, e.spread, e.se, e.n) == (pytest.approx(mean), pytest.approx(spread), pytest.approx(se), 3)
    assert e.with_spread() == f"{mean:.4f} ± {se:.4f} (sd {spread:.4f}, 3 seeds)"


def test_one_run_keeps_its_own_error_and_unknown_errors_count_as_none():
    assert estimate([2.0], [0.3]) == Estimate(2.0, None, 0.3, 1)
    assert estimate([2.0]) == Estimate(2.0, None, None, 1)
    assert estimate([2.0]).text() == "2.0000" and estimate([2.0], [0.3]).with_spread() == "2.0000 ± 0.3000"
    no_errors = estimate([1.0, 3.0])
    assert no_errors.spread == pytest.approx(math.sqrt(2)) and no_errors.se == pytest.approx(1.0)
    assert estimate([None, 4.0], [None, 0.5]) == Estimate(4.0, None, 0.5, 1)  # a run that did not measure it
    assert estimate([None]) is None


def test_pooled_and_difference_combine_standard_errors():
    a, b = Estimate(1.0, None, 0.3, 2), Estimate(2.0, None, 0.4, 2)
    both = pooled([a, b])
    assert both.mean == 1.5 and both.se == pytest.approx(0.5 / 2) and both.n == 4
    assert difference(a, b) == (-1.0, pytest.approx(0.5))
    assert difference(a, Estimate(2.0, None, None, 1)) == (-1.0, None)
