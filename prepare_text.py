"""
Any local text into token shards: each file is a document; the first 10% of the tokens are the validation split.

    python prepare_text.py biblia.txt --out data/biblia                 # GPT-2 tokens
    python prepare_text.py notes/*.txt --tokenizer bytes --out data/notes
    python prepare_text.py biblia.txt --tokenizer bpe --vocab_size 8192 --out data/biblia_bpe8k   # train one
    python prepare_text.py more.txt --tokenizer data/biblia_bpe8k/tokenizer.json --out data/more  # reuse it
    python prepare_text.py --embedded                                    # the offline demo corpus
    python prepare_text.py notes/*.txt --tokenizer bytes --retrieval_share 0.25 --out data/notes_retrieval

The embedded corpus is described in gptkit/data/corpus.py, the tokenizers in docs/data.md. --retrieval_share
mixes synthetic retrieval documents (key-value lists queried later, repeated lines:
gptkit/data/retrieval_documents.py) into the training split, that share of its tokens; the validation split
stays the real text.
"""

import sys
from pathlib import Path

from gptkit.command_line import OneLineParser
from gptkit.data.corpus import EMBEDDED_DATA_DIR, prepare_embedded, prepare_texts, read_text_file
from gptkit.data.retrieval_documents import RetrievalMix
from gptkit.data.tokenizer_option import add_tokenizer_arguments, check_tokenizer_arguments, tokenizer_from_arguments
from gptkit.errors import UserError, run_main


def main(argv):
    parser = OneLineParser("prepare_text.py", __doc__)
    parser.add_argument("files", nargs="*", help="text files, each one document")
    parser.add_argument("--embedded", action="store_true", help="prepare the embedded demo corpus instead")
    parser.add_argument("--out", default=None, help="output folder (default: data/<first file's name>)")
    add_tokenizer_arguments(parser)
    parser.add_argument("--val_fraction", type=float, default=0.1)
    parser.add_argument("--retrieval_share", type=float, default=0.0, help="of the training tokens (default 0)")
    parser.add_argument("--retrieval_max_distance", type=int, default=256, help="characters a query looks back")
    parser.add_argument("--retrieval_seed", type=int, default=0, help="of the retrieval documents")
    args = parser.parse_args(argv)
    retrieval = RetrievalMix(args.retrieval_share, args.retrieval_seed, max_distance=args.retrieval_max_distance)
    if args.embedded:
        shards = prepare_embedded(args.out or EMBEDDED_DATA_DIR, retrieval)
    else:
        if not args.files:
            raise UserError("give text files to prepare, or --embedded")
        missing = [f for f in args.files if not Path(f).is_file()]
        if missing:
            raise UserError(f"not a file: {', '.join(missing)}")
        check_tokenizer_arguments(args)
        texts = [read_text_file(f) for f in args.files]
        out_dir = args.out or f"data/{Path(args.files[0]).stem}"
        tokenizer = tokenizer_from_arguments(args, lambda: iter(texts), out_dir)
        shards = prepare_texts(texts, out_dir, tokenizer, args.val_fraction, retrieval=retrieval)
    print(f"{len(shards)} shards: {', '.join(str(s) for s in shards)}")


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
