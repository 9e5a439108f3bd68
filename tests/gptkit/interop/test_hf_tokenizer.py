"""gptkit/interop/hf_tokenizer.py: the tokenizer files of a folder encode every text as our tokenizers do."""

import pytest

from gptkit.data.tokenizer import get_tokenizer
from gptkit.interop.hf_tokenizer import write_tokenizer

transformers = pytest.importorskip("transformers")

# A few hundred characters that exercise GPT-2's pre-tokenizer: contractions, digits, runs of spaces and
# newlines, punctuation, accents, CJK, emoji, code, and end-of-text between documents.
TEXTS = [
    "Hello world! It's 2026; they'll say I'm fine, we've seen 1234567 things.",
    "  leading spaces\n\n\ttabs\r\nwindows lines   trailing   ",
    "naïve café, Straße, Ελληνικά, русский, 日本語のテキスト, 한국어 🎉🚀 x²+y²",
    "def f(x):\n    return {'a': [1, 2, 3]}  # comment <tag attr=\"v\">&amp;</tag>",
    "first document<|endoftext|>second document<|endoftext|><|endoftext|> third",
    "",
]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """Each tokenizer written to a folder and loaded back with AutoTokenizer."""
    root = tmp_path_factory.mktemp("tokenizers")
    for name in ("gpt2", "bytes"):
        write_tokenizer(root / name, name, model_max_length=1024)
    return {name: transformers.AutoTokenizer.from_pretrained(root / name) for name in ("gpt2", "bytes")}


@pytest.mark.parametrize("text", TEXTS)
def test_gpt2_tokenizer_from_the_folder_encodes_as_tiktoken(loaded, text):
    theirs = loaded["gpt2"]
    ours = get_tokenizer("gpt2")
    # transformers makes the literal <|endoftext|> the special token, as tiktoken does when it is allowed
    assert theirs(text)["input_ids"] == ours._encoding.encode(text, allowed_special="all")
    documents = text.split("<|endoftext|>")  # ours never parses it from text: it joins documents with the token
    joined = [t for i, d in enumerate(documents) for t in ([ours.eot_token] if i else []) + ours.encode(d)]
    assert theirs(text)["input_ids"] == joined
    assert theirs.decode(theirs(text)["input_ids"]) == text
    assert theirs.eos_token_id == 50256


@pytest.mark.parametrize("text", TEXTS)
def test_byte_tokenizer_from_the_folder_encodes_utf8_bytes(loaded, text):
    theirs = loaded["bytes"]
    ours = get_tokenizer("bytes")
    documents = text.split("<|endoftext|>")
    joined = [t for i, d in enumerate(documents) for t in ([256] if i else []) + ours.encode(d)]
    assert theirs(text)["input_ids"] == joined
    assert theirs.decode(theirs(text)["input_ids"]) == text
    assert theirs.eos_token_id == ours.eot_token == 256
