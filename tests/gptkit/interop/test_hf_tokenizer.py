"""gptkit/interop/hf_tokenizer.py: the tokenizer files of a folder encode every text as our tokenizers do."""

import pytest

from conftest import tiny_bpe
from gptkit.data.tokenizer import get_tokenizer, load_tokenizer_file
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
def folders(tmp_path_factory):
    """{kind: folder} of each tokenizer's files: GPT-2's, the bytes', a trained BPE's."""
    root = tmp_path_factory.mktemp("tokenizers")
    tokenizers = {"gpt2": get_tokenizer("gpt2"), "bytes": get_tokenizer("bytes"), "trained": tiny_bpe()}
    for kind, tokenizer in tokenizers.items():
        write_tokenizer(root / kind, tokenizer, model_max_length=1024)
    return {kind: root / kind for kind in tokenizers}


@pytest.fixture(scope="module")
def loaded(folders):
    """Each tokenizer's folder loaded back with AutoTokenizer."""
    return {kind: transformers.AutoTokenizer.from_pretrained(folder) for kind, folder in folders.items()}


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


@pytest.mark.parametrize("text", TEXTS)
def test_trained_tokenizer_from_the_folder_encodes_as_ours(loaded, text):
    theirs, ours = loaded["trained"], tiny_bpe()
    documents = text.split("<|endoftext|>")  # ours joins documents with the token; theirs parses the marker
    joined = [t for i, d in enumerate(documents) for t in ([ours.eot_token] if i else []) + ours.encode(d)]
    assert theirs(text)["input_ids"] == joined
    assert theirs.decode(theirs(text)["input_ids"]) == text
    assert theirs.eos_token_id == ours.eot_token == ours.n_vocab - 1


def test_the_folders_tokenizer_json_is_the_trained_tokenizer_itself(folders):
    assert load_tokenizer_file(folders["trained"] / "tokenizer.json").name == tiny_bpe().name
