"""gptkit/model_parts/fp8.py: which layers train in float8, and the flag refused with one line where there is no
FP8 GPU."""

import subprocess
import sys

import pytest
import torch

from conftest import ROOT, one_line_refusal, run_command
from gptkit.distributed import Run
from gptkit.errors import UserError
from gptkit.model_parts.fp8 import check_fp8, convert_to_fp8, trains_in_fp8
from model import GPT, GPTConfig

CONFIG = dict(block_size=32, vocab_size=128, n_layer=2, n_head=4, n_embd=64, n_expert=0)


def test_every_linear_but_the_output_layer_and_odd_shapes_is_chosen():
    model = GPT(GPTConfig(**{**CONFIG, "n_layer": 1, "n_expert": 8, "n_expert_active": 2, "tie_embeddings": False}))
    model.transformer.h[0].attn.c_proj = torch.nn.Linear(64, 24)  # 24 outputs: not a multiple of 16
    chosen = [name for name, module in model.named_modules() if trains_in_fp8(module, name)]
    assert chosen == ["transformer.h.0.attn.c_attn"]  # router: 8 outputs; lm_head: kept; experts: no Linear
    dense = GPT(GPTConfig(**CONFIG))
    chosen = {name for name, module in dense.named_modules() if trains_in_fp8(module, name)}
    expected = {
        f"transformer.h.{i}.{part}"
        for i in range(2)
        for part in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
    }
    assert chosen == expected


def test_refused_with_one_line_off_the_gpu():
    with pytest.raises(UserError) as error:
        check_fp8(Run(device="cpu"))
    assert "\n" not in str(error.value) and "fp8" in str(error.value)
    model = GPT(GPTConfig(**CONFIG))
    before = {name: type(module) for name, module in model.named_modules()}
    with pytest.raises(UserError):
        convert_to_fp8(model, Run(device="cpu"))
    assert {name: type(module) for name, module in model.named_modules()} == before


@pytest.mark.parametrize("script", ["train.py", "bench.py"])
def test_commands_refuse_fp8_on_the_cpu_before_writing_anything(script, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the commands' default folders (out, data) would be written
    with one_line_refusal("fp8"):
        run_command(script, *[f"--{k}={v}" for k, v in CONFIG.items()], "--device=cpu", "--fp8=True", "--out_dir=out")
    assert list(tmp_path.iterdir()) == []


def test_torchao_is_imported_only_when_fp8_is_on():
    code = "import sys, train, bench, gptkit.model_parts.fp8; print('torchao' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "False", result.stderr[-2000:]


def test_conversion_swaps_exactly_the_chosen_layers(monkeypatch):
    pytest.importorskip("torchao.float8")
    monkeypatch.setattr("gptkit.model_parts.fp8.check_fp8", lambda run: None)  # the swap itself needs no GPU
    model = GPT(GPTConfig(**CONFIG))
    weight = model.transformer.h[0].mlp.c_fc.weight
    converted = convert_to_fp8(model, Run(device="cpu"))
    swapped = {name for name, module in model.named_modules() if type(module).__name__ == "Float8Linear"}
    assert swapped == set(converted) and len(swapped) == 8
    assert (
        model.transformer.h[0].mlp.c_fc.weight is weight
    )  # the same parameters: optimizer and checkpoints see no change
    assert model.lm_head.weight is model.transformer.wte.weight and type(model.lm_head) is torch.nn.Linear
