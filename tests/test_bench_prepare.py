import re

import pytest

from bench_prepare import build_parquet
from conftest import run_script
from gptkit.data.corpus import embedded_documents


def test_reports_the_documents_and_tokens_it_prepared(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    # the command builds this same parquet (seed 0) in a temporary folder; here it is built to count by hand
    n_documents = build_parquet(tmp_path / "docs.parquet", megabytes=0.01)
    documents = pq.read_table(tmp_path / "docs.parquet").column("text").to_pylist()
    assert n_documents == len(documents) == 1000  # written 1000 at a time, at least the size asked for
    assert sum(map(len, documents)) >= 0.01e6
    assert len(set(map(len, documents))) > 900  # real paragraphs shuffled into documents of varied length
    assert documents[0].split("\n\n")[0] in "\n\n".join(embedded_documents())
    tokens = sum(len(doc.encode("utf-8")) + 1 for doc in documents)  # bytes and an end-of-text per document

    options = ("--megabytes", "0.01", "--workers", "1", "--tokenizer", "bytes", "--shard-size", "1000000")
    result = run_script("bench_prepare.py", *options)
    assert result.returncode == 0, result.stderr[-2000:]
    report = re.search(r"(\d+) documents -> ([\d.]+)M tokens in [\d.]+ s: ([\d.]+)M tokens/s", result.stdout)
    assert report, result.stdout
    assert int(report.group(1)) == n_documents
    assert report.group(2) == f"{tokens / 1e6:.1f}" and float(report.group(3)) > 0
