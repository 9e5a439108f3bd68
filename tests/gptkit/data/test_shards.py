import numpy as np
import pytest

from gptkit.errors import UserError
from gptkit.data.shards import find_shards, read_shard, write_shard


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


def test_find_shards_lists_one_split_in_order(tmp_path):
    for name in ("x_train_000002.bin", "x_val_000000.bin", "x_train_000001.bin", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in find_shards(tmp_path, "train")] == ["x_train_000001.bin", "x_train_000002.bin"]
    with pytest.raises(UserError, match="run a prepare script"):
        find_shards(tmp_path / "empty", "val")
