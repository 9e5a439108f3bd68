"""hellaswag.py refuses a broken examples file in one line (issue 11, item 5), and scores a model of any tokenizer
in its own tokens (issue 27, item 4). hellaswag.py runs in this process; what a user sees of a refusal:
tests/test_hellaswag.py."""

import json
import re
from dataclasses import asdict

import pytest

from conftest import one_line_refusal, run_command, tiny_gpt
from gptkit.checkpointing.checkpoint import save_checkpoint

EXAMPLE = {"ctx": "A boy ties his shoes, then he", "label": 0, "endings": ["runs.", "melts.", "orbits.", "eats."]}


def tiny_checkpoint(path, vocab_size, tokenizer):
    model = tiny_gpt(vocab_size=vocab_size, n_layer=1, n_head=2, n_embd=16)
    save_checkpoint(path, {"model": model.state_dict(), "model_config": asdict(model.config), "tokenizer": tokenizer})
    return path


@pytest.fixture(scope="module")
def gpt2_checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("gpt2") / "ckpt.pt", 50304, "gpt2")


@pytest.mark.parametrize(
    "lines,expected",
    [
        ([json.dumps(EXAMPLE), '{"ctx": "a", '], ":2: not a JSON line"),
        ([json.dumps({"ctx": "a", "label": 0})], ":1: not a HellaSwag example (no endings)"),
        ([], " holds no HellaSwag examples"),
        ([json.dumps({**EXAMPLE, "label": 7})], ":1: not a HellaSwag example (label must be the index of an ending"),
    ],
)
def test_broken_examples_file_names_file_and_line(gpt2_checkpoint, tmp_path, lines, expected):
    data = tmp_path / "examples.jsonl"
    data.write_text("".join(line + "\n" for line in lines))
    with one_line_refusal(re.escape(f"{data}{expected}")):
        run_command("hellaswag.py", "--checkpoint", gpt2_checkpoint, "--data", data, "--device", "cpu")


def test_a_byte_level_model_is_scored_in_bytes(tmp_path):  # no longer refused: any tokenizer is the model's own
    checkpoint = tiny_checkpoint(tmp_path / "ckpt.pt", 257, "bytes")
    data = tmp_path / "examples.jsonl"
    data.write_text(json.dumps(EXAMPLE) + "\n")
    printed = run_command(
        "hellaswag.py", "--checkpoint", checkpoint, "--data", data, "--device", "cpu", "--json", tmp_path / "r.json"
    )
    assert "over 1 examples" in printed
    assert json.loads((tmp_path / "r.json").read_text())["examples"] == 1
