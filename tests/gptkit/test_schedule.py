import pytest

from gptkit.config import TrainConfig
from gptkit.schedule import learning_rate


def test_learning_rate_schedule():
    cfg = TrainConfig(learning_rate=6e-4, min_lr=6e-5, warmup_iters=2000, lr_decay_iters=20000)
    assert learning_rate(0, cfg) == pytest.approx(6e-4 / 2000)
    assert learning_rate(1999, cfg) == pytest.approx(6e-4)
    assert learning_rate(2000, cfg) == pytest.approx(6e-4)
    assert learning_rate(11000, cfg) == pytest.approx((6e-4 + 6e-5) / 2)  # halfway through the cosine
    assert learning_rate(20000, cfg) == pytest.approx(6e-5)
    assert learning_rate(50000, cfg) == pytest.approx(6e-5)
