import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run_script
from gptkit import corpus
from gptkit.corpus import embedded_documents, prepare_texts, write_token_shards
from gptkit.dataloader import ShardedBatches, validation_batches
from gptkit.errors import UserError
from gptkit.shards import find_shards, read_shard, write_shard
from gptkit.tokenizer import ByteTokenizer, encode_document, get_tokenizer

WORDS = "the quick brown fox jumps over a lazy dog while seven wizards quietly hex bad jumbo vows".split()


def make_documents(n, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(5, 60))) for _ in range(n)]


def test_gpt2_tokenizer_is_the_real_one():
    tokenizer = get_tokenizer("gpt2")
    assert tokenizer.encode("Hello world") == [15496, 995]
    assert tokenizer.eot_token == 50256
    assert tokenizer.decode([15496, 995]) == "Hello world"


def test_gpt2_tokenizer_offline_without_cache_names_the_variable(tmp_path):
    code = (
        "from gptkit import tokenizer, errors\n"
        "try:\n  tokenizer.get_tokenizer('gpt2')\nexcept errors.UserError as e:\n  print(e)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "TIKTOKEN_CACHE_DIR": str(tmp_path),
        "HOME": str(tmp_path),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert "TIKTOKEN_CACHE_DIR" in result.stdout, result.stderr


def test_byte_tokenizer_round_trip():
    tokenizer = ByteTokenizer()
    text = "¡Hola, señor! 你好"
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert encode_document(tokenizer, "ab") == [256, 97, 98]


def test_shard_header_describes_the_tokens(tmp_path):
    write_shard(tmp_path / "a.bin", [1, 2, 50256], "gpt2", 50257)
    tokens, name = read_shard(tmp_path / "a.bin")
    assert name == "gpt2" and tokens.dtype == np.uint16 and tokens.tolist() == [1, 2, 50256]
    write_shard(tmp_path / "b.bin", [70000], "big", 100000)
    tokens, _ = read_shard(tmp_path / "b.bin")
    assert tokens.dtype == np.uint32 and tokens.tolist() == [70000]


def test_truncated_and_foreign_shards_are_one_line_errors(tmp_path):
    write_shard(tmp_path / "a.bin", list(range(100)), "gpt2", 50257)
    data = (tmp_path / "a.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[:-10])
    (tmp_path / "foreign.bin").write_bytes(np.arange(100, dtype=np.uint16).tobytes())
    with pytest.raises(UserError, match="truncated"):
        read_shard(tmp_path / "cut.bin")
    with pytest.raises(UserError, match="not a token shard"):
        read_shard(tmp_path / "foreign.bin")


def test_loader_rejects_shards_of_another_tokenizer(tmp_path):
    write_shard(tmp_path / "a.bin", list(range(100)), "gpt2", 50257)
    with pytest.raises(UserError, match="vocab_size is 257"):
        ShardedBatches([tmp_path / "a.bin"], 2, 8, vocab_size=257)


def test_corpus_shorter_than_one_block_is_an_error(tmp_path):
    write_shard(tmp_path / "a.bin", list(range(8)), "bytes", 257)
    with pytest.raises(UserError, match="shorter than one block"):
        ShardedBatches([tmp_path / "a.bin"], 2, 8)


def test_empty_input_is_an_error(tmp_path):
    with pytest.raises(UserError, match="no documents"):
        write_token_shards(iter([]), tmp_path, "x", "bytes", 100, 10, workers=1)


def write_inputs(tmp_path, documents):
    """The same documents as a parquet file, a jsonl file and a folder of text files."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": documents, "id": list(range(len(documents)))}), tmp_path / "docs.parquet")
    with open(tmp_path / "docs.jsonl", "w") as f:
        for doc in documents:
            f.write(json.dumps({"text": doc}) + "\n")
    (tmp_path / "texts").mkdir()
    for i, doc in enumerate(documents):
        (tmp_path / "texts" / f"{i:04d}.txt").write_text(doc)
    return tmp_path / "docs.parquet", tmp_path / "docs.jsonl", tmp_path / "texts"


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
    tokenizer = get_tokenizer("gpt2")
    expected = [t for doc in documents for t in encode_document(tokenizer, doc)]
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


def test_prepare_text_splits_train_and_val(tmp_path):
    (tmp_path / "biblia.txt").write_text("En el principio creó Dios los cielos y la tierra.\n" * 200)
    result = run_script("prepare_text.py", "biblia.txt", "--tokenizer", "bytes", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    val, train = find_shards(tmp_path / "data/biblia", "val"), find_shards(tmp_path / "data/biblia", "train")
    n_val, n_train = len(read_shard(val[0])[0]), len(read_shard(train[0])[0])
    assert n_val == int(0.1 * (n_val + n_train))


def test_prepare_text_without_input_is_a_one_line_error(tmp_path):
    result = run_script("prepare_text.py", "missing.txt", cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.strip() == "error: not a file: missing.txt"


def test_embedded_corpus_is_real_text(tmp_path):
    documents = embedded_documents()
    assert len(documents) > 50 and sum(map(len, documents)) > 300_000
    shards = prepare_texts(documents, tmp_path, "bytes", workers=1)
    assert "statement" in ByteTokenizer().decode(read_shard(shards[1])[0][:20000].tolist())


@pytest.fixture
def many_shards(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i, n in enumerate([1000, 777, 1500, 64]):
        paths.append(tmp_path / f"d_train_{i:06d}.bin")
        write_shard(paths[-1], rng.integers(0, 257, n), "bytes", 257)
    return paths


def batches(loader, n):
    return [loader.next_batch() for _ in range(n)]


def test_two_ranks_see_disjoint_halves_of_the_single_rank_batch(many_shards):
    single = batches(ShardedBatches(many_shards, 8, 16, seed=3), 30)
    rank0 = batches(ShardedBatches(many_shards, 4, 16, rank=0, world_size=2, seed=3), 30)
    rank1 = batches(ShardedBatches(many_shards, 4, 16, rank=1, world_size=2, seed=3), 30)
    for (x, y), (x0, y0), (x1, y1) in zip(single, rank0, rank1):
        assert np.array_equal(x.numpy(), np.concatenate([x0, x1]))
        assert np.array_equal(y.numpy(), np.concatenate([y0, y1]))
        assert not any((row == other).all() for row in x0 for other in x1)


def test_windows_never_cross_a_shard_end_and_y_is_x_shifted(many_shards):
    shard_tokens = [read_shard(p)[0] for p in many_shards]
    loader = ShardedBatches(many_shards, 5, 16, seed=1)
    for x, y in batches(loader, 60):  # more than one epoch (~208 windows)
        assert np.array_equal(x[:, 1:].numpy(), y[:, :-1].numpy())
        for row_x, row_y in zip(x.numpy(), y.numpy()):
            window = np.concatenate([row_x, row_y[-1:]])
            assert any(_contains_at_block_start(tokens, window, 16) for tokens in shard_tokens)
    assert loader.epoch >= 1


def _contains_at_block_start(tokens, window, block):
    return any(np.array_equal(tokens[s : s + block + 1], window) for s in range(0, len(tokens) - block, block))


def test_epochs_are_shuffled_and_deterministic(many_shards):
    a = batches(ShardedBatches(many_shards, 4, 16, seed=7), 100)
    b = batches(ShardedBatches(many_shards, 4, 16, seed=7), 100)
    c = batches(ShardedBatches(many_shards, 4, 16, seed=8), 100)
    assert all(np.array_equal(p[0], q[0]) for p, q in zip(a, b))
    assert not all(np.array_equal(p[0], q[0]) for p, q in zip(a, c))
    epoch_one, epoch_two = np.concatenate([x for x, _ in a[:52]]), np.concatenate([x for x, _ in a[52:104]])
    assert not np.array_equal(epoch_one, epoch_two)  # 208 windows per epoch, drawn in another order


def test_restored_loader_yields_the_same_next_batches(many_shards):
    original = ShardedBatches(many_shards, 3, 16, seed=5)
    batches(original, 37)
    state = json.loads(json.dumps(original.state_dict()))  # plain data, as saved in a checkpoint
    restored = ShardedBatches(many_shards, 3, 16, seed=5)
    restored.load_state_dict(state)
    for (x, y), (rx, ry) in zip(batches(original, 90), batches(restored, 90)):
        assert np.array_equal(x, rx) and np.array_equal(y, ry)


def test_validation_batches_are_the_same_every_time(many_shards):
    first = list(validation_batches(many_shards, 4, 16, 5))
    second = list(validation_batches(many_shards, 4, 16, 5))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, second))
    assert len(first) == 5


def test_prepare_openwebtext_from_a_local_copy(tmp_path):
    documents = make_documents(60)
    source = write_inputs(tmp_path, documents)[0]
    result = run_script(
        "prepare_openwebtext.py",
        "--dataset",
        source,
        "--out",
        "owt",
        "--val-tokens",
        "500",
        "--workers",
        "1",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    val, train = find_shards(tmp_path / "owt", "val"), find_shards(tmp_path / "owt", "train")
    assert val[0].name == "openwebtext_val_000000.bin" and len(read_shard(val[0])[0]) == 500
    tokenizer = get_tokenizer("gpt2")
    expected = [t for doc in documents for t in encode_document(tokenizer, doc)]
    assert read_shard(val[0])[0].tolist() + read_shard(train[0])[0].tolist() == expected


def test_corpus_ending_exactly_at_a_shard_end_is_complete(tmp_path, capsys):
    documents = ["a" * 99]  # 100 tokens with its end-of-text: 30 validation + one full 70-token shard
    shards = write_token_shards(iter(documents), tmp_path, "x", "bytes", 70, 30, workers=1)
    assert [len(read_shard(p)[0]) for p in shards] == [30, 70]
    assert write_token_shards(iter(documents), tmp_path, "x", "bytes", 70, 30, workers=1) == shards
    assert "already prepared" in capsys.readouterr().out
