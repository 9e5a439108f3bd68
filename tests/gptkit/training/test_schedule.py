import pytest

from gptkit.config import TrainConfig
from gptkit.training.schedule import lr_at_step


def test_learning_rate_schedule():
    cfg = TrainConfig(learning_rate=6e-4, min_lr=6e-5, warmup_iters=2000, lr_decay_iters=20000)
    assert lr_at_step(0, cfg) == pytest.approx(6e-4 / 2000)
    assert lr_at_step(1999, cfg) == pytest.approx(6e-4)
    assert lr_at_step(2000, cfg) == pytest.approx(6e-4)
    assert lr_at_step(11000, cfg) == pytest.approx((6e-4 + 6e-5) / 2)  # halfway through the cosine
    assert lr_at_step(20000, cfg) == pytest.approx(6e-5)
    assert lr_at_step(50000, cfg) == pytest.approx(6e-5)
