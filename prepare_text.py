"""
Any local text into token shards: each file is a document; the first 10% of the tokens are the validation split.

    python prepare_text.py biblia.txt --out data/biblia                 # GPT-2 tokens
    python prepare_text.py notes/*.txt --tokenizer bytes --out data/notes
    python prepare_text.py --embedded                                    # the offline demo corpus

The embedded corpus is the Python documentation's topic pages that ship with every Python installation
(pydoc_data.topics: the language reference's sections on statements, operators, types, ...): real English
text, about half a million characters, on every machine that runs this repository.
"""

import argparse
from pathlib import Path

from corpus import write_token_shards
from errors import UserError, run_main
from tokenizer import encode_document, get_tokenizer

EMBEDDED_DATA_DIR = "data/python_docs"


def embedded_documents():
    from pydoc_data.topics import topics

    return [topics[name] for name in sorted(topics)]


def prepare_texts(texts, out_dir, tokenizer_name, val_fraction=0.1, workers=None):
    if not texts or not any(texts):
        raise UserError("no text to prepare")
    tokenizer = get_tokenizer(tokenizer_name)
    total_tokens = sum(len(encode_document(tokenizer, text)) for text in texts)
    val_tokens = max(1, int(total_tokens * val_fraction))
    return write_token_shards(texts, out_dir, Path(out_dir).name, tokenizer_name, 100_000_000, val_tokens, workers)


def prepare_embedded(out_dir=EMBEDDED_DATA_DIR):
    return prepare_texts(embedded_documents(), out_dir, "bytes", workers=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", help="text files, each one document")
    parser.add_argument("--embedded", action="store_true", help="prepare the embedded demo corpus instead")
    parser.add_argument("--out", default=None, help="output folder (default: data/<first file's name>)")
    parser.add_argument("--tokenizer", default="gpt2", choices=["gpt2", "bytes"])
    parser.add_argument("--val-fraction", type=float, default=0.1)
    args = parser.parse_args()
    if args.embedded:
        shards = prepare_embedded(args.out or EMBEDDED_DATA_DIR)
    else:
        if not args.files:
            raise UserError("give text files to prepare, or --embedded")
        missing = [f for f in args.files if not Path(f).is_file()]
        if missing:
            raise UserError(f"not a file: {', '.join(missing)}")
        texts = [Path(f).read_text(encoding="utf-8", errors="replace") for f in args.files]
        out_dir = args.out or f"data/{Path(args.files[0]).stem}"
        shards = prepare_texts(texts, out_dir, args.tokenizer, args.val_fraction)
    print(f"{len(shards)} shards: {', '.join(str(s) for s in shards)}")


if __name__ == "__main__":
    run_main(main)
