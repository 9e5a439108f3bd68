"""
Tokenizers: GPT-2's BPE through tiktoken, and a byte-level one for the offline demo.

Both put the end-of-text token between documents. A tokenizer is named in every shard header, so data and
model cannot be mixed up silently.
"""

from gptkit.errors import UserError


class ByteTokenizer:
    """UTF-8 bytes as tokens 0..255, plus an end-of-text token 256: no files, works anywhere."""

    name = "bytes"
    eot_token = 256
    n_vocab = 257

    def encode(self, text):
        return list(text.encode("utf-8"))

    def decode(self, tokens):
        return bytes(t for t in tokens if t < 256).decode("utf-8", errors="replace")


class GPT2Tokenizer:
    """OpenAI GPT-2's BPE (50257 tokens, end-of-text 50256) through tiktoken."""

    name = "gpt2"

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


TOKENIZERS = {"gpt2": GPT2Tokenizer, "bytes": ByteTokenizer}
VOCAB_SIZES = {"gpt2": 50257, "bytes": 257}  # known without loading the tokenizer files


def get_tokenizer(name):
    if name not in TOKENIZERS:
        raise UserError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
    return TOKENIZERS[name]()


def encode_document(tokenizer, text):
    """A document's tokens, preceded by end-of-text so that documents are separated by it."""
    return [tokenizer.eot_token, *tokenizer.encode(text)]
