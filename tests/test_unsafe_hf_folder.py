"""A transformers folder whose weights are a pickle that would run code is refused in one line by every command
that loads GPT-2 weights, and the code never runs (issue 11, item 7)."""

import json
import os

import pytest
import torch

from conftest import SINGLE_THREAD, TINY_RUN, assert_one_line_error, byte_shards, run_script

transformers = pytest.importorskip("transformers")


class RunsCode:
    """Unpickling this calls os.system: what a malicious pytorch_model.bin does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def unsafe_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unsafe_gpt2")
    config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=64, vocab_size=50257)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    (folder / "model.safetensors").unlink()
    torch.save({"transformer.wte.weight": RunsCode(folder / "code_ran")}, folder / "pytorch_model.bin")
    return folder


def test_every_loader_refuses_the_pickle(unsafe_folder, tmp_path):
    data = tmp_path / "examples.jsonl"
    data.write_text(json.dumps({"ctx": "A boy", "label": 0, "endings": ["runs.", "sits."]}) + "\n")
    data_dir = byte_shards(tmp_path / "data", documents=2)
    commands = {
        "train.py": [*TINY_RUN, f"--init_from={unsafe_folder}", f"--data_dir={data_dir}", f"--out_dir={tmp_path}"],
        "sample.py": ["--hf", unsafe_folder, "--device", "cpu"],
        "hellaswag.py": ["--hf", unsafe_folder, "--data", data, "--device", "cpu"],
    }
    for script, args in commands.items():
        result = run_script(script, *args, env=SINGLE_THREAD)
        assert_one_line_error(result, f"weights ({unsafe_folder}) are not a safe checkpoint", "prefer safetensors")
    assert not (unsafe_folder / "code_ran").exists()
    assert not (tmp_path / "ckpt.pt").exists()
