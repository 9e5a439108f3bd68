"""A run's model-index: each value is the run's own figure (the last validation loss, the loss at 2x and 4x the
training length for each scaling evaluated in evaluate.py's JSON, HellaSwag acc_norm). How the card keeps its
other metadata and text: tests/gptkit/interop/test_model_card.py."""

import yaml

from gptkit.interop.model_card import with_eval_results
from gptkit.study.model_index import eval_results
from gptkit.study.runs import RunFacts

CARD = "---\nlicense: mit\ntags:\n- gpt-from-scratch\n- starcoder2\n---\n\n# A model\n\nIts text.\n"


def run_facts(evaluation=None, hellaswag=None):
    records = [{"step": 10, "tokens": 100, "val_loss": 5.0}, {"step": 20, "tokens": 200, "val_loss": 4.123456}]
    if hellaswag is not None:
        records.append({"step": 20, "tokens": 200, "hellaswag_acc_norm": hellaswag})
    config = {"model": {"block_size": 64}, "train": {"data_dir": "data/python_stdlib", "hellaswag_limit": 0}}
    return RunFacts("ctx64", "out/s/ctx64", {}, 20, 20, config, records, evaluation=evaluation)


def metadata(card):
    _, front, body = card.split("---\n", 2)
    return yaml.safe_load(front), body


def metrics(card):
    (entry,) = metadata(card)[0]["model-index"]
    return {(m["type"], m.get("name")): m["value"] for result in entry["results"] for m in result["metrics"]}


def evaluation(losses):
    """evaluate.py's JSON (schema 1) with the losses {method: {length: loss}}; a method given {} measured no
    positions."""

    def method(name, by_length):
        positions = [{"length": n, "windows": 2, "loss": loss, "se": 0.1, "bins": []} for n, loss in by_length.items()]
        return {"name": name, "positions": positions or None, "perplexity": None, "probe": None, "passkey": None}

    methods = {name: method(name, by_length) for name, by_length in losses.items()}
    return {"schema": 1, "lengths": [64, 128, 256, 512], "methods": methods}


def test_the_metadata_holds_the_runs_figures():
    losses = {
        scaling: {64: 4.1 + i, 128: 4.5 + i, 256: 5.25 + i, 512: 9.0} for i, scaling in enumerate(("none", "yarn"))
    }
    losses["linear"] = {}  # measured no positions: no loss figure
    facts = run_facts(evaluation(losses), hellaswag=0.2961)
    card = with_eval_results(CARD, eval_results(facts), "someone/s-ctx64")
    assert metadata(card)[0]["model-index"][0]["name"] == "someone/s-ctx64"
    assert metrics(card) == {
        ("loss", "validation loss at 64 tokens"): 4.1235,
        ("loss", "loss at 2x context (128 tokens, rope_scaling none)"): 4.5,
        ("loss", "loss at 4x context (256 tokens, rope_scaling none)"): 5.25,
        ("loss", "loss at 2x context (128 tokens, rope_scaling yarn)"): 5.5,
        ("loss", "loss at 4x context (256 tokens, rope_scaling yarn)"): 6.25,
        ("acc_norm", None): 0.2961,
    }


def test_a_run_without_figures_has_no_results():
    facts = run_facts()
    facts.records = []
    assert eval_results(facts) == []
