"""gptkit/training/micro_batch.py: the auto micro-batch divides each process' share of the batch, and a batch that
does not split is refused with one message wherever it is found."""

import re

import pytest

from gptkit.config import TrainConfig
from gptkit.distributed import Run
from gptkit.errors import UserError
from gptkit.training.micro_batch import find_micro_batch_size, gradient_accumulation_steps
from model import GPT, GPTConfig


@pytest.mark.parametrize("total_sequences,world_size,expected", [(20, 1, 10), (20, 2, 10), (48, 2, 12), (7, 1, 7)])
def test_auto_micro_batch_divides_the_total_batch_and_falls_back_on_cpu(total_sequences, world_size, expected):
    model = GPT(GPTConfig(vocab_size=257, block_size=32, n_layer=1, n_head=2, n_embd=16))
    cfg = TrainConfig(total_batch_tokens=total_sequences * 32, micro_batch_size="auto")
    chosen = find_micro_batch_size(model, cfg, Run(world_size=world_size, device="cpu"))
    assert chosen == expected
    assert cfg.total_batch_tokens % (chosen * 32 * world_size) == 0


def test_accumulation_makes_up_the_total_batch_and_a_batch_that_does_not_split_is_one_line():
    cfg = TrainConfig(total_batch_tokens=6 * 4 * 32 * 2)
    assert gradient_accumulation_steps(cfg, 4, 32, 2) == 6
    message = "total_batch_tokens 1536 is not a multiple of micro_batch_size * block_size * processes = 5 * 32 * 2 = "
    message += "320"
    with pytest.raises(UserError, match=re.escape(message) + "$"):
        gradient_accumulation_steps(cfg, 5, 32, 2)


def test_the_auto_search_refuses_a_batch_with_the_same_message():
    model = GPT(GPTConfig(vocab_size=257, block_size=32, n_layer=1, n_head=2, n_embd=16))
    cfg = TrainConfig(total_batch_tokens=96, micro_batch_size="auto")
    message = "total_batch_tokens 96 is not a multiple of micro_batch_size * block_size * processes = 1 * 32 * 2 = 64"
    with pytest.raises(UserError, match=re.escape(message) + "$"):
        find_micro_batch_size(model, cfg, Run(world_size=2, device="cpu"))
