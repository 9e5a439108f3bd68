"""A run's model-index: each value is the run's own figure (the last validation loss, the loss at 2x and 4x the
training length for each scaling evaluated, HellaSwag acc_norm), and the card's other metadata and text stay."""

import yaml

from gptkit.study.model_index import with_model_index
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


def test_the_metadata_holds_the_runs_figures_and_keeps_the_card():
    lengths = {
        scaling: {"64": {"loss": 4.1 + i}, "128": {"loss": 4.5 + i}, "256": {"loss": 5.25 + i}, "512": {"loss": 9.0}}
        for i, scaling in enumerate(("none", "yarn"))
    }
    card = with_model_index(CARD, run_facts({"lengths": lengths}, hellaswag=0.2961), "someone/s-ctx64")
    front, body = metadata(card)
    assert body == metadata(CARD)[1] and front["license"] == "mit" and front["tags"] == metadata(CARD)[0]["tags"]
    assert front["model-index"][0]["name"] == "someone/s-ctx64"
    assert metrics(card) == {
        ("loss", "validation loss at 64 tokens"): 4.1235,
        ("loss", "loss at 2x context (128 tokens, rope_scaling none)"): 4.5,
        ("loss", "loss at 4x context (256 tokens, rope_scaling none)"): 5.25,
        ("loss", "loss at 2x context (128 tokens, rope_scaling yarn)"): 5.5,
        ("loss", "loss at 4x context (256 tokens, rope_scaling yarn)"): 6.25,
        ("acc_norm", None): 0.2961,
    }


def test_a_run_without_figures_keeps_the_card_as_it_was():
    facts = run_facts()
    facts.records = []
    assert with_model_index(CARD, facts, "someone/s-ctx64") == CARD
