import subprocess
import sys

import pytest

from conftest import ROOT
from gptkit.errors import UserError, run_main


def test_a_user_error_ends_the_process_with_one_line_and_exit_code_1():
    code = (
        "from gptkit.errors import UserError, run_main\n"
        "def main(name):\n    raise UserError(f'no file {name}; give another')\n"
        "run_main(main, 'x.txt')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == "error: no file x.txt; give another\n" and result.stdout == ""


def test_a_working_main_runs_with_its_arguments():
    assert run_main(lambda a, b: a + b, 2, 3) == 5


def test_a_bug_is_not_dressed_up_as_a_user_error():
    def main():
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):  # the traceback is what a bug report needs
        run_main(main)


def test_in_process_the_exit_carries_the_message():
    def main():
        raise UserError("bad value")

    with pytest.raises(SystemExit) as exit_:
        run_main(main)
    assert exit_.value.code == "error: bad value"
