"""
The tokenizer a prepare script writes its shards with, from its flags:

    --tokenizer gpt2 | bytes                               a built-in tokenizer
    --tokenizer path/to/tokenizer.json                     a BPE trained before (copied beside the new shards)
    --tokenizer bpe --vocab_size 8192 [--tokenizer_chars 100_000_000]
                                                           a BPE trained on the corpus' first characters

A re-run with the same --vocab_size and --tokenizer_chars takes up the tokenizer the output folder holds instead of
training it again (training is deterministic: it would give the same one). Bad flags are refused before the corpus
is read or anything is written.
"""

import json
from pathlib import Path

from tqdm import tqdm

from gptkit.data import bpe
from gptkit.data.tokenizer import BUILT_IN, DEFINITION_FILE, BPETokenizer, get_tokenizer, load_tokenizer_file
from gptkit.errors import UserError

TRAINING_RECORD = "tokenizer_training.json"  # what the folder's tokenizer was trained with, for a re-run
DEFAULT_CHARACTERS = 100_000_000


def add_tokenizer_arguments(parser):
    parser.add_argument(
        "--tokenizer", default="gpt2", help="gpt2 (default), bytes, bpe (train one on the corpus), or a tokenizer.json"
    )
    parser.add_argument("--vocab_size", type=int, help="--tokenizer bpe: its tokens, end-of-text included (8192)")
    parser.add_argument(
        "--tokenizer_chars",
        type=int,
        default=DEFAULT_CHARACTERS,
        help=f"--tokenizer bpe: trained on this many first characters of the corpus ({DEFAULT_CHARACTERS:_})",
    )


def check_tokenizer_arguments(args):
    """Every problem with the tokenizer flags, before any work."""
    if args.tokenizer == "bpe":
        if args.vocab_size is None:
            raise UserError("--tokenizer bpe needs --vocab_size (e.g. 8192: tokens, end-of-text included)")
        bpe.check_vocab_size(args.vocab_size)
        if args.tokenizer_chars < 1:
            raise UserError(f"--tokenizer_chars must be >= 1, got {args.tokenizer_chars}")
    elif args.vocab_size is not None:
        raise UserError(f"--vocab_size applies to --tokenizer bpe (training one), not to --tokenizer {args.tokenizer}")
    elif args.tokenizer not in BUILT_IN and not Path(args.tokenizer).exists():
        raise UserError(
            f"--tokenizer {args.tokenizer!r}: not gpt2, bytes or bpe, and no such tokenizer file (a tokenizer.json)"
        )


def tokenizer_from_arguments(args, documents, out_dir):
    """The tokenizer the flags ask for. documents() gives the corpus' documents from the start, each time it is
    called: training reads their first characters, and the shards are written from a fresh pass."""
    check_tokenizer_arguments(args)
    if args.tokenizer in BUILT_IN:
        return get_tokenizer(args.tokenizer)
    if args.tokenizer != "bpe":
        return load_tokenizer_file(args.tokenizer)
    return trained_tokenizer(documents, out_dir, args.vocab_size, args.tokenizer_chars)


def trained_tokenizer(documents, out_dir, vocab_size, characters):
    """A BPE of vocab_size tokens trained on the first characters of the documents, or the one out_dir holds
    from an earlier run with the same request."""
    request = {"vocab_size": vocab_size, "characters": characters}
    record, earlier = Path(out_dir) / TRAINING_RECORD, Path(out_dir) / DEFINITION_FILE
    if record.is_file() and earlier.is_file():
        tokenizer = load_tokenizer_file(earlier)
        if json.loads(record.read_text()) == {**request, "name": tokenizer.name}:
            print(f"{tokenizer.name}: trained earlier, taken up from {earlier}")
            return tokenizer
    print(f"training a BPE tokenizer of {vocab_size} tokens on the first {characters:,} characters")
    tokenizer = BPETokenizer(bpe.train_bpe(first_characters(documents(), characters), vocab_size))
    if tokenizer.n_vocab < vocab_size:
        print(f"the training text ran out of pairs to merge: {tokenizer.n_vocab} tokens, not {vocab_size}")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({**request, "name": tokenizer.name}) + "\n")
    print(f"trained {tokenizer.name}")
    return tokenizer


def first_characters(documents, limit):
    """The documents up to limit characters in all (the last one cut), with a progress bar."""
    bar = tqdm(total=limit, unit="char", unit_scale=True, desc="tokenizer training text")
    left = limit
    for document in documents:
        if left <= 0:
            break
        piece = document[:left]
        left -= len(piece)
        bar.update(len(piece))
        yield piece
    bar.close()
