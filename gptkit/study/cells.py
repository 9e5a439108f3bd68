"""
A study's cells and the noise of a number across a cell's runs.

A cell is one point of the grid: its runs differ only in their seed (one run per seed; a study without seeds has
one run per cell). A number measured in each run of a cell becomes an Estimate: the mean over the runs, their
spread (the sample standard deviation, n - 1 in the denominator) and the standard error of the mean. Every run
of a study is evaluated on the same rows (windows, probe rows), so the spread across seeds leaves out how those
rows were drawn; the standard error adds each run's own standard error across its rows back in:

    se = sqrt((spread^2 + mean of the runs' own se^2) / n)

(one run: its own standard error; none known: None). A difference of two estimates carries the combined
standard error sqrt(se_a^2 + se_b^2).

The invariant the tests check: the mean, spread and standard error equal these formulas over the runs' numbers.
"""

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Cell:
    name: str
    grid_values: dict
    runs: list  # RunFacts, one per seed

    @property
    def model(self):
        return self.runs[0].model


def cells_of(runs):
    """The cells of runs (RunFacts), in the order of their first run."""
    cells = {}
    for run in runs:
        name = run.cell or run.name
        cells.setdefault(name, Cell(name, run.grid_values, []))
        cells[name].runs.append(run)
    return list(cells.values())


@dataclass
class Estimate:
    mean: float
    spread: float | None  # sample standard deviation across the runs; None for one run
    se: float | None  # standard error of the mean; None when nothing tells it
    n: int

    def text(self, form=".4f"):
        """'1.2345 ± 0.0123' (the standard error; '1.2345' where none is known)."""
        return format(self.mean, form) + ("" if self.se is None else f" ± {self.se:{form}}")

    def with_spread(self, form=".4f"):
        """'1.2345 ± 0.0123 (sd 0.0174, 2 seeds)': the spread too, where there are several runs."""
        return self.text(form) + ("" if self.spread is None else f" (sd {self.spread:{form}}, {self.n} seeds)")


def estimate(values, errors=None):
    """The Estimate of one number measured in each run of a cell; errors: each run's own standard error (None
    where unknown). None when no run measured it (values None)."""
    errors = errors or [None] * len(values)
    kept = [(value, error) for value, error in zip(values, errors) if value is not None]
    if not kept:
        return None
    numbers = np.array([value for value, _ in kept], dtype=np.float64)
    own = [error for _, error in kept if error is not None]
    n = len(numbers)
    spread = float(np.std(numbers, ddof=1)) if n > 1 else None
    if spread is None and not own:
        se = None
    else:
        own_variance = float(np.mean(np.square(own))) if own else 0.0
        se = math.sqrt(((spread or 0.0) ** 2 + own_variance) / n)
    return Estimate(float(numbers.mean()), spread, se, n)


def pooled(estimates):
    """The mean of several cells' estimates, its standard error from theirs (None if any is unknown)."""
    mean = float(np.mean([e.mean for e in estimates]))
    errors = [e.se for e in estimates]
    se = None if None in errors else math.sqrt(sum(s * s for s in errors)) / len(estimates)
    return Estimate(mean, None, se, sum(e.n for e in estimates))


def difference(a, b):
    """(a - b, its combined standard error or None)."""
    se = None if a.se is None or b.se is None else math.hypot(a.se, b.se)
    return a.mean - b.mean, se
