"""report.md's tables past the training length, read from evaluate.py's JSON (schema 1): each cell is the run's
loss at that multiple of its training length, and the pass-key accuracy its mean over depths."""

from gptkit.study.report import past_training_length
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
    assert rows(lines, "run") == [
        ["run", "rope_scaling", "loss at 1x", "loss at 2x", "loss at 4x"],
        ["run", "rope_scaling", "at 1x", "at 2x"],
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
