"""core.py: the CORE score of a checkpoint of any tokenizer on a bundle given as a folder, printed and written as
JSON; a missing bundle or a bad flag is one line and writes nothing."""

import json
from dataclasses import asdict

import pytest

import core
from conftest import CORE_BUNDLE, assert_one_line_error, run_command, run_script, tiny_gpt
from gptkit.checkpointing.checkpoint import save_checkpoint
from gptkit.errors import UserError


@pytest.fixture(scope="module")
def byte_checkpoint(tmp_path_factory):
    """A byte-level model's checkpoint, whose context (32) is shorter than most prompts."""
    model = tiny_gpt(n_head=2, vocab_size=257, block_size=32)
    path = tmp_path_factory.mktemp("bytes") / "ckpt.pt"
    save_checkpoint(path, {"model": model.state_dict(), "model_config": asdict(model.config), "tokenizer": "bytes"})
    return path


def test_the_score_is_printed_and_written_as_the_mean_of_the_centred_accuracies(byte_checkpoint, tmp_path):
    flags = ("--checkpoint", byte_checkpoint, "--bundle", CORE_BUNDLE, "--device", "cpu")
    printed = run_command("core.py", *flags, "--json", tmp_path / "core.json")
    written = json.loads((tmp_path / "core.json").read_text())
    assert list(written["tasks"]) == ["toy_choice", "toy_schema", "toy_completion", "toy_answer"]
    baselines = {"toy_choice": 25, "toy_schema": 50, "toy_completion": 0, "toy_answer": 0}
    for label, task in written["tasks"].items():
        assert task["centred"] == pytest.approx(
            (task["accuracy"] - baselines[label] / 100) / (1 - baselines[label] / 100)
        )
    assert written["core"] == pytest.approx(sum(t["centred"] for t in written["tasks"].values()) / 4)
    assert f"CORE {written['core']:.4f} over 4 tasks" in printed
    assert [t["examples"] for t in written["tasks"].values()] == [5, 3, 4, 3]


def test_max_per_task_scores_the_first_examples_of_each_task(byte_checkpoint, tmp_path):
    flags = ["--checkpoint", byte_checkpoint, "--bundle", CORE_BUNDLE, "--device", "cpu", "--max_per_task", "3"]
    core.main([*map(str, flags), "--json", str(tmp_path / "core.json")])
    written = json.loads((tmp_path / "core.json").read_text())
    assert [t["examples"] for t in written["tasks"].values()] == [3, 3, 3, 3]


def test_a_missing_bundle_is_one_line_and_nothing_is_written(byte_checkpoint, tmp_path):
    flags = ("--checkpoint", byte_checkpoint, "--bundle", tmp_path / "none", "--json", tmp_path / "core.json")
    result = run_script("core.py", *flags, "--device", "cpu")
    assert_one_line_error(result, f"CORE bundle {tmp_path / 'none'} not found")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--max_per_task", "-1"], "--max_per_task must be >= 0, got -1"),
        (["--max_per_task", "2"], "task 'toy_answer' shows 2 other examples before each of its 2"),
    ],
)
def test_bad_flags_are_one_line_and_nothing_is_written(byte_checkpoint, tmp_path, flags, message):
    argv = ["--checkpoint", str(byte_checkpoint), "--bundle", str(CORE_BUNDLE), "--json", str(tmp_path / "c.json")]
    with pytest.raises(UserError, match=message):
        core.main(argv + flags)
    assert list(tmp_path.iterdir()) == []
