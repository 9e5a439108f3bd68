import pytest

from conftest import make_documents, tiny_bpe
from gptkit.data import corpus
from gptkit.data.corpus import embedded_documents, prepare_texts, write_token_shards
from gptkit.data.shards import read_shard
from gptkit.data.tokenizer import ByteTokenizer, encode_document
from gptkit.errors import UserError


def test_empty_input_is_an_error(tmp_path):
    with pytest.raises(UserError, match="no documents"):
        write_token_shards(iter([]), tmp_path, "x", "bytes", 100, 10, workers=1)


def test_interrupted_preparation_resumes_to_the_same_shards(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "DOCUMENTS_PER_CHUNK", 10)
    documents = make_documents(150)
    complete = write_token_shards(iter(documents), tmp_path / "a", "x", "bytes", 700, 300, workers=1)

    def stop_after(n):  # documents stop coming mid-way, as if the process were killed there
        yield from documents[:n]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_token_shards(stop_after(90), tmp_path / "b", "x", "bytes", 700, 300, workers=1)
    finished = len(list((tmp_path / "b").glob("*.bin")))
    assert 1 < finished < len(complete)
    resumed = write_token_shards(iter(documents), tmp_path / "b", "x", "bytes", 700, 300, workers=1)
    assert len(resumed) == len(complete)
    for a, b in zip(complete, resumed):
        assert read_shard(a)[0].tolist() == read_shard(b)[0].tolist()


def test_resume_inside_a_document_longer_than_a_shard(tmp_path, monkeypatch):
    documents = ["short one", "x" * 2500, "tail document"]  # the long one spans several 700-token shards
    complete = write_token_shards(iter(documents), tmp_path / "a", "x", "bytes", 700, 300, workers=1)
    assert len(complete) == 5

    def killed_at_shard(n):  # the process dies while writing its n-th shard, inside the long document
        calls = []

        def write_shard(*args):
            calls.append(args)
            if len(calls) == n:
                raise KeyboardInterrupt
            corpus_write_shard(*args)

        return write_shard

    corpus_write_shard = corpus.write_shard
    for n in (3, 2):  # first run: val, shard 1, dies at shard 2; second run: shard 2, dies at shard 3
        monkeypatch.setattr(corpus, "write_shard", killed_at_shard(n))
        with pytest.raises(KeyboardInterrupt):
            write_token_shards(iter(documents), tmp_path / "b", "x", "bytes", 700, 300, workers=1)
    monkeypatch.setattr(corpus, "write_shard", corpus_write_shard)
    resumed = write_token_shards(iter(documents), tmp_path / "b", "x", "bytes", 700, 300, workers=1)
    assert [read_shard(p)[0].tolist() for p in resumed] == [read_shard(p)[0].tolist() for p in complete]


def test_embedded_corpus_is_real_text(tmp_path):
    documents = embedded_documents()
    assert len(documents) > 50 and sum(map(len, documents)) > 300_000
    shards = prepare_texts(documents, tmp_path, "bytes", workers=1)
    assert "statement" in ByteTokenizer().decode(read_shard(shards[1])[0][:20000].tolist())


def test_corpus_ending_exactly_at_a_shard_end_is_complete(tmp_path, capsys):
    documents = ["a" * 99]  # 100 tokens with its end-of-text: 30 validation + one full 70-token shard
    shards = write_token_shards(iter(documents), tmp_path, "x", "bytes", 70, 30, workers=1)
    assert [len(read_shard(p)[0]) for p in shards] == [30, 70]
    assert write_token_shards(iter(documents), tmp_path, "x", "bytes", 70, 30, workers=1) == shards
    assert "already prepared" in capsys.readouterr().out


def test_other_settings_in_a_prepared_folder_are_refused(tmp_path):
    write_token_shards(iter(["a" * 99]), tmp_path, "x", "bytes", 70, 30, workers=1)
    with pytest.raises(UserError, match="prepared with other settings"):
        write_token_shards(iter(["a" * 99]), tmp_path, "x", "bytes", 50, 30, workers=1)


def test_parquet_without_the_text_column_names_its_columns(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"body": ["one", "two"]}), tmp_path / "docs.parquet")
    with pytest.raises(UserError, match="no column 'text'; its columns: body"):
        list(corpus.stream_documents(tmp_path / "docs.parquet"))


def test_worker_processes_tokenize_with_a_trained_tokenizer_as_this_process_does(tmp_path):
    tokenizer = tiny_bpe()
    documents = embedded_documents()[:30]
    shards = write_token_shards(iter(documents), tmp_path, "x", tokenizer, 20_000, 5000, workers=2)
    written = [t for path in shards for t in read_shard(path)[0].tolist()]
    assert written == [t for document in documents for t in encode_document(tokenizer, document)]
    assert {read_shard(path)[1] for path in shards} == {tokenizer.name}  # every header names it
    assert (tmp_path / "tokenizer.json").read_text() == tokenizer.definition  # its definition beside them
