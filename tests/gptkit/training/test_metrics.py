import pytest

from gptkit.config import TrainConfig
from gptkit.distributed import Run
from gptkit.training.metrics import MetricsLog, TrainingReport, estimate_mfu, read_metrics, steps_to_reach


def test_mfu_uses_the_device_peak():
    assert estimate_mfu(1e9, 494.5e3, "NVIDIA H100 80GB HBM3") == pytest.approx(0.5)
    assert estimate_mfu(1e9, 1e3, "cpu") is None


def test_the_pcie_h100_is_not_taken_for_the_sxm_one():
    assert estimate_mfu(1e9, 378e3, "NVIDIA H100 PCIe") == pytest.approx(0.5)


def test_a_new_run_starts_a_new_file_and_a_resumed_run_appends(tmp_path):
    MetricsLog(tmp_path).log(1, loss=2.0, mfu=None)
    assert read_metrics(tmp_path / "metrics.jsonl") == [{"step": 1, "loss": 2.0}]  # None figures are left out
    MetricsLog(tmp_path, resume=True).log(2, loss=1.5)
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]
    MetricsLog(tmp_path).log(1, loss=3.0)
    assert read_metrics(tmp_path / "metrics.jsonl") == [{"step": 1, "loss": 3.0}]


def test_report_writes_the_steps_figures_on_the_master_only(tmp_path, capsys):
    (tmp_path / "master").mkdir()  # train.py makes out_dir before the report starts
    cfg = TrainConfig(out_dir=str(tmp_path / "master"), total_batch_tokens=1000)
    report = TrainingReport(Run(), cfg, {}, flops_per_token=6.0)
    report.training_step(2, loss=3.5, lr=1e-3, grad_norm=0.5)
    report.evaluation(2, val_loss=3.25)
    step, evaluation = read_metrics(tmp_path / "master" / "metrics.jsonl")
    assert step["tokens"] == 2000 and step["loss"] == 3.5 and step["tokens_per_s"] > 0 and "mfu" not in step
    assert step["tokens_per_s"] == pytest.approx(1000 / (step["step_ms"] / 1000))
    assert evaluation == {"step": 2, "tokens": 2000, "val_loss": 3.25}
    assert "step      2 | loss 3.5000" in capsys.readouterr().out
    other = TrainConfig(out_dir=str(tmp_path / "rank1"))
    TrainingReport(Run(rank=1, world_size=2), other, {}, 6.0).training_step(2, loss=3.5, lr=1e-3, grad_norm=0.5)
    assert not (tmp_path / "rank1").exists()


def test_steps_to_reach_interpolates_between_evaluations():
    curve = [(10, 4.0), (20, 3.0), (30, 2.5)]
    assert steps_to_reach(curve, 3.0) == 20
    assert steps_to_reach(curve, 2.75) == 25  # halfway from 3.0 at step 20 to 2.5 at step 30
    assert steps_to_reach(curve, 5.0) == 10
    assert steps_to_reach(curve, 2.0) is None
