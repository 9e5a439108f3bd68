"""
OpenWebText into token shards (GPT-2's by default): a small validation split first, then 100M-token training
shards.

    python prepare_openwebtext.py                 # ~9B tokens into data/openwebtext
    python prepare_openwebtext.py --dataset owt_parquet_folder/   # a local copy
    python prepare_openwebtext.py --tokenizer bpe --vocab_size 32768 --out data/owt32k   # train a tokenizer first

The original loading script of Skylion007/openwebtext no longer runs with current `datasets`, so this reads
the parquet conversion that the Hugging Face hub keeps (revision refs/convert/parquet).
"""

import sys

from gptkit.command_line import OneLineParser
from gptkit.data.corpus import stream_documents, write_token_shards
from gptkit.data.tokenizer_option import add_tokenizer_arguments, check_tokenizer_arguments, tokenizer_from_arguments
from gptkit.errors import run_main


def main(argv):
    parser = OneLineParser("prepare_openwebtext.py", __doc__)
    parser.add_argument("--dataset", default="Skylion007/openwebtext", help="hub name or local file/folder")
    parser.add_argument("--revision", default="refs/convert/parquet")
    parser.add_argument("--out", default="data/openwebtext")
    parser.add_argument("--shard_size", type=int, default=100_000_000, help="tokens per training shard")
    parser.add_argument("--val_tokens", type=int, default=4_000_000, help="validation tokens (~0.05%%)")
    parser.add_argument("--workers", type=int, default=None, help="tokenizer processes (default: all cores)")
    add_tokenizer_arguments(parser)
    args = parser.parse_args(argv)
    check_tokenizer_arguments(args)

    def documents():
        return stream_documents(args.dataset, revision=args.revision)

    tokenizer = tokenizer_from_arguments(args, documents, args.out)
    shards = write_token_shards(
        documents(), args.out, "openwebtext", tokenizer, args.shard_size, args.val_tokens, args.workers
    )
    print(f"{len(shards)} shards in {args.out}")


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
