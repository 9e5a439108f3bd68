import json

from conftest import run_command
from plot import steps_to_reach


def test_steps_to_reach_interpolates_between_evaluations():
    curve = [(10, 4.0), (20, 3.0), (30, 2.5)]
    assert steps_to_reach(curve, 3.0) == 20
    assert steps_to_reach(curve, 2.75) == 25  # halfway from 3.0 at step 20 to 2.5 at step 30
    assert steps_to_reach(curve, 5.0) == 10
    assert steps_to_reach(curve, 2.0) is None


def test_reach_compares_runs_with_the_first_runs_final_loss(tmp_path):
    for name, curve in (("adamw", [(100, 3.0), (200, 2.0)]), ("muon", [(50, 2.5), (100, 1.5), (200, 1.2)])):
        (tmp_path / name).mkdir()
        lines = [json.dumps({"step": step, "val_loss": loss}) for step, loss in curve]
        (tmp_path / name / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    printed = run_command("plot.py", tmp_path / "adamw", tmp_path / "muon", "-o", tmp_path / "x.png", "--reach")
    assert "final val loss 2.0000, reaches the target in 200 steps (1.00x)" in printed
    assert "final val loss 1.2000, reaches the target in 75 steps (0.38x)" in printed
