import subprocess
import sys

import pytest

from conftest import ROOT, tiny_bpe
from gptkit.data.tokenizer import (
    ByteTokenizer,
    folder_tokenizer,
    encode_document,
    get_tokenizer,
    load_tokenizer_file,
    vocab_size_of,
)
from gptkit.errors import UserError


def test_gpt2_tokenizer_is_the_real_one():
    tokenizer = get_tokenizer("gpt2")
    assert tokenizer.encode("Hello world") == [15496, 995]
    assert tokenizer.eot_token == 50256
    assert tokenizer.decode([15496, 995]) == "Hello world"


def test_gpt2_tokenizer_offline_without_cache_names_the_variable(tmp_path):
    code = (
        "from gptkit import errors\nfrom gptkit.data import tokenizer\n"
        "try:\n  tokenizer.get_tokenizer('gpt2')\nexcept errors.UserError as e:\n  print(e)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "TIKTOKEN_CACHE_DIR": str(tmp_path),
        "HOME": str(tmp_path),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert "TIKTOKEN_CACHE_DIR" in result.stdout, result.stderr


def test_byte_tokenizer_round_trip():
    tokenizer = ByteTokenizer()
    text = "¡Hola, señor! 你好"
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert encode_document(tokenizer, "ab") == [256, 97, 98]


def test_unknown_tokenizer_names_the_choices():
    with pytest.raises(UserError, match="choose one of gpt2, bytes"):
        get_tokenizer("llama")


# Unicode, runs of whitespace, code, and the end-of-text marker as plain text
TEXTS = [
    "Hello world! It's 2026; they'll say I'M fine, we've seen 1234567 things.",
    "  leading spaces\n\n\ttabs\r\nwindows lines   trailing   ",
    "naïve café, Straße, Ελληνικά, русский, 日本語のテキスト, 한국어 🎉🚀 x²+y²",
    "def f(x):\n    return {'a': [1, 2, 3]}  # comment\n\n\n        \n",
    "first document<|endoftext|>second <|endoftext|>",
    "",
]


@pytest.fixture(scope="module")
def tokenizers():
    return [get_tokenizer("bytes"), get_tokenizer("gpt2"), tiny_bpe()]


@pytest.mark.parametrize("text", TEXTS)
def test_every_tokenizer_decodes_its_encoding_to_the_text(tokenizers, text):
    for tokenizer in tokenizers:
        tokens = tokenizer.encode(text)
        assert tokenizer.decode(tokens) == text, tokenizer.name
        assert tokenizer.eot_token not in tokens  # a literal marker in the text is text, not the token
        assert sum(tokenizer.token_bytes()[t] for t in tokens) == len(text.encode()), tokenizer.name


@pytest.mark.parametrize("text", TEXTS)
def test_a_trained_tokenizer_encodes_as_tokenizers_does_with_its_definition(text):
    from tokenizers import Tokenizer

    ours = tiny_bpe()
    theirs = Tokenizer.from_str(ours.definition)
    for document in text.split("<|endoftext|>"):  # theirs reads the marker as the special token
        assert theirs.encode(document).ids == ours.encode(document)
    assert ours.token_bytes()[ours.eot_token] == 0


def test_a_definition_is_taken_only_for_the_name_it_hashes_to():
    ours, other = tiny_bpe(), tiny_bpe(documents=10)
    assert get_tokenizer(ours.name, ours.definition).encode("def f") == ours.encode("def f")
    with pytest.raises(UserError, match=f"is tokenizer '{other.name}', not '{ours.name}'"):
        get_tokenizer(ours.name, other.definition)
    with pytest.raises(UserError, match="its definition \\(tokenizer.json\\) is missing"):
        get_tokenizer(ours.name)


def test_the_shards_tokenizer_is_read_from_beside_them(tmp_path):
    ours = tiny_bpe()
    with pytest.raises(UserError, match="whose definition .*tokenizer.json is missing"):
        folder_tokenizer(ours.name, tmp_path)
    (tmp_path / "tokenizer.json").write_text(tiny_bpe(documents=10).definition)
    with pytest.raises(UserError, match="not '" + ours.name):
        folder_tokenizer(ours.name, tmp_path)
    (tmp_path / "tokenizer.json").write_text(ours.definition)
    assert folder_tokenizer(ours.name, tmp_path).name == ours.name
    assert folder_tokenizer("bytes", tmp_path).name == "bytes"


def test_a_tokenizer_file_that_is_missing_or_not_one_is_one_line(tmp_path):
    with pytest.raises(UserError, match="tokenizer file .*nothing.json not found"):
        load_tokenizer_file(tmp_path / "nothing.json")
    (tmp_path / "notes.json").write_text('{"a": 1}')
    with pytest.raises(UserError, match="notes.json is not a tokenizer this repository trained"):
        load_tokenizer_file(tmp_path / "notes.json")


def test_vocab_sizes_come_from_the_names():
    assert vocab_size_of("gpt2") == 50257 and vocab_size_of("bytes") == 257
    assert vocab_size_of(tiny_bpe().name) == 384
    with pytest.raises(UserError, match="unknown tokenizer 'llama'"):
        vocab_size_of("llama")
