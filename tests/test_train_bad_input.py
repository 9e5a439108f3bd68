"""train.py refuses bad settings, data and checkpoints with one line, before it changes a file (issue 11,
items 1 to 4 and 11)."""

import pytest
import torch

from conftest import assert_one_line_error, byte_shards, snapshot, train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(data_dir, out_dir) of a finished 2-step run: the files a bad input must leave as they are."""
    root = tmp_path_factory.mktemp("trained")
    data_dir, out_dir = byte_shards(root / "data"), root / "out"
    result = train("--max_iters=2", data_dir=data_dir, out_dir=out_dir, check=False)
    assert result.returncode == 0, result.stderr
    return data_dir, out_dir


@pytest.mark.parametrize(
    "text,expected",
    [
        ("n_layer = = 2\n", "line 1: SyntaxError: invalid syntax"),
        ("n_layer = 2\nn_head = heads\n", "line 2: NameError: name 'heads' is not defined"),
    ],
)
def test_config_file_error_names_file_and_line(trained, tmp_path, text, expected):  # item 1
    data_dir, out_dir = trained
    config = tmp_path / "broken.py"
    config.write_text(text)
    before = snapshot(data_dir, out_dir)
    result = train(str(config), "--max_iters=4", "--init_from=resume", data_dir=data_dir, out_dir=out_dir, check=False)
    assert_one_line_error(result, f"{config} {expected}")
    assert snapshot(data_dir, out_dir) == before


@pytest.mark.parametrize(
    "flags,expected",
    [
        (["--max_iters=-1"], "max_iters must be >= 0, got -1"),
        (["--total_batch_tokens=0"], "total_batch_tokens must be >= 1, got 0"),
        (["--micro_batch_size=-4"], "micro_batch_size must be >= 1 or 'auto', got -4"),
        (["--micro_batch_size=0"], "micro_batch_size must be >= 1 or 'auto', got 0"),
        (["--learning_rate=-1"], "learning_rate must be >= 0, got -1.0"),
        (["--eval_interval=2", "--eval_iters=0"], "eval_iters must be >= 1 when eval_interval is on"),
        (["--dtype=float8"], "dtype must be one of auto, float32, bfloat16, float16, got 'float8'"),
        (["--device=cuda"], "sees no CUDA GPU"),
        (["--log_interval=-1"], "log_interval must be >= 0"),
    ],
)
def test_nonsense_values_are_refused(trained, flags, expected):  # items 2 and 11
    if "--device=cuda" in flags and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    data_dir, out_dir = trained
    before = snapshot(data_dir, out_dir)
    result = train("--max_iters=4", "--init_from=resume", *flags, data_dir=data_dir, out_dir=out_dir, check=False)
    assert_one_line_error(result, expected)
    assert snapshot(data_dir, out_dir) == before


def test_log_interval_zero_turns_logging_off(trained, tmp_path):  # item 11: the ZeroDivisionError is gone
    data_dir, _ = trained
    result = train("--max_iters=2", "--log_interval=0", data_dir=data_dir, out_dir=tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["step"] == 2
    assert "step      1 |" not in result.stdout


@pytest.mark.parametrize("vocab_size", [50304, 385])
def test_byte_shards_refuse_a_model_vocabulary_that_does_not_fit(trained, tmp_path, vocab_size):  # item 3
    data_dir, _ = trained
    before = snapshot(data_dir)
    result = train("--max_iters=2", f"--vocab_size={vocab_size}", data_dir=data_dir, out_dir=tmp_path, check=False)
    assert_one_line_error(result, "tokenizer 'bytes' (257 tokens)", f"vocab_size is {vocab_size}", "257 ... 384")
    assert snapshot(data_dir) == before and not (tmp_path / "ckpt.pt").exists()


def test_byte_shards_take_a_padded_byte_vocabulary(trained, tmp_path):
    data_dir, _ = trained
    result = train("--max_iters=1", "--vocab_size=384", data_dir=data_dir, out_dir=tmp_path, check=False)
    assert result.returncode == 0, result.stderr


def test_a_missing_core_bundle_stops_the_run_before_it_changes_a_file(trained, tmp_path):
    data_dir, out_dir = trained
    before = snapshot(data_dir, out_dir)
    flags = ("--max_iters=4", "--init_from=resume", "--core_interval=2", f"--core_bundle={tmp_path / 'none'}")
    result = train(*flags, data_dir=data_dir, out_dir=out_dir, check=False)
    assert_one_line_error(result, f"CORE bundle {tmp_path / 'none'} not found")
    assert snapshot(data_dir, out_dir) == before


def test_weights_only_checkpoint_says_what_resuming_lacks(trained, tmp_path):  # item 4
    data_dir, out_dir = trained
    full = torch.load(out_dir / "ckpt.pt", weights_only=True)
    torch.save({"model": full["model"], "model_config": full["model_config"]}, tmp_path / "ckpt.pt")
    before = snapshot(data_dir, tmp_path)
    result = train("--max_iters=4", "--init_from=resume", data_dir=data_dir, out_dir=tmp_path, check=False)
    assert_one_line_error(result, "no training state to resume", "optimizer, scaler, step, data, rng missing")
    assert snapshot(data_dir, tmp_path) == before


# Item 4's first half, a resume with another model shape, is tests/test_train.py's
# test_resume_with_another_model_shape_is_refused_and_keeps_the_checkpoint.
