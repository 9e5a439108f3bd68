from dataclasses import dataclass

import pytest

from gptkit.config import TrainConfig, load_config
from gptkit.errors import UserError


@dataclass
class Settings:
    name: str = "run"
    steps: int = 10
    rate: float = 0.5
    flag: bool = False
    batch: int | str = 4
    heads: int | None = None


def test_files_then_flags_override_in_order(tmp_path):
    first, second = tmp_path / "a.py", tmp_path / "b.py"
    first.write_text("import math\nsteps = 20\nrate = math.pi\n_private = 'ignored'\n")
    second.write_text("steps = 30\n")
    (settings,) = load_config([str(first), str(second), "--steps=40", "--flag=True"], Settings)
    assert settings == Settings(steps=40, rate=3.141592653589793, flag=True)


def test_flag_values_are_typed_by_their_field():
    (settings,) = load_config(["--name=123", "--rate=1", "--batch=auto", "--heads=None", "--steps=5"], Settings)
    assert settings == Settings(name="123", rate=1.0, batch="auto", heads=None, steps=5)
    assert isinstance(settings.rate, float)


@pytest.mark.parametrize(
    "flag,message",
    [
        ("--stepz=3", "unknown config key 'stepz' (flag); valid keys: batch, flag, heads, name, rate, steps"),
        ("--steps=3.5", "config key 'steps' must be int, got 3.5 (float)"),
        ("--flag=1", "config key 'flag' must be bool"),
        ("--heads=four", "config key 'heads' must be int or None"),
        ("steps=3", "config file steps=3 not found"),
        ("--steps", "expected a config file or --key=value"),
    ],
)
def test_bad_settings_fail_with_one_line(flag, message):
    with pytest.raises(UserError) as error:
        load_config([flag], Settings)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "fields,message",
    [
        (dict(max_iters=-1), "max_iters must be >= 0, got -1"),
        (dict(micro_batch_size=0), "micro_batch_size must be >= 1 or 'auto', got 0"),
        (dict(micro_batch_size=-4), "micro_batch_size must be >= 1 or 'auto', got -4"),
        (dict(micro_batch_size="big"), "micro_batch_size must be a number or 'auto', got 'big'"),
        (dict(learning_rate=-1.0), "learning_rate must be >= 0, got -1.0"),
        (dict(eval_interval=2, eval_iters=0), "eval_iters must be >= 1 when eval_interval is on"),
        (dict(total_batch_tokens=0), "total_batch_tokens must be >= 1, got 0"),
        (dict(dtype="float8"), "dtype must be one of auto, float32, bfloat16, float16, got 'float8'"),
        (dict(log_interval=-5), "log_interval must be >= 0, got -5"),
        (dict(core_interval=-1), "core_interval must be >= 0, got -1"),
        (dict(core_max_per_task=-500), "core_max_per_task must be >= 0, got -500"),
        (dict(beta2=1.0), "beta1 and beta2 must be in [0, 1)"),
        (dict(warmup_iters=30, lr_decay_iters=20), "warmup_iters (30) exceeds lr_decay_iters (20)"),
        (dict(init_from="gtp2"), "init_from must be scratch, resume, auto, a GPT-2 name or a folder, got 'gtp2'"),
        (dict(device="tpu"), "device must be one of auto, cuda, cpu, mps, got 'tpu'"),
    ],
)
def test_bad_training_settings_are_one_line_errors(fields, message):
    with pytest.raises(UserError) as error:
        TrainConfig(**fields)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_every_bad_training_setting_is_named_at_once():
    with pytest.raises(UserError) as error:
        TrainConfig(max_iters=-1, dtype="float8", total_batch_tokens=0)
    assert str(error.value).count(";") == 2 and "\n" not in str(error.value)


def test_zero_intervals_and_the_documented_choices_are_valid(tmp_path):
    off = dict(eval_interval=0, eval_iters=0, log_interval=0, checkpoint_interval=0, sample_interval=0)
    TrainConfig(**off, hellaswag_interval=0, micro_batch_size="auto", init_from=str(tmp_path), device="cuda:1")
    for dtype in ("auto", "float32", "bfloat16", "float16"):
        assert TrainConfig(dtype=dtype, init_from="gpt2-medium").dtype == dtype


def test_the_depth_dial_keys_are_keys_only_where_model_settings_are_read():
    from model import GPTConfig  # a config class with n_layer: the depth dial's keys are keys too

    with pytest.raises(UserError, match="unknown config key 'depth'"):
        load_config(["--depth=4"], Settings)
    model_config, train_config = load_config(["--depth=4"], GPTConfig, TrainConfig)
    assert (model_config.n_layer, model_config.n_embd, train_config.warmup_iters) == (4, 256, 40)
