"""gptkit/data/bpe.py: training is deterministic, a definition reads back as written, anything else is refused."""

import json

import pytest

from conftest import tiny_bpe
from gptkit.data import bpe
from gptkit.errors import UserError


def test_training_twice_gives_the_same_tokenizer():
    first, second = tiny_bpe(), tiny_bpe()
    assert first.definition == second.definition and first.name == second.name
    assert first.name.startswith("bpe384-") and len(first.name.encode()) <= 32  # fits the shard header's field
    assert first.n_vocab == 384 and first.eot_token == 383


def test_another_corpus_or_size_is_another_name():
    assert len({tiny_bpe().name, tiny_bpe(documents=10).name, tiny_bpe(vocab_size=300).name}) == 3


def test_a_definition_reads_back_as_the_pattern_and_tokens_written():
    tokens = [bytes([b]) for b in range(256)] + [b"th", b"the", b" the", "é".encode()]
    pattern, read = bpe.read_definition(bpe.write_definition(bpe.SPLIT_PATTERN, tokens), "test")
    assert pattern == bpe.SPLIT_PATTERN and read == tokens


def test_byte_characters_are_the_byte_level_alphabet_of_tokenizers():
    from tokenizers import pre_tokenizers

    characters = bpe.byte_characters()
    assert sorted(characters) == list(range(256))
    assert set(characters.values()) == set(pre_tokenizers.ByteLevel.alphabet())
    assert bpe.token_bytes(bpe.token_string(bytes(range(256)))) == bytes(range(256))


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        json.dumps({"model": {"type": "BPE"}}),
        json.dumps({"version": "1.0", "model": {"type": "WordPiece", "vocab": {}}}),
    ],
)
def test_anything_but_such_a_tokenizer_json_is_refused_in_one_line(text):
    with pytest.raises(UserError, match="is not a tokenizer this repository trained") as error:
        bpe.read_definition(text, "x.json")
    assert "\n" not in str(error.value)


def test_gpt2s_own_tokenizer_json_is_refused(tmp_path):
    from gptkit.interop.hf_tokenizer import byte_tokenizer

    with pytest.raises(UserError, match="not a tokenizer this repository trained"):
        bpe.read_definition(byte_tokenizer().to_str(), "bytes.json")  # no split pattern, no merges


@pytest.mark.parametrize("vocab_size", [0, 100, 256])
def test_a_vocabulary_without_room_for_the_bytes_and_end_of_text_is_refused(vocab_size):
    with pytest.raises(UserError, match="at least 257"):
        bpe.train_bpe(["some text"], vocab_size, progress=False)
