"""gptkit/data/retrieval_documents.py: the same seed gives the same documents; every query's answer stands earlier
in its document at the distance it states; a prepared corpus holds the share of them asked for, in its training
split only (counted on the shards)."""

import numpy as np
import pytest

from gptkit.data.corpus import prepare_texts
from gptkit.data.retrieval_documents import (
    HEADERS,
    RetrievalMix,
    evenly_merged,
    is_retrieval_document,
    retrieval_document,
    retrieval_documents,
)
from gptkit.data.shards import find_shards, read_shard
from gptkit.data.tokenizer import ByteTokenizer
from gptkit.errors import UserError


def first_documents(seed, count, **settings):
    stream = retrieval_documents(seed, RetrievalMix(**settings))
    return [next(stream) for _ in range(count)]


def test_one_seed_gives_the_same_documents_and_another_seed_others():
    same = first_documents(7, 6), first_documents(7, 6)
    assert [d.text for d in same[0]] == [d.text for d in same[1]]
    assert [d.queries for d in same[0]] == [d.queries for d in same[1]]
    assert [d.text for d in first_documents(8, 6)] != [d.text for d in same[0]]
    assert {d.kind for d in first_documents(7, 20)} == set(HEADERS)  # both kinds are drawn


def test_every_answer_stands_earlier_at_the_stated_distance():
    settings = RetrievalMix(characters=600, max_distance=128)
    rng = np.random.default_rng(0)
    distances = []
    for _ in range(40):
        document = retrieval_document(rng, settings)
        assert document.text.startswith(HEADERS[document.kind]) and len(document.text) >= 600
        assert document.text.isascii() and document.queries
        for query in document.queries:
            size = len(query.answer)
            earlier = query.position - query.distance
            assert document.text[query.position : query.position + size] == query.answer
            assert document.text[earlier : earlier + size] == query.answer
            assert 0 < query.distance <= 128
            if document.kind == "key_value":  # "get key = value" asks for the key set by "set key = value"
                line_start = document.text.rindex("\n", 0, query.position) + 1
                key = document.text[line_start + 4 : query.position - 3]
                assert document.text[line_start : query.position] == f"get {key} = "
                assert f"set {key} = {query.answer}\n" in document.text[:earlier + size + 1]
            distances.append(query.distance)
    assert max(distances) > 100 and min(distances) < 32  # near and far queries both


def test_bad_settings_are_one_line():
    for settings, message in [
        (dict(share=1.0), "share must be in"),
        (dict(max_distance=8), "max_distance >= 32"),
        (dict(query_share=0.0), "query_share must be between 0 and 1"),
    ]:
        with pytest.raises(UserError, match=message):
            RetrievalMix(**settings)


def test_evenly_merged_keeps_each_lists_order_and_spreads_the_second():
    first = [(f"r{i}", 10) for i in range(8)]
    second = [(f"s{i}", 10) for i in range(3)]
    merged = evenly_merged(first, second)
    assert [t for t in merged if t.startswith("r")] == [t for t, _ in first]
    assert [t for t in merged if t.startswith("s")] == [t for t, _ in second]
    assert [merged.index(f"s{i}") for i in range(3)] == [1, 5, 9]  # middles 1/6, 3/6, 5/6 among (i + 1/2) / 8


def documents_of(shard):
    """[(tokens of a document, its end-of-text token first; whether it is a retrieval document)] of a shard (the
    first: the rest of a document begun in the shard before)."""
    tokens = np.asarray(read_shard(shard)[0])
    starts = [0, *np.flatnonzero(tokens == ByteTokenizer.eot_token)]
    pieces = [tokens[start:end] for start, end in zip(starts, [*starts[1:], len(tokens)]) if end > start]
    return [(piece, is_retrieval_document(ByteTokenizer().decode(piece[1:].tolist()))) for piece in pieces]


@pytest.mark.parametrize("share", [0.2, 0.5])
def test_a_prepared_training_shard_holds_the_share_and_the_validation_shard_none(tmp_path, share):
    texts = [f"document {i}: " + "real text with words. " * (20 + 7 * i) for i in range(40)]
    mix = RetrievalMix(share=share, seed=3, characters=300, max_distance=64)
    mixed = prepare_texts(texts, tmp_path / "mixed", "bytes", val_fraction=0.1, workers=1, retrieval=mix)
    plain = prepare_texts(texts, tmp_path / "plain", "bytes", val_fraction=0.1, workers=1)
    assert np.array_equal(read_shard(mixed[0])[0], read_shard(plain[0])[0])  # validation: the real text alone
    documents = documents_of(mixed[1])
    synthetic = sum(len(tokens) for tokens, is_synthetic in documents if is_synthetic)
    total = sum(len(tokens) for tokens, _ in documents)
    largest = max(len(tokens) for tokens, is_synthetic in documents if is_synthetic)
    assert abs(synthetic / total - share) <= largest / 2 / total  # to within half a document
    real = np.concatenate([tokens for tokens, is_synthetic in documents if not is_synthetic])
    assert np.array_equal(real, read_shard(plain[1])[0])  # the real training text, whole and in order
    spread = [i for i, (_, is_synthetic) in enumerate(documents) if is_synthetic]
    assert spread[0] < len(documents) / 4 and spread[-1] > 3 * len(documents) / 4  # spread over the split
