"""A transformers folder whose weights are a pickle that would run code is refused in one line by every command
that loads GPT-2 weights, and the code never runs (issue 11, item 7). train.py refuses it after taking the run
lock, so as a user runs it; sample.py and hellaswag.py in this process."""

import json
import os
import re

import pytest
import torch

from conftest import SINGLE_THREAD, TINY_RUN, assert_one_line_error, one_line_refusal, run_command, run_script

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


def test_every_loader_refuses_the_pickle(unsafe_folder, data_dir, tmp_path):
    data = tmp_path / "examples.jsonl"
    data.write_text(json.dumps({"ctx": "A boy", "label": 0, "endings": ["runs.", "sits."]}) + "\n")
    refusal = f"weights ({unsafe_folder}) are not a safe checkpoint", "prefer safetensors"
    train = [*TINY_RUN, f"--init_from={unsafe_folder}", f"--data_dir={data_dir}", f"--out_dir={tmp_path}"]
    assert_one_line_error(run_script("train.py", *train, env=SINGLE_THREAD), *refusal)
    for script, args in {
        "sample.py": ["--hf", unsafe_folder, "--device", "cpu"],
        "hellaswag.py": ["--hf", unsafe_folder, "--data", data, "--device", "cpu"],
    }.items():
        with one_line_refusal(re.escape(refusal[0]) + ".*" + refusal[1]):
            run_command(script, *args)
    assert not (unsafe_folder / "code_ran").exists()
    assert not (tmp_path / "ckpt.pt").exists()
