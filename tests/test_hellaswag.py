"""hellaswag.py: a transformers folder and a checkpoint of the same weights score alike, two processes score as one,
and what a user sees of a bad input (bad examples files: tests/test_hellaswag_bad_input.py)."""

import json
import sys
from dataclasses import asdict

import pytest
import torch

from conftest import assert_one_line_error, run_command, run_script
from gptkit.checkpointing.checkpoint import save_checkpoint
from model import GPT


@pytest.fixture(scope="module")
def same_weights(tmp_path_factory):
    """(folder, checkpoint): a random transformers GPT-2 and the checkpoint of the same weights."""
    transformers = pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("same_weights")
    torch.manual_seed(0)
    hf_model = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=64))
    hf_model.save_pretrained(root / "hf")
    model = GPT.from_pretrained(str(root / "hf"))
    save_checkpoint(root / "ckpt.pt", {"model": model.state_dict(), "model_config": asdict(model.config)})
    return root / "hf", root / "ckpt.pt"


def scores(examples_file, out, *source):
    """hellaswag.py's JSON result for the model of source (--hf FOLDER or --checkpoint FILE), in this process."""
    run_command("hellaswag.py", *source, "--data", examples_file, "--device", "cpu", "--json", out)
    return json.loads(out.read_text())


def test_hf_folder_and_checkpoint_of_the_same_weights_agree(same_weights, examples_file, tmp_path):
    folder, checkpoint = same_weights
    through_hf = scores(examples_file, tmp_path / "hf.json", "--hf", folder)
    through_checkpoint = scores(examples_file, tmp_path / "checkpoint.json", "--checkpoint", checkpoint)
    assert through_hf["predictions"] == through_checkpoint["predictions"]
    assert through_hf["examples"] == 4


@pytest.mark.integration
def test_two_processes_score_as_one(same_weights, examples_file, tmp_path):
    _, checkpoint = same_weights
    one_process = scores(examples_file, tmp_path / "one.json", "--checkpoint", checkpoint)
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
    options = ("--data", examples_file, "--device", "cpu", "--json", tmp_path / "two.json")
    result = run_script("hellaswag.py", "--checkpoint", checkpoint, *options, launcher=torchrun)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "two.json").read_text()) == one_process  # examples split, gathered back in order


def test_missing_hellaswag_file_is_a_one_line_error(same_weights, tmp_path):
    result = run_script("hellaswag.py", "--checkpoint", same_weights[1], "--data", tmp_path / "none.jsonl")
    assert_one_line_error(result, f"HellaSwag file {tmp_path / 'none.jsonl'} not found")
