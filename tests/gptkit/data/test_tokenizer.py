import subprocess
import sys

import pytest

from conftest import ROOT
from gptkit.errors import UserError
from gptkit.data.tokenizer import ByteTokenizer, encode_document, get_tokenizer


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
