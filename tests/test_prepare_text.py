from conftest import run_script
from gptkit.data.shards import find_shards, read_shard
from gptkit.data.tokenizer import ByteTokenizer, encode_document


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
