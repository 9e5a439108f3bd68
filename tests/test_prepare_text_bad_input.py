"""prepare_text.py refuses binary input, naming the file, and writes no shard (issue 11, item 6)."""

import random
import sys

import pytest

from conftest import assert_one_line_error, run_script
from gptkit.data.corpus import read_text_file
from gptkit.errors import UserError


@pytest.mark.parametrize("kind", ["random bytes", "an executable"])
def test_binary_input_is_refused(tmp_path, kind):
    text = tmp_path / "notes.txt"
    text.write_text("Some honest text.\n" * 50)
    if kind == "random bytes":
        binary = tmp_path / "noise.bin"
        binary.write_bytes(random.Random(0).randbytes(20000))
    else:
        binary = sys.executable
    out_dir = tmp_path / "shards"
    result = run_script("prepare_text.py", text, binary, "--tokenizer", "bytes", "--out", out_dir)
    assert_one_line_error(result, f"{binary} looks like a binary file")
    assert not out_dir.exists()


def test_latin1_text_is_still_text(tmp_path):
    # a few bytes that are not UTF-8 (accents in Latin-1) are a text file, not a binary one
    path = tmp_path / "biblia.txt"
    path.write_bytes("En el principio creó Dios los cielos y la tierra.\n".encode("latin-1") * 100)
    assert read_text_file(path).startswith("En el principio cre\ufffd Dios")
    path.write_bytes(b"text\0with a NUL byte")
    with pytest.raises(UserError, match="binary"):
        read_text_file(path)


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--tokenizer", "missing.json"], "not gpt2, bytes or bpe, and no such tokenizer file"),
        (["--tokenizer", "notes.txt"], "notes.txt is not a tokenizer this repository trained"),
        (["--tokenizer", "bpe"], "--tokenizer bpe needs --vocab_size"),
        (["--tokenizer", "bpe", "--vocab_size", "200"], "vocab_size 200 is too small for a byte-level BPE"),
        (["--tokenizer", "gpt2", "--vocab_size", "8192"], "--vocab_size applies to --tokenizer bpe"),
    ],
)
def test_bad_tokenizer_flags_are_one_line_and_write_nothing(tmp_path, flags, message):
    (tmp_path / "notes.txt").write_text("Some honest text.\n" * 50)
    result = run_script("prepare_text.py", "notes.txt", *flags, "--out", "shards", cwd=tmp_path)
    assert_one_line_error(result, message)
    assert not (tmp_path / "shards").exists()
