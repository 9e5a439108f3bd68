"""
Benchmark of the prepare path: tokens/s and peak memory of tokenizing a local parquet file into shards.

    python bench_prepare.py --megabytes 200 --workers 2

The parquet is built from real text (the embedded Python documentation, its paragraphs shuffled into
documents of varied length) so the tokenizer sees realistic input, not repeated filler.
"""

import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from gptkit.command_line import OneLineParser
from gptkit.data.corpus import embedded_documents, stream_documents, write_token_shards
from gptkit.errors import run_main


def build_parquet(path, megabytes, seed=0):
    import pyarrow as pa

    paragraphs = [p for doc in embedded_documents() for p in doc.split("\n\n") if p.strip()]
    rng = np.random.default_rng(seed)
    n_documents, size = 0, 0
    with pq.ParquetWriter(path, pa.schema([("text", pa.string())])) as writer:
        while size < megabytes * 1e6:  # written 1000 documents at a time: the builder's memory stays small too
            picks = [rng.integers(0, len(paragraphs), size=rng.integers(3, 40)) for _ in range(1000)]
            documents = ["\n\n".join(paragraphs[i] for i in pick) for pick in picks]
            writer.write_table(pa.table({"text": documents}))
            n_documents, size = n_documents + len(documents), size + sum(map(len, documents))
    return n_documents


def main(argv):
    parser = OneLineParser("bench_prepare.py", __doc__)
    parser.add_argument("--megabytes", type=float, default=100)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--tokenizer", default="gpt2", choices=["gpt2", "bytes"])
    parser.add_argument("--shard_size", type=int, default=10_000_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        parquet = Path(tmp) / "docs.parquet"
        builder = mp.Process(target=build_parquet, args=(parquet, args.megabytes))  # its memory is not counted
        builder.start()
        builder.join()
        n_documents = pq.ParquetFile(parquet).metadata.num_rows
        start = time.perf_counter()
        shards = write_token_shards(
            stream_documents(parquet),
            Path(tmp) / "out",
            "bench",
            args.tokenizer,
            args.shard_size,
            args.shard_size,
            args.workers,
        )
        elapsed_s = time.perf_counter() - start
        n_tokens = sum((s.stat().st_size - 64) // 2 for s in shards)
    peak_mib = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(
        f"{args.megabytes:.0f} MB parquet, {n_documents} documents -> {n_tokens / 1e6:.1f}M tokens in "
        f"{elapsed_s:.1f} s: {n_tokens / elapsed_s / 1e6:.2f}M tokens/s; peak memory (largest process) "
        f"{peak_mib / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
