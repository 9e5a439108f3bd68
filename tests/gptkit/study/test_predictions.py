"""gptkit/study/predictions.py on hand-made evaluations (no training): each verdict is the one worked out by hand
in the comments, agrees, disagrees and not resolved (a difference within twice its combined standard error)."""

import math

import pytest

from gptkit.study import rope_theory
from gptkit.study.cells import cells_of
from gptkit.study.predictions import AGREES, DISAGREES, UNRESOLVED, prediction_rows, verdict
from gptkit.study.runs import RunFacts


@pytest.mark.parametrize(
    "measured, se, region, expected",
    [
        (-0.5, 0.2, {"high": 0.0}, AGREES),  # -0.5 + 0.4 < 0
        (-0.5, 0.25, {"high": 0.0}, UNRESOLVED),  # -0.5 + 0.5 = 0: |d| <= 2 se
        (0.5, 0.25, {"high": 0.0}, UNRESOLVED),  # 0.5 - 0.5 = 0: |d| <= 2 se
        (0.5, 0.2, {"high": 0.0}, DISAGREES),  # 0.5 - 0.4 > 0
        (-0.5, None, {"high": 0.0}, UNRESOLVED),  # no error known
        (0.25, 0.0625, {"low": -0.5, "high": 0.5}, AGREES),  # [0.125, 0.375] inside (-0.5, 0.5)
        (0.25, 0.25, {"low": -0.5, "high": 0.5}, UNRESOLVED),  # [-0.25, 0.75] crosses 0.5
        (1.0, 0.125, {"low": -0.5, "high": 0.5}, DISAGREES),  # [0.75, 1.25] wholly above
    ],
)
def test_verdict_of_an_interval_against_the_predicted_region(measured, se, region, expected):
    assert verdict(measured, se, **region) == expected


L, LONG = 64, 256
HEAD = dict(n_embd=64, n_head=4)  # head size 16


def run(theta, seed, far, losses, bins):
    """A finished run at L = 64, head size 16: retrieval accuracy `far` at distances 48 and 56 (rows within L,
    standard error 0.05 each), losses {scaling: {length: (loss, se)}}, the loss-by-position bins of none at 256:
    [(start, end, loss)], standard error 0.01 each."""

    def points(far):
        near = {"distance": 16.0, "length": 30, "accuracy": 1.0, "accuracy_se": 0.0}
        far_points = [
            {"distance": d, "length": n, "accuracy": far, "accuracy_se": 0.05} for d, n in ((48.0, 62), (56.0, 64))
        ]
        past = {"distance": 128.0, "length": 142, "accuracy": 0.0, "accuracy_se": 0.0}
        return [near, *far_points, past]

    methods = {}
    for scaling, by_length in losses.items():
        positions = [
            {"length": n, "loss": loss, "se": se, "bins": [] if n < LONG or scaling != "none" else [
                {"start": a, "end": b, "loss": value, "se": 0.01} for a, b, value in bins]}
            for n, (loss, se) in by_length.items()
        ]  # fmt: skip
        retrieval = {"trials": 16, "points": points(far)} if scaling == "none" else None
        methods[scaling] = {"name": scaling, "positions": positions, "retrieval": retrieval, "passkey": None}
    evaluation = {"schema": 1, "lengths": [L, LONG], "methods": methods}
    model = dict(block_size=L, pos_emb="rope", rope_theta=theta, **HEAD)
    name = f"theta{theta:g}"
    return RunFacts(f"{name}_seed{seed}", "out", {"rope_theta": theta}, 10, 10, {"model": model},
                    evaluation=evaluation, seed=seed, cell=name)  # fmt: skip


def cell_runs(theta, far, none, linear, bins):
    """Two seeds: far accuracies, and per seed the losses of none and linear at (64, 256), standard error 0.02 at
    64 and 0.05 at 256 (0.1 and 0.01 where a tuple of the cell says so)."""
    return [run(theta, seed, far[i], {"none": none[i], "linear": linear[i]}, bins) for i, seed in enumerate((1, 2))]


def losses(at_l, at_long, se_long=0.05):
    return {L: (at_l, 0.02), LONG: (at_long, se_long)}


BINS = [(0, 32, 2.0), (32, 64, 1.5)]  # the reference: the last bin inside L, loss 1.5


def hand_made_cells():
    return cells_of(
        cell_runs(100.0, [0.1, 0.2], [losses(1.50, 3.0), losses(1.54, 3.2)], [losses(1.50, 2.0), losses(1.54, 2.2)],
                  BINS + [(64, 128, 1.8), (128, 181, 1.9), (181, 256, 2.0)])
        + cell_runs(1e4, [0.8, 0.9], [losses(1.49, 2.5, 0.1), losses(1.51, 2.5, 0.1)],
                    [losses(1.89, 2.45, 0.1), losses(1.91, 2.45, 0.1)],
                    BINS + [(64, 128, 1.8), (128, 181, 1.5), (181, 256, 1.5)])
        + cell_runs(1e6, [0.85, 0.95], [losses(1.50, 2.0, 0.01), losses(1.52, 2.0, 0.01)],
                    [losses(1.50, 2.6, 0.01), losses(1.52, 2.6, 0.01)],
                    BINS + [(64, 128, 1.51), (128, 181, 1.5), (181, 256, 1.51)])
    )  # fmt: skip


def test_each_prediction_gets_the_verdict_worked_out_by_hand():
    # the premise: at L = 64 and head size 16, theta 100 fails Men's condition, 1e4 and 1e6 pass
    assert [rope_theory.passes(theta, 16, L) for theta in (100.0, 1e4, 1e6)] == [False, True, True]
    rows = prediction_rows(hand_made_cells())
    verdicts = {(row[0], row[1]): row[-1] for row in rows}
    men = "L=64, head size 16: theta 100 (fails) vs 1e4, 1e6 (pass)"
    # far retrieval: a run's far accuracy has se sqrt(2 * 0.05^2) / 2 = 0.0354; theta 100: mean 0.15, sd 0.0707,
    # se sqrt((0.005 + 0.00125) / 2) = 0.0559; the passing cells 0.85 and 0.90 (se 0.0559 each) pool to 0.875 ±
    # 0.0395; difference -0.725 ± 0.0685: -0.725 + 0.137 < 0
    retrieval = next(row for row in rows if row[0].startswith("Men: far retrieval"))
    assert retrieval[1] == men and retrieval[3] == "0.150 ± 0.056 vs 0.875 ± 0.040: difference -0.725 ± 0.068"
    assert retrieval[4] == AGREES
    # the loss at L: 1.52 ± sqrt((0.0008 + 0.0004) / 2) = 0.0245 against (1.50 + 1.51) / 2 = 1.505 ± 0.0122;
    # 0.015 ± 0.0274: [-0.040, 0.070] crosses the tolerance 0.05
    assert verdicts[("Men: perplexity looks normal below the bound", men)] == UNRESOLVED
    # scaling at 4x: theta 100 -1.0 ± 0.15 (agrees); 1e4: -0.05 ± 0.1, within 2 se (not resolved); 1e6: +0.6 ± 0.01
    # (disagrees). At 1x: theta 100 0 ± 0.0346 reaches past 0.05; 1e4 +0.4 ± 0.0245; 1e6 0 ± 0.0245: 0.049 < 0.05
    scaling = [(row[1], row[2].split(" at ")[1], row[4]) for row in rows if row[0] == "Scaling (linear) vs none"]
    assert scaling == [
        ("theta100", "4x L", AGREES),
        ("theta100", "L up by < 0.05 nats", UNRESOLVED),
        ("theta10000", "4x L", UNRESOLVED),
        ("theta10000", "L up by < 0.05 nats", DISAGREES),
        ("theta1e+06", "4x L", DISAGREES),
        ("theta1e+06", "L up by < 0.05 nats", AGREES),
    ]
    # Liu: the reference bin 32-63 has loss 1.5 ± 0.0071 (two seeds, 0.01 each); theta 100's T_extra (about 112)
    # lies in its onset bin 64-127: agrees; theta 1e4's (about 199) is more than a factor sqrt(2) past bin 64-127:
    # disagrees; theta 1e6 rises by no more than 0.02 = 2 x 0.01 up to 256 < 1.41 x 199: not resolved
    limits = [rope_theory.extrapolation_limit(theta, 16, L) for theta in (100.0, 1e4, 1e6)]
    assert 79 < limits[0] / math.sqrt(2) < 128 and limits[1] / math.sqrt(2) > 128 and limits[2] * math.sqrt(2) > 256
    liu = [(row[1], row[3], row[4]) for row in rows if row[0].startswith("Liu")]
    assert liu == [
        ("theta100", "onset at 64 tokens (bin 64-127)", AGREES),
        ("theta10000", "onset at 64 tokens (bin 64-127)", DISAGREES),
        ("theta1e+06", "no onset up to 256 tokens", UNRESOLVED),
    ]
