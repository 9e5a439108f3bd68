from conftest import gpt2_tokens, make_documents, run_script, write_inputs
from gptkit.data.shards import find_shards, read_shard


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
    assert read_shard(val[0])[0].tolist() + read_shard(train[0])[0].tolist() == gpt2_tokens(documents)
