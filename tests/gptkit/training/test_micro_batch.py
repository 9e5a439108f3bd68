import pytest

from gptkit.config import TrainConfig
from gptkit.distributed import Run
from gptkit.training.micro_batch import find_micro_batch_size
from model import GPT, GPTConfig


@pytest.mark.parametrize("total_sequences,world_size,expected", [(20, 1, 10), (20, 2, 10), (48, 2, 12), (7, 1, 7)])
def test_auto_micro_batch_divides_the_total_batch_and_falls_back_on_cpu(total_sequences, world_size, expected):
    model = GPT(GPTConfig(vocab_size=257, block_size=32, n_layer=1, n_head=2, n_embd=16))
    cfg = TrainConfig(total_batch_tokens=total_sequences * 32, micro_batch_size="auto")
    chosen = find_micro_batch_size(model, cfg, Run(world_size=world_size, device="cpu"))
    assert chosen == expected
    assert cfg.total_batch_tokens % (chosen * 32 * world_size) == 0
