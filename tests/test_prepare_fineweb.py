import pytest

from conftest import gpt2_tokens, make_documents, run_script, write_inputs
from gptkit.data.dataloader import ShardedBatches
from gptkit.data.shards import find_shards, read_shard


def prepare_fineweb(source, shard_size, val_tokens, workers, cwd):
    sizes = ("--shard-size", shard_size, "--val-tokens", val_tokens, "--workers", workers)
    return run_script("prepare_fineweb.py", "--dataset", source, "--out", "out", *sizes, cwd=cwd)


def read_back(shard_paths, block_size):
    """Every token of the shards, read through the loader in order (a window's y adds its last token)."""
    tokens = []
    for path in shard_paths:
        loader = ShardedBatches([path], 1, block_size, shuffle=False)
        n = loader.windows_per_shard[0]
        rows = [loader.next_batch() for _ in range(n)]
        tokens += [t for x, _ in rows for t in x[0].tolist()] + [rows[-1][1][0, -1].item()]
    return tokens


@pytest.mark.parametrize("input_kind", [0, 1, 2])
def test_round_trip_documents_to_shards_to_loader(tmp_path, input_kind):
    documents = make_documents(200)
    source = write_inputs(tmp_path, documents)[input_kind]
    expected = gpt2_tokens(documents)
    block = 16
    shard_size, val_tokens = 16 * 40 + 1, 16 * 25 + 1  # whole windows, so the loader reads every token
    result = prepare_fineweb(source, shard_size, val_tokens, workers=2, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    val, train = find_shards(tmp_path / "out", "val"), find_shards(tmp_path / "out", "train")
    assert len(val) == 1 and len(train) > 3
    assert sum(len(read_shard(p)[0]) for p in val + train) == len(expected)
    complete_shards = val + train[:-1]  # the last shard holds the rest, not whole windows
    tokens = read_back(complete_shards, block)
    assert tokens == expected[: len(tokens)]
    assert tokens[:val_tokens] == expected[:val_tokens]  # validation: the first tokens; training: the rest


def test_rerun_over_finished_shards_writes_nothing(tmp_path):
    documents = make_documents(100)
    source = write_inputs(tmp_path, documents)[0]
    assert prepare_fineweb(source, 500, 300, workers=1, cwd=tmp_path).returncode == 0
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    result = prepare_fineweb(source, 500, 300, workers=1, cwd=tmp_path)
    assert result.returncode == 0 and "already prepared" in result.stdout
    assert before == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}


def test_a_tokenizer_trained_on_the_streams_first_characters_makes_the_shards(tmp_path):
    from gptkit.data.bpe import train_bpe
    from gptkit.data.tokenizer import BPETokenizer, encode_document, load_tokenizer_file

    documents = make_documents(200)
    source = write_inputs(tmp_path, documents)[0]
    flags = ("--tokenizer", "bpe", "--vocab_size", "300", "--tokenizer_chars", "2000", "--workers", "2")
    flags += ("--shard_size", "5000", "--val_tokens", "1000")
    result = run_script("prepare_fineweb.py", "--dataset", source, "--out", "out", *flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    tokenizer = load_tokenizer_file(tmp_path / "out" / "tokenizer.json")
    assert tokenizer.name == BPETokenizer(train_bpe(first_characters_of(documents, 2000), 300, progress=False)).name
    shards = [*find_shards(tmp_path / "out", "val"), *find_shards(tmp_path / "out", "train")]
    assert {read_shard(path)[1] for path in shards} == {tokenizer.name}
    written = [t for path in shards for t in read_shard(path)[0].tolist()]
    assert written == [t for d in documents for t in encode_document(tokenizer, d)]


def first_characters_of(documents, limit):
    """The documents up to limit characters in all, the last one cut: what --tokenizer_chars trains on."""
    kept = []
    for document in documents:
        kept.append(document[: limit - sum(map(len, kept))])
    return [piece for piece in kept if piece]
