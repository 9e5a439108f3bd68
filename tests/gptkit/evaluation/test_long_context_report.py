"""The views of evaluate.py's JSON that a study's report, figures and model card read: the methods that measured
a part, a method's loss-by-position bins out to its longest length, and pass-key accuracy by length."""

from gptkit.evaluation.long_context_report import methods_with, passkey_by_length, position_bins


def bins(end, loss):
    return [{"start": 0, "end": end // 2, "loss": loss, "se": 0.1}, {"start": end // 2, "end": end, "loss": loss}]


RESULT = {
    "schema": 1,
    "lengths": [32, 64],
    "methods": {
        "none": {
            "name": "none",
            "positions": [{"length": 64, "bins": bins(64, 4.0)}, {"length": 32, "bins": bins(32, 3.0)}],
            "perplexity": None,
            "probe": {"points": []},
            "passkey": {
                "trials": 2,
                "points": [
                    {"length": 32, "depth": 0.0, "accuracy": 1.0},
                    {"length": 32, "depth": 1.0, "accuracy": 0.5},
                    {"length": 64, "depth": 0.0, "accuracy": 0.0},
                    {"length": 64, "depth": 1.0, "accuracy": 0.5},
                ],
            },  # fmt: skip
        },
        "yarn": {"name": "yarn", "positions": None, "perplexity": [{"length": 32}], "probe": None, "passkey": None},
    },
}


def test_the_methods_that_measured_a_part_in_order():
    assert methods_with(RESULT, "positions") == {"none": RESULT["methods"]["none"]["positions"]}
    assert methods_with(RESULT, "perplexity") == {"yarn": [{"length": 32}]}
    assert list(methods_with(RESULT, "probe")) == ["none"]  # measured, no point: still measured
    assert methods_with({"methods": {}}, "positions") == {}


def test_position_bins_reach_the_longest_length():
    assert position_bins(RESULT, "none") == bins(64, 4.0)
    assert position_bins(RESULT, "yarn") == [] and position_bins(RESULT, "linear") == []


def test_pass_key_accuracy_is_the_mean_over_depths():
    assert passkey_by_length(RESULT["methods"]["none"]["passkey"]) == {32: 0.75, 64: 0.25}
