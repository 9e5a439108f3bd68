"""
Tokenizer files for a transformers folder: tokenizer.json and tokenizer_config.json, which
`AutoTokenizer.from_pretrained(folder)` loads.

The invariant its tests check: the folder's tokenizer encodes every text as ours does (gptkit/data/tokenizer.py).
- "gpt2": GPT-2's BPE rebuilt from the ranks tiktoken already holds (they are GPT-2's vocab and merges), with
  transformers' converter for tiktoken encodings; <|endoftext|> is the special token 50256. Unlike our
  encode_ordinary, transformers' tokenizer turns the literal text "<|endoftext|>" into that token, as
  tiktoken's encode(text, allowed_special="all") does.
- "bytes": UTF-8 bytes 0-255 as tokens, plus <|endoftext|> = 256.
- a trained BPE ("bpe<n>-<hash>"): its definition is a tokenizer.json already, made by the same converter from its
  ranks (gptkit/data/bpe.py).
"""

import functools
import json
from pathlib import Path

from gptkit.data.bpe import END_OF_TEXT, definition_from_ranks
from gptkit.errors import UserError


def gpt2_tokenizer():
    """GPT-2's BPE as a `tokenizers` Tokenizer."""
    import tiktoken_ext.openai_public

    try:
        encoding = tiktoken_ext.openai_public.gpt2()  # mergeable_ranks, pat_str, special_tokens
    except Exception as e:  # tiktoken raises requests' or its own errors when the download fails
        raise UserError(
            f"could not load the GPT-2 tokenizer files ({type(e).__name__}): offline, point TIKTOKEN_CACHE_DIR at "
            "a folder holding tiktoken's cached gpt2 files"
        ) from None

    return definition_from_ranks(encoding["mergeable_ranks"], encoding["pat_str"])


def byte_tokenizer():
    """Bytes 0-255 as tokens 0-255 (through GPT-2's printable stand-ins for bytes) and <|endoftext|> = 256."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {character: byte for byte, character in bytes_to_unicode().items()}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(END_OF_TEXT, normalized=False, special=True)])
    return tokenizer


BUILDERS = {"gpt2": gpt2_tokenizer, "bytes": byte_tokenizer}


@functools.cache
def built_in_json(tokenizer_name):
    """A built-in tokenizer serialised, built once per process (GPT-2's merges take seconds to derive)."""
    if tokenizer_name not in BUILDERS:
        raise UserError(f"no transformers tokenizer for {tokenizer_name!r}; known: {', '.join(BUILDERS)}")
    return BUILDERS[tokenizer_name]().to_str()


def tokenizer_json(tokenizer):
    """tokenizer.json's text for one of our tokenizers (gptkit/data/tokenizer.py): a trained one's definition, or a
    built-in one's, converted."""
    return tokenizer.definition or built_in_json(tokenizer.name)


def write_tokenizer(out_dir, tokenizer, model_max_length):
    """The tokenizer files of one of our tokenizers in out_dir."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    transformers_tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(tokenizer_json(tokenizer)),
        bos_token=END_OF_TEXT,
        eos_token=END_OF_TEXT,
        unk_token=END_OF_TEXT,
        model_max_length=model_max_length,
    )
    transformers_tokenizer.save_pretrained(out_dir)
    # Name the class every transformers version knows (5.x writes its new "TokenizersBackend", which 4.x lacks).
    config_path = Path(out_dir) / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
