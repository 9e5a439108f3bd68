import math

import pytest

from gptkit.config import TrainConfig
from gptkit.errors import UserError
from gptkit.training.schedule import lr_at_step


def wsd(**settings):
    return TrainConfig(lr_schedule="wsd", learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, max_iters=1000, **settings)


def test_wsd_warms_up_holds_then_decays_linearly_to_min_lr():
    cfg = wsd()  # decay_fraction 0.2: the decay runs from step 800 to step 1000
    assert lr_at_step(0, cfg) == pytest.approx(1e-3 / 100)
    assert lr_at_step(99, cfg) == pytest.approx(1e-3)  # end of the warmup
    assert lr_at_step(100, cfg) == lr_at_step(500, cfg) == lr_at_step(800, cfg) == 1e-3  # stable
    assert lr_at_step(900, cfg) == pytest.approx((1e-3 + 1e-4) / 2)  # halfway through the decay
    assert lr_at_step(999, cfg) == pytest.approx(1e-4 + 0.9e-3 / 200)  # the last step taken
    assert lr_at_step(1000, cfg) == pytest.approx(1e-4)
    assert lr_at_step(5000, cfg) == pytest.approx(1e-4)


def test_wsd_decay_fraction_sets_where_the_decay_starts():
    cfg = wsd(decay_fraction=0.5)
    assert lr_at_step(499, cfg) == 1e-3
    assert lr_at_step(750, cfg) == pytest.approx((1e-3 + 1e-4) / 2)


def test_each_group_follows_the_schedule_from_its_own_peak():
    for cfg in (wsd(), TrainConfig(learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, lr_decay_iters=1000)):
        for step in (0, 99, 400, 900, 1000):
            assert lr_at_step(step, cfg, peak_lr=0.02) == pytest.approx(20 * lr_at_step(step, cfg))
            assert lr_at_step(step, cfg, peak_lr=1e-3) == lr_at_step(step, cfg)  # exactly AdamW's


def test_cosine_is_the_default_and_unchanged():
    cfg = TrainConfig(learning_rate=6e-4, min_lr=6e-5, warmup_iters=2000, lr_decay_iters=20000)
    assert cfg.lr_schedule == "cosine"
    progress = (11000 - 2000) / (20000 - 2000)
    assert lr_at_step(11000, cfg) == 6e-5 + 0.5 * (1.0 + math.cos(math.pi * progress)) * (6e-4 - 6e-5)


@pytest.mark.parametrize(
    "settings,message",
    [
        (dict(decay_fraction=1.5), "decay_fraction must be in [0, 1]"),
        (dict(decay_fraction=0.95), "exceeds the start of the wsd decay"),
    ],
)
def test_bad_wsd_settings_are_refused(settings, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        wsd(**settings)
