"""
Tokenizers: GPT-2's BPE through tiktoken, a byte-level one for the offline demo, and byte-level BPEs trained here
(gptkit/data/bpe.py), also encoded through tiktoken.

Each has a name that identifies its encoding: "gpt2", "bytes", or "bpe<n_vocab>-<hash>" for a trained one (the
hash is of its split pattern and tokens). The name is in every shard header, checkpoint and exported folder, so
data and model cannot be mixed up silently. A trained tokenizer also needs its definition, the tokenizer.json
text: it lies beside the shards (DEFINITION_FILE), inside the checkpoint and in the exported folder, and a
definition is only taken for the name it hashes to.

All put end-of-text between documents; token_bytes gives each token's length in UTF-8 bytes (0 for end-of-text),
what bits per byte counts (gptkit/evaluation/bits_per_byte.py). The invariants the tests check: decode(encode(t))
gives t back; a definition is refused for another name, and a file that is not one in one line.
"""

from pathlib import Path

from gptkit.data import bpe
from gptkit.errors import UserError

DEFINITION_FILE = "tokenizer.json"  # a trained tokenizer's definition, beside the shards it made


class ByteTokenizer:
    """UTF-8 bytes as tokens 0..255, plus an end-of-text token 256: no files, works anywhere."""

    name = "bytes"
    eot_token = 256
    n_vocab = 257
    definition = None  # nothing to carry: the name says it all

    def encode(self, text):
        return list(text.encode("utf-8"))

    def decode(self, tokens):
        return bytes(t for t in tokens if t < 256).decode("utf-8", errors="replace")

    def token_bytes(self):
        return [1] * 256 + [0]


class GPT2Tokenizer:
    """OpenAI GPT-2's BPE (50257 tokens, end-of-text 50256) through tiktoken."""

    name = "gpt2"
    definition = None  # tiktoken's files, downloaded once

    def __init__(self):
        import tiktoken

        try:
            self._encoding = tiktoken.get_encoding("gpt2")
        except Exception as e:  # tiktoken raises requests' or its own errors when the download fails
            raise UserError(
                f"could not load the GPT-2 tokenizer files ({type(e).__name__}): they are downloaded on first "
                "use; offline, point TIKTOKEN_CACHE_DIR at a folder holding tiktoken's cached gpt2 files"
            ) from None
        self.eot_token = self._encoding.eot_token
        self.n_vocab = self._encoding.n_vocab

    def encode(self, text):
        return self._encoding.encode_ordinary(text)

    def decode(self, tokens):
        return self._encoding.decode([t for t in tokens if t < self.n_vocab])

    def token_bytes(self):
        return [len(self._encoding.decode_single_token_bytes(t)) for t in range(self.eot_token)] + [0]


class BPETokenizer:
    """A byte-level BPE trained here, from its definition (tokenizer.json text; source names it in errors)."""

    def __init__(self, definition, source="the tokenizer definition"):
        import tiktoken

        pattern, tokens = bpe.read_definition(definition, source)
        self.definition, self.pattern, self.name = definition, pattern, bpe.tokenizer_name(pattern, tokens)
        self.eot_token, self.n_vocab = len(tokens), len(tokens) + bpe.SPECIAL_TOKENS
        self._lengths = [len(token) for token in tokens]
        ranks = {token: rank for rank, token in enumerate(tokens)}
        specials = {bpe.END_OF_TEXT: self.eot_token}
        self._encoding = tiktoken.Encoding(self.name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)

    def encode(self, text):
        return self._encoding.encode_ordinary(text)  # a literal "<|endoftext|>" in the text is text

    def decode(self, tokens):
        return self._encoding.decode([t for t in tokens if t < self.n_vocab])

    def token_bytes(self):
        return self._lengths + [0]


BUILT_IN = {"gpt2": GPT2Tokenizer, "bytes": ByteTokenizer}
VOCAB_SIZES = {"gpt2": 50257, "bytes": 257}  # known without loading the tokenizer files


def is_trained(name):
    return name.startswith("bpe") and "-" in name and name[3:].split("-")[0].isdigit()


def vocab_size_of(name):
    """The tokenizer's vocabulary size, from its name alone (a trained one's name says it)."""
    if name in VOCAB_SIZES:
        return VOCAB_SIZES[name]
    if is_trained(name):
        return int(name[3:].split("-")[0])
    raise UserError(f"unknown tokenizer {name!r}; known: {', '.join(VOCAB_SIZES)} and trained ones (bpe<size>-...)")


def get_tokenizer(name, definition=None, source="the definition given"):
    """The tokenizer called name. A trained one needs its definition (tokenizer.json text; source says where it
    came from), which must be the one the name hashes."""
    if name in BUILT_IN:
        return BUILT_IN[name]()
    if not is_trained(name):
        raise UserError(f"unknown tokenizer {name!r}; choose one of {', '.join(BUILT_IN)}, or a trained one")
    if definition is None:
        raise UserError(f"tokenizer {name!r} is a trained BPE, and its definition ({DEFINITION_FILE}) is missing")
    tokenizer = BPETokenizer(definition, source)
    if tokenizer.name != name:
        raise UserError(f"{source} is tokenizer {tokenizer.name!r}, not {name!r}: it is another tokenizer's")
    return tokenizer


def as_tokenizer(tokenizer):
    """A tokenizer given as itself or, for a built-in one, by its name ("gpt2", "bytes")."""
    return get_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer


def load_tokenizer_file(path):
    """A trained tokenizer from its tokenizer.json file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"tokenizer file {path} not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read tokenizer file {path}: {getattr(e, 'strerror', None) or e}") from None
    return BPETokenizer(text, str(path))


def folder_tokenizer(name, folder):
    """The tokenizer called name, of a folder of shards or an exported model: a trained one's definition is read
    from folder/tokenizer.json."""
    if not is_trained(name):
        return get_tokenizer(name)
    path = Path(folder) / DEFINITION_FILE
    if not path.is_file():
        raise UserError(
            f"{folder} holds {name!r} tokens, a trained tokenizer whose definition {path} is missing: copy it there "
            "from the folder of the shards it made"
        )
    return get_tokenizer(name, path.read_text(encoding="utf-8"), str(path))


def saved_tokenizer(saved, source):
    """The tokenizer a checkpoint (or its plain part) names: "tokenizer" (older ones: none, GPT-2) and, for a
    trained one, "tokenizer_definition"."""
    return get_tokenizer(saved.get("tokenizer", "gpt2"), saved.get("tokenizer_definition"), f"{source}'s tokenizer")


def check_same_tokenizer(model_tokenizer_name, model_source, data_tokenizer_name, data_dir):
    """A one-line UserError when a model and the data it reads come from different tokenizers."""
    if model_tokenizer_name != data_tokenizer_name:
        raise UserError(
            f"{data_dir} holds {data_tokenizer_name!r} tokens but {model_source} reads {model_tokenizer_name!r} "
            "tokens: prepare the data with the model's tokenizer (a prepare script's --tokenizer)"
        )


def encode_document(tokenizer, text):
    """A document's tokens, preceded by end-of-text so that documents are separated by it."""
    return [tokenizer.eot_token, *tokenizer.encode(text)]
