from conftest import run_script
from gptkit.data.bpe import train_bpe
from gptkit.data.shards import find_shards, read_shard
from gptkit.data.tokenizer import BPETokenizer, ByteTokenizer, encode_document, load_tokenizer_file


def test_prepare_text_splits_train_and_val(tmp_path):
    text = "En el principio creó Dios los cielos y la tierra.\n" * 200
    (tmp_path / "biblia.txt").write_text(text)
    result = run_script("prepare_text.py", "biblia.txt", "--tokenizer", "bytes", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    val, train = find_shards(tmp_path / "data/biblia", "val"), find_shards(tmp_path / "data/biblia", "train")
    n_val, n_train = len(read_shard(val[0])[0]), len(read_shard(train[0])[0])
    assert n_val == int(0.1 * (n_val + n_train))
    tokens = read_shard(val[0])[0].tolist() + read_shard(train[0])[0].tolist()
    assert tokens == encode_document(ByteTokenizer(), text)


def test_prepare_text_without_input_is_a_one_line_error(tmp_path):
    result = run_script("prepare_text.py", "missing.txt", cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.strip() == "error: not a file: missing.txt"


def test_prepare_text_trains_a_tokenizer_and_a_second_corpus_reuses_it(tmp_path):
    text = "Y dijo Dios: Sea la luz; y fue la luz. Y vio Dios que la luz era buena.\n" * 300
    (tmp_path / "biblia.txt").write_text(text)
    train_flags = ("--tokenizer", "bpe", "--vocab_size", "300", "--tokenizer_chars", "5000")
    result = run_script("prepare_text.py", "biblia.txt", *train_flags, "--out", "bpe", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    tokenizer = load_tokenizer_file(tmp_path / "bpe/tokenizer.json")
    shards = [*find_shards(tmp_path / "bpe", "val"), *find_shards(tmp_path / "bpe", "train")]
    assert {read_shard(path)[1] for path in shards} == {tokenizer.name}
    tokens = [t for path in shards for t in read_shard(path)[0].tolist()]
    assert tokens == encode_document(tokenizer, text) and len(tokens) < len(text) / 3
    # the training text was the first 5000 characters: the same tokenizer trained on them
    assert tokenizer.name == BPETokenizer(train_bpe([text[:5000]], 300, progress=False)).name

    again = run_script("prepare_text.py", "biblia.txt", *train_flags, "--out", "bpe", cwd=tmp_path)
    assert again.returncode == 0 and "trained earlier, taken up" in again.stdout
    (tmp_path / "more.txt").write_text("Y llamó Dios a la luz Día.\n" * 100)
    reused = run_script(
        "prepare_text.py", "more.txt", "--tokenizer", "bpe/tokenizer.json", "--out", "more", cwd=tmp_path
    )
    assert reused.returncode == 0, reused.stderr
    assert read_shard(find_shards(tmp_path / "more", "train")[0])[1] == tokenizer.name
    assert (tmp_path / "more/tokenizer.json").read_text() == tokenizer.definition
