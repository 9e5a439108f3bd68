from dataclasses import dataclass

import pytest

from gptkit.config import load_config
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
