"""gptkit/evaluation/example_lines.py: examples one JSON object a line, blank lines skipped; a bad line is one
UserError naming file and line, and so is a file without examples."""

import pytest

from gptkit.errors import UserError
from gptkit.evaluation.example_lines import read_example_lines


def needs_text(example):
    return "" if isinstance(example.get("text"), str) else "no text"


def test_examples_are_read_in_order_past_blank_lines_and_stray_bytes(tmp_path):
    path = tmp_path / "examples.jsonl"
    path.write_bytes(b'{"text": "one"}\n\n   \n{"text": "t\xffo"}\n')  # \xff is no UTF-8: read as U+FFFD
    assert read_example_lines(path, "toy", needs_text) == [{"text": "one"}, {"text": "t\ufffdo"}]


@pytest.mark.parametrize(
    "text,message",
    [
        ('{"text": "one"}\n\n{"text": ', ":3: not a JSON line (Expecting value)"),
        ('{"text": "one"}\n{"label": 1}\n', ":2: not a toy example (no text)"),
        ("\n\n", " holds no toy examples"),
    ],
)
def test_a_bad_line_or_an_empty_file_is_one_line_naming_file_and_line(tmp_path, text, message):
    path = tmp_path / "examples.jsonl"
    path.write_text(text)
    with pytest.raises(UserError) as error:
        read_example_lines(path, "toy", needs_text)
    assert str(error.value) == f"{path}{message}"
