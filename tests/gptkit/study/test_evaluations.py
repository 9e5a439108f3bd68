"""The study's evaluation of its runs: evaluate.py's JSON is returned as it wrote it, a JSON of another schema or
a failed evaluate.py is one line, and each finished run is evaluated once per checkpoint step and settings."""

import json
import sys
from types import SimpleNamespace

import pytest

from gptkit.errors import UserError
from gptkit.study import evaluations
from gptkit.study.runs import RunFacts

# Stands in for evaluate.py: writes the JSON a test gives (with the flags it got) to --json, or fails.
FAKE_EVALUATE = """
import json, sys
flags = dict(argument[2:].split("=", 1) for argument in sys.argv[1:])
if {fail!r}:
    sys.exit("error: " + {fail!r})
open(flags["json"], "w").write(json.dumps({{**{result!r}, "flags": flags}}))
"""


def fake_evaluate(monkeypatch, result=None, fail=""):
    script = FAKE_EVALUATE.format(result=result or {}, fail=fail)
    monkeypatch.setattr(evaluations, "python_command", lambda name, nproc_per_node: [sys.executable, "-c", script])


def test_evaluate_pys_json_comes_back_as_it_wrote_it(monkeypatch):
    fake_evaluate(monkeypatch, {"schema": 1, "methods": {}})
    settings = {"windows": 4, "rope_scaling": ["none", "yarn"]}
    result = evaluations.evaluate_run("out/r/ckpt.pt", settings, "data/docs")
    flags = {"checkpoint": "out/r/ckpt.pt", "data_dir": "data/docs", "windows": "4", "rope_scaling": "none,yarn"}
    assert result == {"schema": 1, "methods": {}, "flags": {**flags, "json": result["flags"]["json"]}}


def test_another_schema_or_a_failed_evaluation_is_one_line(monkeypatch):
    fake_evaluate(monkeypatch, {"schema": 2})
    with pytest.raises(UserError, match=r"^evaluate.py wrote schema 2; this study reads schema 1$"):
        evaluations.evaluate_run("ckpt.pt", {}, "data")
    fake_evaluate(monkeypatch, fail="no validation shards in data")
    with pytest.raises(UserError, match=r"^evaluate.py failed on ckpt.pt: error: no validation shards in data$"):
        evaluations.evaluate_run("ckpt.pt", {}, "data")


def test_each_finished_run_is_evaluated_once_per_step_and_settings(tmp_path, monkeypatch, capsys):
    def run_facts(name, step):
        (tmp_path / name).mkdir(exist_ok=True)
        return RunFacts(name, str(tmp_path / name), {}, 10, step, config={"train": {"data_dir": "data"}})

    study = SimpleNamespace(name="s", file=SimpleNamespace(evaluation={"windows": 2}, evaluation_name="evaluation"))
    evaluated = []

    def evaluate_run(checkpoint, settings, data_dir, nproc_per_node=1):
        evaluated.append(checkpoint)
        return {"schema": 1, "methods": {}, "checkpoint": str(checkpoint)}

    monkeypatch.setattr(evaluations, "evaluate_run", evaluate_run)
    facts = [run_facts("a", 10), run_facts("b", 4)]  # b is not finished
    assert evaluations.evaluate_finished(study, facts, 1) is None
    assert evaluated == [tmp_path / "a" / "ckpt.pt"] and facts[1].evaluation is None
    assert facts[0].evaluation == {"schema": 1, "methods": {}, "checkpoint": str(tmp_path / "a" / "ckpt.pt")}
    again = [run_facts("a", 10), run_facts("b", 10)]
    evaluations.evaluate_finished(study, again, 1)
    assert evaluated == [tmp_path / "a" / "ckpt.pt", tmp_path / "b" / "ckpt.pt"]
    assert again[0].evaluation == facts[0].evaluation  # from the cache
    assert "evaluated now: 1, from the cache: 1" in capsys.readouterr().out

    def failing(checkpoint, settings, data_dir, nproc_per_node=1):
        raise UserError("evaluate.py failed on x: error: y")

    monkeypatch.setattr(evaluations, "evaluate_run", failing)
    study.file.evaluation = {"windows": 3}  # other settings: the cache does not serve them
    assert (
        evaluations.evaluate_finished(study, [run_facts("a", 10)], 1)
        == "Not evaluated: evaluate.py failed on x: error: y."
    )
    assert json.loads((tmp_path / "a" / "study_evaluation.json").read_text())["settings"] == {"windows": 2}
