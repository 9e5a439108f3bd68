"""
Batches of (x, y) token windows from token shards, for one process of a (possibly distributed) run.

Each shard is cut into windows of block_size + 1 tokens that start every block_size tokens (y is x shifted
by one), so no window crosses a shard's end. An epoch visits the shards in a shuffled order and each shard's
windows in a shuffled order, both drawn from (seed, epoch): the stream of windows is the same on every rank
and in every run with that seed. Each global batch takes world_size * batch_size windows from the stream and
rank r keeps the r-th slice of batch_size, so ranks see disjoint data. The position in the stream is the
loader's whole state, which makes resuming exact.
"""

from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from gptkit.errors import UserError
from gptkit.data.shards import read_shard
from gptkit.data.tokenizer import folder_tokenizer, vocab_size_of

VOCAB_PADDING = 128  # a model's vocabulary may round the tokenizer's up to a multiple of this (50257 -> 50304)


def check_vocab_size(tokenizer_name, vocab_size):
    """The model fits the shards' tokenizer: its vocab_size is the tokenizer's, or that padded up to the next
    multiple of VOCAB_PADDING. Anything else is the wrong data (byte shards for a GPT-2-sized model)."""
    tokenizer_vocab = vocab_size_of(tokenizer_name)
    padded = -(-tokenizer_vocab // VOCAB_PADDING) * VOCAB_PADDING
    if not tokenizer_vocab <= vocab_size <= padded:
        raise UserError(
            f"shards use tokenizer {tokenizer_name!r} ({tokenizer_vocab} tokens) but the model's vocab_size is "
            f"{vocab_size}: it must be {tokenizer_vocab} ... {padded} (the tokenizer's, padded to a multiple of "
            f"{VOCAB_PADDING}): set vocab_size={padded}, or is data_dir the right data?"
        )


class ShardedBatches:
    def __init__(
        self, shard_paths, batch_size, block_size, rank=0, world_size=1, seed=0, shuffle=True, vocab_size=None
    ):
        if not shard_paths:
            raise UserError("no token shards given: run a prepare script first (see README, Data)")
        self.batch_size, self.block_size = batch_size, block_size
        self.rank, self.world_size = rank, world_size
        self.seed, self.shuffle = seed, shuffle
        self.folder = Path(shard_paths[0]).parent  # where a trained tokenizer's definition lies
        self.shards, names = zip(*(read_shard(path) for path in shard_paths))
        self.tokenizer_name = names[0]
        if any(name != self.tokenizer_name for name in names):
            raise UserError(f"shards were made with different tokenizers: {sorted(set(names))}")
        if vocab_size is not None:
            check_vocab_size(self.tokenizer_name, vocab_size)
        self.windows_per_shard = [(len(tokens) - 1) // block_size for tokens in self.shards]
        if sum(self.windows_per_shard) == 0:
            longest = max(len(tokens) for tokens in self.shards)
            raise UserError(
                f"the data ({longest} tokens in the longest shard) is shorter than one block of "
                f"block_size + 1 = {block_size + 1} tokens; use more text or a smaller block_size"
            )
        self.epoch, self.shard_position, self.window_position = 0, 0, 0
        self._orders = {}  # permutations by (epoch,) for shards and (epoch, shard) for windows

    @cached_property
    def tokenizer(self):
        """The tokenizer the shards were made with (loaded on first use: the loader itself needs only its name)."""
        return folder_tokenizer(self.tokenizer_name, self.folder)

    def _order(self, key, n):
        """A permutation of range(n) drawn from (seed, *key), or range(n) without shuffling. Kept: this epoch's
        shard order and the latest shard's window order, so memory stays at one shard's windows."""
        if key not in self._orders:
            rng = np.random.default_rng([self.seed, *key])
            self._orders = {k: v for k, v in self._orders.items() if k == (self.epoch,)}
            self._orders[key] = rng.permutation(n) if self.shuffle else np.arange(n)
        return self._orders[key]

    def _shard_order(self):
        return self._order((self.epoch,), len(self.shards))

    def _window_order(self, shard):
        return self._order((self.epoch, shard), self.windows_per_shard[shard])

    def _next_window(self):
        """(shard index, start offset) of the next window in the stream, advancing the position."""
        while True:
            order = self._shard_order()
            if self.shard_position == len(order):
                self.epoch, self.shard_position, self.window_position = self.epoch + 1, 0, 0
                continue
            shard = order[self.shard_position]
            if self.window_position == self.windows_per_shard[shard]:
                self.shard_position, self.window_position = self.shard_position + 1, 0
                continue
            window = self._window_order(shard)[self.window_position]
            self.window_position += 1
            return shard, int(window) * self.block_size

    def next_batch(self):
        """(x, y), each a (batch_size, block_size) int64 tensor on the CPU."""
        mine = range(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        windows = [self._next_window() for _ in range(self.world_size * self.batch_size)]
        rows = [self.shards[s][start : start + self.block_size + 1] for s, start in (windows[i] for i in mine)]
        batch = torch.from_numpy(np.stack(rows).astype(np.int64))
        return batch[:, :-1], batch[:, 1:]

    def state_dict(self):
        return {
            "epoch": self.epoch,
            "shard_position": self.shard_position,
            "window_position": self.window_position,
            "seed": self.seed,
            "windows_per_shard": list(self.windows_per_shard),
        }

    def load_state_dict(self, state):
        if state["windows_per_shard"] != list(self.windows_per_shard) or state["seed"] != self.seed:
            raise UserError("the checkpoint's data position belongs to other shards or another seed")
        self.epoch, self.shard_position = state["epoch"], state["shard_position"]
        self.window_position = state["window_position"]


def validation_batches(shard_paths, batch_size, block_size, num_batches, rank=0, world_size=1, vocab_size=None):
    """The same num_batches (x, y) batches at every call: the validation shards read in order."""
    loader = ShardedBatches(shard_paths, batch_size, block_size, rank, world_size, shuffle=False, vocab_size=vocab_size)
    for _ in range(num_batches):
        yield loader.next_batch()
