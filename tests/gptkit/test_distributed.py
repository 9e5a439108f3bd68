import pytest
import torch

from gptkit.distributed import (
    Run,
    all_gather_objects,
    all_reduce_max,
    all_reduce_mean,
    all_reduce_sum,
    pick_device,
    setup_run,
)
from gptkit.errors import UserError

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a CUDA GPU")


@no_cuda
@pytest.mark.parametrize("choice", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_is_a_one_line_error(choice):
    with pytest.raises(UserError, match="sees no CUDA GPU; use --device=cpu") as error:
        pick_device(choice)
    assert "\n" not in str(error.value)


def test_mps_without_an_apple_gpu_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(UserError, match="no Apple GPU"):
        pick_device("mps")


def test_auto_takes_the_best_device_there_is(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto") == "cpu" and pick_device("cpu") == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == "cuda"


def test_a_single_process_run_on_cpu(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    run = setup_run("cpu", "auto")
    assert run == Run(rank=0, local_rank=0, world_size=1, device="cpu", dtype="float32")
    assert run.is_master and run.device_type == "cpu" and run.device_name == "cpu"
    assert Run(device="cuda:3").device_type == "cuda" and not Run(rank=1).is_master


def test_reductions_in_a_single_process_are_the_value_itself():
    tensor = torch.tensor(2.5)
    assert all_reduce_mean(tensor, 1) is tensor and tensor.item() == 2.5
    assert all_reduce_sum(tensor, 1) is tensor and tensor.item() == 2.5
    assert all_gather_objects({"step": 3}, 1) == [{"step": 3}]
    assert all_reduce_max(True, 1, "cpu") is True
