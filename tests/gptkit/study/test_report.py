"""report.md's tables, read from evaluate.py's JSON (schema 1): each cell is the run's loss at that multiple of its
training length, and the pass-key accuracy its mean over depths; over several seeds, the mean, spread and standard
error worked out here by hand."""

import math

from gptkit.study.report import past_training_length, retrieval_section, val_loss_grid
from gptkit.study.runs import RunFacts


def evaluated_run(name, block_size, losses, passkey=None):
    """A finished run whose evaluation has losses {method: {length: (loss, se)}} and, for "none", pass-key
    points [(length, depth, accuracy)]."""

    def method(scaling, by_length):
        positions = [
            {"length": n, "windows": 4, "loss": loss, "se": se, "bins": []} for n, (loss, se) in by_length.items()
        ]
        points = [{"length": n, "depth": d, "trials": 2, "accuracy": a} for n, d, a in passkey or []]
        keys = {"passkey": {"trials": 2, "points": points} if passkey and scaling == "none" else None}
        return {"name": scaling, "positions": positions, "perplexity": None, "probe": None, **keys}

    evaluation = {"schema": 1, "methods": {scaling: method(scaling, by) for scaling, by in losses.items()}}
    config = {"model": {"block_size": block_size}}
    return RunFacts(name, f"out/{name}", {}, 10, 10, config, evaluation=evaluation)


def rows(lines, first_cell):
    return [
        [cell.strip() for cell in line.strip("|").split("|")] for line in lines if line.startswith(f"| {first_cell}")
    ]


def test_losses_and_pass_key_accuracy_by_multiple_of_the_training_length():
    short = evaluated_run("ctx32", 32, {"none": {32: (3.0, 0.01), 64: (3.5, None)}, "yarn": {64: (3.25, 0.02)}},
                          passkey=[(32, 0.0, 1.0), (32, 1.0, 0.5), (64, 0.0, 0.0), (64, 1.0, 0.25)])  # fmt: skip
    long = evaluated_run("ctx64", 64, {"none": {64: (2.5, 0.03), 256: (4.0, 0.04)}})
    lines = past_training_length([short, long])
    assert rows(lines, "cell") == [
        ["cell", "rope_scaling", "loss at 1x", "loss at 2x", "loss at 4x"],
        ["cell", "rope_scaling", "at 1x", "at 2x"],
    ]
    assert rows(lines, "ctx") == [
        ["ctx32", "none", "3.0000 ± 0.0100", "3.5000", "—"],
        ["ctx32", "yarn", "—", "3.2500 ± 0.0200", "—"],
        ["ctx64", "none", "2.5000 ± 0.0300", "—", "4.0000 ± 0.0400"],
        ["ctx32", "none", "0.750", "0.125"],  # the pass key: ctx64 measured none
    ]


def test_a_run_without_positions_has_no_table():
    run = evaluated_run("ctx32", 32, {"none": {}})
    run.evaluation["methods"]["none"]["positions"] = None
    assert past_training_length([run]) == []


def seeded_run(theta, seed, val_loss, losses, accuracies):
    """A finished run of cell theta<theta> at block size 32: its final val loss, its evaluation's losses
    {length: (loss, se)} (rope_scaling none) and retrieval accuracies {distance: (accuracy, se)}."""
    positions = [{"length": n, "windows": 4, "loss": loss, "se": se, "bins": []} for n, (loss, se) in losses.items()]
    points = [{"distance": d, "length": d + 10, "accuracy": a, "accuracy_se": se} for d, (a, se) in accuracies.items()]
    method = {"name": "none", "positions": positions, "retrieval": {"trials": 8, "points": points}, "passkey": None}
    config = {"model": {"block_size": 32}}
    records = [{"step": 10, "val_loss": val_loss}]
    name = f"theta{theta}"
    return RunFacts(f"{name}_seed{seed}", "out", {"rope_theta": theta, "block_size": 32}, 10, 10, config, records,
                    evaluation={"schema": 1, "methods": {"none": method}}, seed=seed, cell=name)  # fmt: skip


def by_hand(values, errors=None):
    """mean, sample standard deviation and sqrt((sd^2 + mean squared own error) / n), written out."""
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    own = sum(e * e for e in errors) / n if errors else 0.0
    return mean, sd, math.sqrt((sd * sd + own) / n)


def test_cells_show_the_mean_and_spread_of_their_seeds():
    runs = [
        seeded_run(100, 1, 2.10, {32: (2.0, 0.02), 64: (3.0, 0.04)}, {16: (0.5, 0.1), 40: (0.25, 0.05)}),
        seeded_run(100, 2, 2.16, {32: (2.1, 0.04), 64: (3.3, 0.02)}, {16: (0.75, 0.1), 40: (0.5, 0.05)}),
        seeded_run(100, 3, 2.05, {32: (2.3, 0.02), 64: (3.1, 0.02)}, {16: (1.0, 0.0), 40: (0.0, 0.0)}),
        seeded_run(1000, 1, 1.90, {32: (1.8, 0.03), 64: (2.5, 0.05)}, {16: (1.0, 0.0), 40: (0.75, 0.1)}),
    ]
    grid = {cells[0]: cells[1:] for cells in rows(val_loss_grid(runs, "rope_theta", "block_size"), "100")}
    mean, sd, se = by_hand([2.10, 2.16, 2.05])
    assert grid["100"] == [f"{mean:.4f} ± {se:.4f} (sd {sd:.4f}, 3 seeds)"]
    assert rows(val_loss_grid(runs, "rope_theta", "block_size"), "1000")[0][1] == "1.9000"  # one run: as it is
    past = {row[0]: row[2:] for row in rows(past_training_length(runs), "theta")}
    at_1x, at_2x = by_hand([2.0, 2.1, 2.3], [0.02, 0.04, 0.02]), by_hand([3.0, 3.3, 3.1], [0.04, 0.02, 0.02])
    assert past["theta100"] == [f"{at_1x[0]:.4f} ± {at_1x[2]:.4f}", f"{at_2x[0]:.4f} ± {at_2x[2]:.4f}"]
    assert past["theta1000"] == ["1.8000 ± 0.0300", "2.5000 ± 0.0500"]
    retrieval = {row[0]: row[1:] for row in rows(retrieval_section(runs), "theta")}
    near, far = by_hand([0.5, 0.75, 1.0], [0.1, 0.1, 0.0]), by_hand([0.25, 0.5, 0.0], [0.05, 0.05, 0.0])
    assert retrieval["theta100"] == [f"{near[0]:.3f} ± {near[2]:.3f}", f"{far[0]:.3f} ± {far[2]:.3f}"]
    assert retrieval["theta1000"] == ["1.000 ± 0.000", "0.750 ± 0.100"]
    assert rows(retrieval_section(runs), "cell") == [["cell", "16", "40*"]]  # 40: rows of 50 tokens > 32
