"""train.py refuses bad settings, data and checkpoints with one line, before it changes a file (issue 11,
items 1 to 4 and 11).

What is refused before the run lock is taken runs train.py's main in this process; what is found after it (the
data, the checkpoint) runs train.py as a user does, in a process of its own. The bad values of each setting are
TrainConfig's to refuse: tests/gptkit/test_config.py checks every message there."""

import pytest
import torch

from conftest import assert_one_line_error, one_line_refusal, snapshot, train, train_in_process


@pytest.mark.parametrize(
    "text,expected",
    [
        ("n_layer = = 2\n", "line 1: SyntaxError: invalid syntax"),
        ("n_layer = 2\nn_head = heads\n", "line 2: NameError: name 'heads' is not defined"),
    ],
)
def test_config_file_error_names_file_and_line(data_dir, tiny_run_copy, tmp_path, text, expected):  # item 1
    config = tmp_path / "broken.py"
    config.write_text(text)
    before = snapshot(data_dir, tiny_run_copy)
    with one_line_refusal(f"{config} {expected}"):
        train_in_process(str(config), "--max_iters=4", "--init_from=resume", data_dir=data_dir, out_dir=tiny_run_copy)
    assert snapshot(data_dir, tiny_run_copy) == before


@pytest.mark.parametrize(
    "flags,expected",
    [
        (["--max_iters=-1"], "max_iters must be >= 0, got -1"),  # one of TrainConfig's checks
        (["--device=cuda"], "sees no CUDA GPU"),  # the device, found as the run starts
    ],
)
def test_nonsense_values_are_refused(data_dir, tiny_run_copy, flags, expected):  # items 2 and 11
    if "--device=cuda" in flags and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    before = snapshot(data_dir, tiny_run_copy)
    with one_line_refusal(expected):
        train_in_process("--max_iters=4", "--init_from=resume", *flags, data_dir=data_dir, out_dir=tiny_run_copy)
    assert snapshot(data_dir, tiny_run_copy) == before


def test_log_interval_zero_turns_logging_off(data_dir, tmp_path):  # item 11: the ZeroDivisionError is gone
    printed = train_in_process("--max_iters=2", "--log_interval=0", data_dir=data_dir, out_dir=tmp_path)
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["step"] == 2
    assert "step      1 |" not in printed


@pytest.mark.parametrize("vocab_size", [50304, 385])
def test_byte_shards_refuse_a_model_vocabulary_that_does_not_fit(data_dir, tmp_path, vocab_size):  # item 3
    before = snapshot(data_dir)
    result = train("--max_iters=2", f"--vocab_size={vocab_size}", data_dir=data_dir, out_dir=tmp_path, check=False)
    assert_one_line_error(result, "tokenizer 'bytes' (257 tokens)", f"vocab_size is {vocab_size}", "257 ... 384")
    assert snapshot(data_dir) == before and not (tmp_path / "ckpt.pt").exists()


def test_byte_shards_take_a_padded_byte_vocabulary(data_dir, tmp_path):
    train_in_process("--max_iters=1", "--vocab_size=384", data_dir=data_dir, out_dir=tmp_path)
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["step"] == 1


def test_a_missing_core_bundle_stops_the_run_before_it_changes_a_file(data_dir, tiny_run_copy, tmp_path):
    before = snapshot(data_dir, tiny_run_copy)
    flags = ("--max_iters=4", "--init_from=resume", "--core_interval=2", f"--core_bundle={tmp_path / 'none'}")
    result = train(*flags, data_dir=data_dir, out_dir=tiny_run_copy, check=False)
    assert_one_line_error(result, f"CORE bundle {tmp_path / 'none'} not found")
    assert snapshot(data_dir, tiny_run_copy) == before


def test_weights_only_checkpoint_says_what_resuming_lacks(data_dir, tiny_run, tmp_path):  # item 4
    full = torch.load(tiny_run / "ckpt.pt", weights_only=True)
    torch.save({"model": full["model"], "model_config": full["model_config"]}, tmp_path / "ckpt.pt")
    before = snapshot(data_dir, tmp_path)
    result = train("--max_iters=4", "--init_from=resume", data_dir=data_dir, out_dir=tmp_path, check=False)
    assert_one_line_error(result, "no training state to resume", "optimizer, scaler, step, data, rng missing")
    assert snapshot(data_dir, tmp_path) == before


# Item 4's first half, a resume with another model shape, is tests/test_train.py's
# test_resume_with_another_model_shape_is_refused_and_keeps_the_checkpoint.
