import pytest
import torch

from gptkit.distributed import Run
from gptkit.precision import autocast_context, pick_dtype


@pytest.mark.parametrize("device_type", ["cpu", "mps"])
def test_auto_is_float32_off_cuda(device_type):
    assert pick_dtype("auto", device_type) == "float32"


@pytest.mark.parametrize("bf16_supported,expected", [(True, "bfloat16"), (False, "float16")])
def test_auto_on_cuda_is_bfloat16_where_the_gpu_has_it(monkeypatch, bf16_supported, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16_supported)
    assert pick_dtype("auto", "cuda") == expected


@pytest.mark.parametrize("choice", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("device_type", ["cpu", "cuda"])
def test_an_explicit_choice_is_honoured(choice, device_type):
    assert pick_dtype(choice, device_type) == choice


def matmul_dtype(context):
    a, b = torch.randn(8, 16), torch.randn(16, 4)
    with context:
        return (a @ b).dtype, a @ b, a, b


def test_float32_leaves_the_matmuls_alone():
    dtype, product, a, b = matmul_dtype(autocast_context("cpu", "float32"))
    assert dtype == torch.float32 and torch.equal(product, a @ b)
    assert matmul_dtype(Run(device="cpu", dtype="float32").autocast())[0] == torch.float32


def test_bfloat16_autocast_computes_the_matmuls_in_bfloat16_on_cpu():
    for context in (autocast_context("cpu", "bfloat16"), Run(device="cpu", dtype="bfloat16").autocast()):
        dtype, product, a, b = matmul_dtype(context)
        assert dtype == torch.bfloat16
        assert torch.equal(product, a.bfloat16() @ b.bfloat16())  # the inputs rounded, as autocast does
    assert not torch.is_autocast_enabled("cpu")  # and only inside the context
