"""A run folder's figures: the records of the final trajectory after a resume, its wall time, its checkpoint
step read without loading the weights, and the evaluation cache keyed by checkpoint step, settings and schema."""

import json

import torch

from gptkit.checkpointing.checkpoint import save_checkpoint
from gptkit.study.runs import (
    cache_evaluation,
    cached_evaluation,
    checkpoint_step,
    elapsed_seconds,
    final_records,
    seconds_at,
    training_seconds,
)


def write_metrics(folder, records):
    with open(folder / "metrics.jsonl", "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


def train_record(step, loss, step_ms=10.0):
    return {"step": step, "tokens": 100 * step, "loss": loss, "step_ms": step_ms}


def test_a_resumed_runs_records_replace_those_it_logged_again(tmp_path):
    # steps 1-6 logged, the checkpoint at step 4, killed; the resume logs 5-8 again (and step 4's evaluation stays)
    first = [train_record(s, 10.0 - s) for s in range(1, 7)] + [{"step": 4, "tokens": 400, "val_loss": 7.5}]
    first.sort(key=lambda r: r["step"])
    resumed = [train_record(s, 20.0 - s, step_ms=30.0) for s in range(5, 9)] + [
        {"step": 8, "tokens": 800, "val_loss": 6.0}
    ]
    write_metrics(tmp_path, first + resumed)
    records = final_records(tmp_path)
    assert [(r["step"], r.get("loss", r.get("val_loss"))) for r in records] == [
        (1, 9.0),
        (2, 8.0),
        (3, 7.0),
        (4, 6.0),
        (4, 7.5),
        (5, 15.0),
        (6, 14.0),
        (7, 13.0),
        (8, 12.0),
        (8, 6.0),
    ]
    assert training_seconds(records) == 4 * 0.010 + 4 * 0.030


def test_a_record_logged_again_at_the_same_step_is_replaced(tmp_path):
    # the checkpoint at step 5, step 6 logged, killed; the resume logs step 6 again: same step, later record wins
    write_metrics(tmp_path, [train_record(5, 3.0), train_record(6, 2.0), train_record(6, 2.5), train_record(7, 2.4)])
    assert [r["loss"] for r in final_records(tmp_path)] == [3.0, 2.5, 2.4]


def test_no_metrics_no_records(tmp_path):
    assert final_records(tmp_path) == [] and training_seconds([]) == 0.0


def test_the_checkpoint_step_is_read_without_loading_the_weights(tmp_path):
    assert checkpoint_step(tmp_path, "ddp") is None and checkpoint_step(tmp_path, "fsdp") is None
    save_checkpoint(tmp_path / "ckpt.pt", {"model": {"w": torch.zeros(1000)}, "model_config": {}, "step": 42})
    assert checkpoint_step(tmp_path, "ddp") == 42


def test_an_evaluation_is_cached_by_checkpoint_step_and_settings(tmp_path):
    settings = {"windows": 4, "rope_scaling": ["none", "yarn"]}
    result = {"schema": 1, "lengths": [64], "methods": {}}
    assert cached_evaluation(tmp_path, "long", 10, settings) is None
    cache_evaluation(tmp_path, "long", 10, settings, result)
    assert cached_evaluation(tmp_path, "long", 10, settings) == result
    assert cached_evaluation(tmp_path, "long", 20, settings) is None  # a newer checkpoint
    assert cached_evaluation(tmp_path, "long", 10, {**settings, "windows": 8}) is None  # other settings
    assert cached_evaluation(tmp_path, "other", 10, settings) is None


def test_a_cache_in_the_studys_old_layout_is_a_miss(tmp_path):
    """Before issue 26 the study cached evaluate.py's result reshaped (no schema key): evaluated again."""
    settings = {"windows": 4}
    old = {"data": {}, "lengths": {"none": {"64": {"loss": 1.5, "se": 0.1, "windows": 4}}}, "loss_by_position": {}}
    cache_evaluation(tmp_path, "evaluation", 10, settings, old)
    assert cached_evaluation(tmp_path, "evaluation", 10, settings) is None
    cache_evaluation(tmp_path, "evaluation", 10, settings, {**old, "schema": 2})  # a layout this study cannot read
    assert cached_evaluation(tmp_path, "evaluation", 10, settings) is None


def test_an_evaluation_between_logged_steps_is_timed_between_them():
    """Steps logged every 5 at 100 ms then 300 ms a step; an evaluation at step 7 falls two steps into the second
    stretch: 0.5 s + 2 x 0.3 s."""
    records = [{"step": 5, "step_ms": 100.0}, {"step": 10, "step_ms": 300.0}]
    elapsed = elapsed_seconds(records)
    assert elapsed == {5: 0.5, 10: 2.0}
    assert seconds_at(elapsed, 7) == 0.5 + 2 * 0.3 and seconds_at(elapsed, 10) == 2.0
    assert seconds_at(elapsed, 2) == 0.5 * 2 / 5 and seconds_at(elapsed, 11) is None
