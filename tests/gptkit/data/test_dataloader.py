import json

import numpy as np
import pytest

from gptkit.data.dataloader import ShardedBatches, validation_batches
from gptkit.errors import UserError
from gptkit.data.shards import read_shard, write_shard


def test_loader_rejects_shards_of_another_tokenizer(tmp_path):
    write_shard(tmp_path / "a.bin", list(range(100)), "gpt2", 50257)
    with pytest.raises(UserError, match="vocab_size is 257"):
        ShardedBatches([tmp_path / "a.bin"], 2, 8, vocab_size=257)


def test_corpus_shorter_than_one_block_is_an_error(tmp_path):
    write_shard(tmp_path / "a.bin", list(range(8)), "bytes", 257)
    with pytest.raises(UserError, match="shorter than one block"):
        ShardedBatches([tmp_path / "a.bin"], 2, 8)


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
