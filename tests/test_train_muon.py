"""train.py with optimizer="muon": exact resume, DDP equal to accumulation, and a refused switch of optimizer on a
resume. (The demo, which trains with Muon, learns: tests/test_configs.py.)"""

import sys

import pytest
import torch

from conftest import assert_one_line_error, losses, train, train_in_process
from gptkit.checkpointing.checkpoint import load_checkpoint

MUON = ("--optimizer=muon", "--muon_lr=0.02", "--lr_schedule=wsd", "--max_iters=12", "--n_expert=2")


@pytest.mark.integration  # AdamW's: tests/test_train.py; Muon's state round trip: tests/gptkit/training/test_optim.py
def test_resumed_muon_run_equals_uninterrupted_run(data_dir, tmp_path):
    # MoE experts in Muon too; dropout makes the RNG state matter; wsd decays over the last 3 of the 12 steps
    common = (*MUON, "--dropout=0.1", "--eval_interval=3", "--eval_iters=2")
    train(*common, data_dir=data_dir, out_dir=tmp_path / "whole")
    train(*common, "--max_iters=6", "--lr_decay_iters=6", data_dir=data_dir, out_dir=tmp_path / "halves")
    saved = load_checkpoint(tmp_path / "halves" / "ckpt.pt")
    assert saved["step"] == 6 and set(saved["optimizer"]) == {"muon", "adamw"}
    train(*common, "--init_from=resume", data_dir=data_dir, out_dir=tmp_path / "halves")
    whole, halves = losses(tmp_path / "whole"), losses(tmp_path / "halves")
    assert sorted(whole) == sorted(halves) == list(range(1, 13))
    assert whole == halves  # identical floats, not merely close
    assert whole[12] < whole[1]


def test_resuming_an_adamw_checkpoint_with_muon_is_a_one_line_error(data_dir, tiny_run_copy):
    result = train("--optimizer=muon", "--init_from=resume", data_dir=data_dir, out_dir=tiny_run_copy, check=False)
    assert_one_line_error(result, "resume with --optimizer=adamw")


@pytest.mark.integration
def test_two_muon_processes_equal_one_process_with_twice_the_accumulation(data_dir, tmp_path):
    # 256 tokens per step: one process 2 micro-steps of 4 x 32, or two processes 1 micro-step each
    short = (*MUON, "--max_iters=5")
    train_in_process(*short, data_dir=data_dir, out_dir=tmp_path / "one")
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
    train(*short, data_dir=data_dir, out_dir=tmp_path / "two", launcher=torchrun)
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert sorted(one) == sorted(two) == [1, 2, 3, 4, 5]
    for step in one:
        assert one[step] == pytest.approx(two[step], abs=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_muon_trains_in_mixed_precision_on_gpu(data_dir, tmp_path, dtype):
    # float16 goes through the gradient scaler, which unscales and checks both optimizers
    train(*MUON, "--device=cuda", f"--dtype={dtype}", data_dir=data_dir, out_dir=tmp_path)
    logged = losses(tmp_path)
    assert sorted(logged) == list(range(1, 13)) and logged[12] < logged[1]
