"""
FineWeb-edu (sample-10BT by default) into 100M-token shards (GPT-2 tokens by default); the first shard is the
validation split.

    python prepare_fineweb.py                                   # HuggingFaceFW/fineweb-edu sample-10BT
    python prepare_fineweb.py --name sample-100BT --out data/fineweb_edu100B
    python prepare_fineweb.py --dataset HuggingFaceFW/fineweb --name sample-10BT --out data/fineweb10B
    python prepare_fineweb.py --dataset my_docs.parquet --out data/mine   # a local parquet/jsonl/text file or folder
    python prepare_fineweb.py --tokenizer bpe --vocab_size 32768 --tokenizer_chars 2_000_000_000 --out data/fw32k

Re-running continues after the last finished shard. --tokenizer bpe trains a tokenizer on the first characters
of the dataset first, kept beside the shards (docs/data.md).
"""

import sys

from gptkit.command_line import OneLineParser
from gptkit.data.corpus import stream_documents, write_token_shards
from gptkit.data.tokenizer_option import add_tokenizer_arguments, check_tokenizer_arguments, tokenizer_from_arguments
from gptkit.errors import run_main


def main(argv):
    parser = OneLineParser("prepare_fineweb.py", __doc__)
    parser.add_argument("--dataset", default="HuggingFaceFW/fineweb-edu", help="hub name or local file/folder")
    parser.add_argument("--name", default="sample-10BT", help="the hub dataset's subset (ignored for local files)")
    parser.add_argument("--out", default="data/fineweb_edu10B")
    parser.add_argument("--shard_size", type=int, default=100_000_000, help="tokens per shard")
    parser.add_argument("--val_tokens", type=int, default=None, help="validation tokens (default: one shard)")
    add_tokenizer_arguments(parser)
    parser.add_argument("--text_field", default="text")
    parser.add_argument("--workers", type=int, default=None, help="tokenizer processes (default: all cores)")
    args = parser.parse_args(argv)
    check_tokenizer_arguments(args)

    def documents():
        return stream_documents(args.dataset, name=args.name, text_field=args.text_field)

    tokenizer = tokenizer_from_arguments(args, documents, args.out)
    shards = write_token_shards(
        documents(),
        args.out,
        "fineweb",
        tokenizer,
        args.shard_size,
        args.val_tokens or args.shard_size,
        args.workers,
    )
    print(f"{len(shards)} shards in {args.out}")


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
