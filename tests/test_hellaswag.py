import json
import sys
from dataclasses import asdict

import pytest
import torch

from conftest import run_script
from gptkit.checkpointing.checkpoint import save_checkpoint
from model import GPT


def test_hf_folder_and_checkpoint_of_the_same_weights_agree(examples_file, tmp_path):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    hf_model = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=64))
    hf_model.save_pretrained(tmp_path / "hf")
    model = GPT.from_pretrained(str(tmp_path / "hf"))
    save_checkpoint(tmp_path / "ckpt.pt", {"model": model.state_dict(), "model_config": asdict(model.config)})

    def run(*source, launcher=(sys.executable,)):
        out = tmp_path / f"{source[0][2:]}{len(launcher)}.json"
        options = ("--data", examples_file, "--device", "cpu", "--json", out)
        result = run_script("hellaswag.py", *source, *options, launcher=launcher)
        assert result.returncode == 0, result.stderr[-2000:]
        return json.loads(out.read_text())

    through_hf = run("--hf", str(tmp_path / "hf"))
    through_checkpoint = run("--checkpoint", str(tmp_path / "ckpt.pt"))
    assert through_hf["predictions"] == through_checkpoint["predictions"]
    assert through_hf["examples"] == 4
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
    two_processes = run("--checkpoint", str(tmp_path / "ckpt.pt"), launcher=torchrun)
    assert two_processes == through_checkpoint  # examples split across ranks, gathered back in order


def test_missing_hellaswag_file_is_a_one_line_error(tmp_path):
    result = run_script("hellaswag.py", "--hf", "gpt2", "--data", tmp_path / "none.jsonl")
    assert result.returncode == 1 and result.stderr.strip().startswith("error: ")
