"""
A byte-level BPE tokenizer of our own: trained on a corpus with Hugging Face `tokenizers`, kept as a tokenizer.json
that transformers' AutoTokenizer reads, encoded with tiktoken (gptkit/data/tokenizer.py's BPETokenizer).

What decides the encoding is two things: the split pattern, which cuts text into pieces that no token crosses,
and the tokens in merge order. Tokens 0-255 are the single bytes in byte order, then every merged token in the
order training learned it; end-of-text comes last (n_vocab - 1), as in GPT-2's layout. Merge order is each
token's rank for tiktoken, and tokenizer.json's merges are derived from those ranks the way transformers
converts tiktoken encodings (GPT-2's export goes the same way), so both libraries encode alike.

The split pattern is GPT-4's (cl100k), as Llama 3 spells it, not GPT-2's. On Python's standard library it gives
3% more bytes per token than GPT-2's pattern at 8192 tokens, on Spanish text 2% (docs/data.md): a
punctuation character joins the word after it (`.append`, `_name`), runs of digits split every 3 digits,
newlines group with the whitespace before them, and contractions ignore case. llama.cpp knows this exact
pattern as the pre-tokenizer "llama-bpe", so a GGUF export tokenizes as we do.

The invariants the tests check: training is deterministic; a definition read back gives the same pattern and
tokens; anything else than such a tokenizer.json is refused in one line.
"""

import hashlib
import json

from gptkit.errors import UserError

SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)
END_OF_TEXT = "<|endoftext|>"
SPECIAL_TOKENS = 1  # end-of-text
SMALLEST_VOCAB = 256 + SPECIAL_TOKENS  # every byte and end-of-text: no merge at all


def byte_characters():
    """{byte: the printable character that stands for it in a byte-level tokenizer.json}: GPT-2's convention,
    which `tokenizers`' ByteLevel uses. Printable Latin-1 characters stand for themselves; the other 68 bytes
    (controls, space, soft hyphen, ...) take the characters from U+0100 on, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    characters = {byte: chr(byte) for byte in printable}
    others = [byte for byte in range(256) if byte not in characters]
    characters.update({byte: chr(256 + i) for i, byte in enumerate(others)})
    return characters


def token_string(token):
    """A token's bytes in tokenizer.json's spelling."""
    characters = byte_characters()
    return "".join(characters[byte] for byte in token)


def token_bytes(string, bytes_of=None):
    """The bytes a tokenizer.json token string stands for."""
    bytes_of = bytes_of or {c: b for b, c in byte_characters().items()}
    return bytes(bytes_of[character] for character in string)


def tokenizer_name(pattern, tokens):
    """The name that identifies an encoding: "bpe<n_vocab>-" and a hash of the pattern and the tokens in order."""
    content = json.dumps([pattern, [token.hex() for token in tokens]]).encode()
    return f"bpe{len(tokens) + SPECIAL_TOKENS}-{hashlib.sha256(content).hexdigest()[:16]}"


# ----------------------------------------------------------------------------------------------------------
# tokenizer.json


def definition_from_ranks(ranks, pattern):
    """A `tokenizers` Tokenizer of a tiktoken encoding ({token bytes: rank}, split pattern), with end-of-text as
    the special token after the last rank: transformers' converter for tiktoken encodings, fed the ranks."""
    from transformers.convert_slow_tokenizer import TikTokenConverter

    class RanksConverter(TikTokenConverter):
        """transformers' converter, given the ranks in memory instead of a .tiktoken file."""

        def load_tiktoken_bpe(self, _):
            return ranks

    return RanksConverter(pattern=pattern, extra_special_tokens=[END_OF_TEXT]).converted()


def write_definition(pattern, tokens):
    """tokenizer.json's text for the tokens (bytes, in merge order) and pattern."""
    ranks = {token: rank for rank, token in enumerate(tokens)}
    return definition_from_ranks(ranks, pattern).to_str()


def read_definition(text, source):
    """(pattern, tokens in merge order) of a tokenizer.json text that write_definition wrote; source names it in
    the one-line error for anything else."""
    refusal = (
        f"{source} is not a tokenizer this repository trained (a byte-level BPE tokenizer.json with a split "
        "pattern and <|endoftext|> last): train one with a prepare script's --tokenizer bpe"
    )
    try:
        spec = json.loads(text)
        pattern = spec["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]
        vocab = spec["model"]["vocab"]
        added = [(token["id"], token["content"]) for token in spec["added_tokens"]]
        assert spec["model"]["type"] == "BPE" and added == [(len(vocab), END_OF_TEXT)]
        assert sorted(vocab.values()) == list(range(len(vocab)))
        bytes_of = {c: b for b, c in byte_characters().items()}
        tokens = [token_bytes(string, bytes_of) for string, _ in sorted(vocab.items(), key=lambda item: item[1])]
        assert tokens[:256] == [bytes([byte]) for byte in range(256)]
    except (ValueError, KeyError, TypeError, IndexError, AssertionError):
        raise UserError(refusal) from None
    return pattern, tokens


# ----------------------------------------------------------------------------------------------------------
# Training


def check_vocab_size(vocab_size):
    if vocab_size < SMALLEST_VOCAB:
        raise UserError(
            f"vocab_size {vocab_size} is too small for a byte-level BPE: it needs at least {SMALLEST_VOCAB} "
            "(256 bytes + end-of-text), and a few thousand to be worth it (4096, 8192, 16384)"
        )


def train_bpe(texts, vocab_size, progress=True):
    """tokenizer.json's text of a BPE of vocab_size tokens (end-of-text included) trained on texts (an iterable of
    strings). A corpus that runs out of pairs to merge gives fewer tokens: the name says how many."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    check_vocab_size(vocab_size)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - SPECIAL_TOKENS,  # end-of-text is added after the merges
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte, seen in the corpus or not
        show_progress=progress,
    )
    tokenizer.train_from_iterator(texts, trainer)
    learned = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])  # ids in the order learned
    bytes_of = {c: b for b, c in byte_characters().items()}
    merged = [token_bytes(string, bytes_of) for string, _ in learned if len(string) > 1]
    return write_definition(SPLIT_PATTERN, [bytes([byte]) for byte in range(256)] + merged)
