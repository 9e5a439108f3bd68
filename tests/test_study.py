"""study.py on a study of tiny runs: `commands` prints what `run` runs; a study stopped mid-run (SIGTERM, or
kill -9 of the study and its run) and started again ends with the losses of an uninterrupted study without
retraining its finished runs; `report` shows each run's own numbers, evaluates each finished run once and takes
in a run added later."""

import fcntl
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import study
from conftest import ROOT, SINGLE_THREAD, assert_one_line_error, losses, run_script, snapshot
from gptkit.errors import UserError
from gptkit.study import evaluations, push, run_loop
from gptkit.training.metrics import read_metrics

STEPS = 60


def write_study(path, out_dir, data_dir, thetas=(100.0, 10000.0), evaluation=True):
    """A study of tiny RoPE runs, one per theta: 60 steps, a checkpoint every 10."""
    settings = dict(
        data_dir=str(data_dir), vocab_size=257, block_size=32, n_layer=2, n_head=2, n_embd=32, pos_emb="rope",
        micro_batch_size=4, total_batch_tokens=256, learning_rate=3e-3, min_lr=3e-4, warmup_iters=2,
        lr_decay_iters=STEPS, max_iters=STEPS, eval_interval=20, eval_iters=2, log_interval=1,
        checkpoint_interval=10, compile=False, device="cpu",
    )  # fmt: skip
    evaluation = evaluation and {
        "windows": 2,
        "lengths": "1x,2x",
        "probe_trials": 2,
        "rope_scaling": ["none", "linear"],
    }
    lines = [f"settings = {settings!r}", f"grid = {{'rope_theta': {list(thetas)!r}}}", "run_name = 'theta{rope_theta}'"]
    lines += [f"out_dir = {str(out_dir)!r}"] + ([f"evaluation = {evaluation!r}"] if evaluation else [])
    path.write_text("\n".join(lines) + "\n")
    return path


def study_script(*args):
    return run_script("study.py", *args, env=SINGLE_THREAD)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir):
    """(study file, out_dir) of the study run once without interruption."""
    folder = tmp_path_factory.mktemp("reference")
    path = write_study(folder / "tiny_study.py", folder / "out", data_dir)
    result = study_script("run", path)
    assert result.returncode == 0, result.stderr[-3000:]
    return path, folder / "out"


def copy_of(reference, tmp_path, data_dir, runs=("theta100", "theta1e4"), thetas=(100.0, 10000.0), evaluation=True):
    """A study file of the same runs in tmp_path, with the reference's folders of `runs` copied in."""
    (tmp_path / "out").mkdir()
    for name in runs:
        shutil.copytree(reference[1] / name, tmp_path / "out" / name)
    return write_study(tmp_path / "tiny_study.py", tmp_path / "out", data_dir, thetas, evaluation)


def test_commands_prints_what_run_runs(tmp_path, data_dir, capsys, monkeypatch):
    path = write_study(tmp_path / "tiny_study.py", tmp_path / "out", data_dir)
    for nproc in ("1", "2"):
        capsys.readouterr()
        study.main(["commands", str(path), "--nproc_per_node", nproc, "--max_iters=7"])
        printed = [shlex.split(line) for line in capsys.readouterr().out.splitlines()]
        started = []
        monkeypatch.setattr(
            run_loop.RunLauncher, "run", lambda self, command, started=started: started.append(command) or 1
        )
        with pytest.raises(UserError, match="2 of 2 runs failed: theta100, theta1e4"):
            study.main(["run", str(path), "--nproc_per_node", nproc, "--max_iters=7", "--keep_going"])
        assert started == printed and len(printed) == 2
        assert "--max_iters=7" in printed[0] and printed[1][-2:] == [
            f"--out_dir={tmp_path}/out/theta1e4",
            "--init_from=auto",
        ]
    assert printed[0][1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def wait_for_step(out_dir, step, process):
    """Until the run in out_dir has logged `step` (the study still running)."""
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        try:
            if any(r.get("step", 0) >= step for r in read_metrics(out_dir / "metrics.jsonl")):
                return
        except (OSError, json.JSONDecodeError):  # not written yet, or a line being written
            pass
        time.sleep(0.02)
    raise AssertionError(f"{out_dir} did not reach step {step}: {process.poll()}")


def start_study(path):
    command = [sys.executable, str(ROOT / "study.py"), "run", str(path)]
    return subprocess.Popen(command, cwd=ROOT, env=SINGLE_THREAD, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def checkpoint_step(out_dir):
    from gptkit.study.runs import checkpoint_step

    return checkpoint_step(out_dir, "ddp")


def finish_and_compare(path, tmp_path, reference):
    """Starts the study again: it skips the finished run and ends with the uninterrupted study's losses."""
    finished = snapshot(tmp_path / "out" / "theta100")
    result = study_script("run", path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "theta100 finished at step 60, skipped" in result.stdout
    assert snapshot(tmp_path / "out" / "theta100") == finished  # not retrained
    for name in ("theta100", "theta1e4"):
        assert losses(tmp_path / "out" / name) == losses(reference[1] / name)
        assert checkpoint_step(tmp_path / "out" / name) == STEPS


@pytest.mark.integration
def test_a_study_stopped_by_sigterm_continues_where_it_stopped(reference, tmp_path, data_dir):
    path = copy_of(reference, tmp_path, data_dir, runs=("theta100",))
    process = start_study(path)
    wait_for_step(tmp_path / "out" / "theta1e4", 15, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    stopped_at = checkpoint_step(tmp_path / "out" / "theta1e4")
    assert 15 <= stopped_at < STEPS  # train.py saved where the signal found it
    assert f"stopped by SIGTERM during theta1e4 (at step {stopped_at} of {STEPS})" in stderr.strip().splitlines()[-1]
    finish_and_compare(path, tmp_path, reference)


@pytest.mark.integration
def test_a_study_killed_with_its_run_continues_from_the_last_checkpoint(reference, tmp_path, data_dir):
    path = copy_of(reference, tmp_path, data_dir, runs=("theta100",))
    process = start_study(path)
    run_dir = tmp_path / "out" / "theta1e4"
    wait_for_step(run_dir, 15, process)
    train_pid = int(re.search(r"pid (\d+)", (run_dir / ".lock").read_text()).group(1))
    process.kill()
    os.kill(train_pid, signal.SIGKILL)
    process.communicate(timeout=60)
    with open(run_dir / ".lock") as lock:  # the run lock is free once the killed run is gone
        deadline = time.time() + 60
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.time() < deadline
                time.sleep(0.1)
    assert 10 <= checkpoint_step(run_dir) < STEPS
    finish_and_compare(path, tmp_path, reference)


def fake_evaluation(index):
    """evaluate.py's JSON (schema 1) for a run trained at 32 tokens, different for each run; its loss turns up
    at position 32."""
    bins = [
        {"start": 0, "end": 16, "loss": 4.0 + index, "se": 0.01},
        {"start": 16, "end": 32, "loss": 3.9 + index, "se": 0.01},
        {"start": 32, "end": 64, "loss": 4.6 + index, "se": 0.02},
    ]
    positions = [
        {"length": 32, "windows": 2, "available": 9, "loss": 3.95 + index, "se": 0.0123, "bins": bins[:2]},
        {"length": 64, "windows": 2, "available": 9, "loss": 4.3 + index, "se": 0.02, "bins": bins},
    ]
    perplexity = [
        {
            "length": length,
            "non_overlapping": {"windows": 4, "tokens": 128, "loss": math.log(whole), "perplexity": whole},
            "sliding": {"stride": length // 2, "windows": 7, "tokens": 128, "loss": math.log(slid), "perplexity": slid},
        }
        for length, whole, slid in ((32, 50.0, 48.0), (64, 70.0, 66.0))
    ]
    probe = {
        "span": 4,
        "trials": 2,
        "points": [
            {"gap": 4, "distance": 8, "length": 12, "loss": 1.0, "se": 0.1, "first_copy_loss": 5.5},
            {"gap": 36, "distance": 40, "length": 44, "loss": 5.0, "se": 0.1, "first_copy_loss": 5.5},
        ],
    }
    rope = dict(rope_theta=100.0, rope_scaling="none", rope_scaling_factor=1.0, rope_original_block_size=0)
    data = dict(data_dir="data", windows_from="stream", windows=2, seed=0, validation_tokens=999, perplexity_tokens=129,
                processes=1, dtype="float32")  # fmt: skip
    model = dict(source="ckpt.pt", pos_emb="rope", block_size=32, original_length=32, rope_theta=100.0,
                 rope_scaling="none", rope_scaling_factor=1.0, parameters=33700, tokenizer="bytes")  # fmt: skip
    method = {"name": "none", "rope": rope, "positions": positions, "perplexity": perplexity, "probe": probe}
    return {
        "schema": 1,
        "model": model,
        "data": data,
        "lengths": [32, 64],
        "methods": {"none": {**method, "passkey": None}},
    }


def report_rows(report_text, title):
    """{run: [cells of each of its rows]} of the table under a heading."""
    section = report_text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| theta"):
            name, *cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows.setdefault(name, []).append(cells)
    return rows


def test_report_shows_each_runs_numbers_evaluates_once_and_takes_in_a_later_run(reference, tmp_path, data_dir,
                                                                                 monkeypatch):  # fmt: skip
    path = copy_of(reference, tmp_path, data_dir)
    evaluated = []

    def evaluate_run(checkpoint, settings, data_dir, nproc_per_node=1):
        evaluated.append(Path(checkpoint).parent.name)
        return fake_evaluation(len(evaluated) - 1)

    monkeypatch.setattr(evaluations, "evaluate_run", evaluate_run)
    study.main(["report", str(path)])
    assert evaluated == ["theta100", "theta1e4"]
    text = (tmp_path / "out" / "report.md").read_text()
    runs = report_rows(text, "Runs")
    first_run = study.read_study(path, [], study.GPTConfig, study.TrainConfig).runs[0]
    flops = study.report.number(STEPS * 256 * study.flops_per_token(first_run), ".3g")
    for name in ("theta100", "theta1e4"):
        records = read_metrics(tmp_path / "out" / name / "metrics.jsonl")
        train_loss = [r["loss"] for r in records if "loss" in r][-1]
        val_loss = [r["val_loss"] for r in records if "val_loss" in r][-1]
        cells = runs[name][0]
        assert cells[1:6] == ["finished", "33.70k", "60", "15.36k", flops]
        assert cells[8:10] == [f"{train_loss:.4f}", f"{val_loss:.4f}"]
    past = report_rows(text, "Past the training length")
    assert past["theta100"] == [["none", "3.9500 ± 0.0123", "4.3000 ± 0.0200"]]
    assert past["theta1e4"] == [["none", "4.9500 ± 0.0123", "5.3000 ± 0.0200"]]
    theory = report_rows(text, "Theory beside the measurements")
    assert theory["theta100"][0][-1] == "32" and theory["theta100"][0][4] == "fail"
    assert theory["theta1e4"][0][4] == "pass"
    for figure in ("loss_vs_tokens", "loss_vs_flops", "loss_by_position_32", "perplexity_32", "retrieval_probe_32"):
        assert f"({figure}.png)" in text and (tmp_path / "out" / f"{figure}.png").stat().st_size > 5000

    study.main(["report", str(path)])  # nothing new: nothing evaluated
    assert evaluated == ["theta100", "theta1e4"]

    write_study(path, tmp_path / "out", data_dir, thetas=(100.0, 10000.0, 1e6))
    result = study_script("run", path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("skipped") == 2
    study.main(["report", str(path)])
    assert evaluated == ["theta100", "theta1e4", "theta1e6"]
    assert report_rows((tmp_path / "out" / "report.md").read_text(), "Runs")["theta1e6"][0][1] == "finished"


@pytest.mark.integration  # study.py report and evaluate.py, each evaluating for real in a process of its own
@pytest.mark.skipif(not (ROOT / "evaluate.py").is_file(), reason="evaluate.py (issue 19) is not in this checkout")
def test_report_numbers_are_evaluate_pys(reference, tmp_path, data_dir):
    path = copy_of(reference, tmp_path, data_dir, runs=("theta1e4",))  # theta100 not started: not evaluated
    result = study_script("report", path)
    assert result.returncode == 0, result.stderr[-3000:]
    output = tmp_path / "direct.json"
    checkpoint = tmp_path / "out" / "theta1e4" / "ckpt.pt"
    flags = ["--windows=2", "--lengths=1x,2x", "--probe_trials=2", "--rope_scaling=none,linear"]
    direct = run_script("evaluate.py", f"--checkpoint={checkpoint}", f"--data_dir={data_dir}", f"--json={output}",
                        *flags, env=SINGLE_THREAD)  # fmt: skip
    assert direct.returncode == 0, direct.stderr[-3000:]
    expected = json.loads(output.read_text())
    cached = json.loads((tmp_path / "out" / "theta1e4" / "study_evaluation.json").read_text())
    assert cached["step"] == STEPS and cached["result"] == expected  # evaluate.py's JSON as it is: one schema
    past = report_rows((tmp_path / "out" / "report.md").read_text(), "Past the training length")
    assert past["theta1e4"] == [
        [scaling]
        + [study.report.loss_and_error(entry) for entry in sorted(method["positions"], key=lambda e: e["length"])]
        for scaling, method in expected["methods"].items()
    ]
    assert len(past["theta1e4"]) == 2 and "evaluated now: 1, from the cache: 0" in result.stdout
    assert "theta100" not in past


def test_push_to_hub_without_a_token_says_what_was_not_pushed_and_writes_the_report(reference, tmp_path, data_dir):
    path = copy_of(reference, tmp_path, data_dir, evaluation=False)
    env = {**SINGLE_THREAD, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_TOKEN", None)
    result = run_script("study.py", "report", path, "--push_to_hub", "someone/tiny", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    not_pushed = [line for line in result.stderr.splitlines() if "not pushed" in line]
    assert len(not_pushed) == 1 and "theta100, theta1e4" in not_pushed[0] and "no Hugging Face token" in not_pushed[0]
    assert (tmp_path / "out" / "report.md").is_file()
    card = (tmp_path / "out" / "theta1e4" / "hf" / "README.md").read_text()
    metadata = yaml.safe_load(card.split("---\n")[1])
    val_loss = [r["val_loss"] for r in read_metrics(tmp_path / "out" / "theta1e4" / "metrics.jsonl") if "val_loss" in r]
    (result_entry,) = metadata["model-index"][0]["results"]
    assert metadata["model-index"][0]["name"] == "someone/tiny-theta1e4" and "starcoder2" in metadata["tags"]
    assert result_entry["metrics"] == [
        {"type": "loss", "value": round(val_loss[-1], 4), "name": "validation loss at 32 tokens"}
    ]


def test_pushed_runs_are_linked_from_the_report(reference, tmp_path, data_dir, monkeypatch):
    path = copy_of(reference, tmp_path, data_dir, evaluation=False)
    pushed = []

    def push_folder(folder, repo_id, private=False):
        pushed.append((Path(folder), repo_id, private))
        return f"https://huggingface.co/{repo_id}"

    monkeypatch.setattr(push, "push_folder", push_folder)
    study.main(["report", str(path), "--push_to_hub", "someone/tiny", "--private"])
    runs = tmp_path / "out"
    assert pushed == [(runs / name / "hf", f"someone/tiny-{name}", True) for name in ("theta100", "theta1e4")]
    hub = [cells[-1] for cells in (row[0] for row in report_rows((runs / "report.md").read_text(), "Runs").values())]
    assert hub == [f"[tiny-{name}](https://huggingface.co/someone/tiny-{name})" for name in ("theta100", "theta1e4")]


def test_bad_input_is_one_line_before_any_run(tmp_path, data_dir):
    path = tmp_path / "bad_study.py"
    path.write_text(f"settings = {{'data_dir': {str(data_dir)!r}}}\ngrid = {{'n_layer': [1, 2]}}\nrun_name = 'same'\n"
                    f"out_dir = {str(tmp_path / 'out')!r}\n")  # fmt: skip
    assert_one_line_error(study_script("run", path), "would share out_dir")
    path.write_text(path.read_text().replace("'same'", "'layers{n_layer}'"))
    for arguments, message in [
        (["--nproc_per_node", "0"], "--nproc_per_node must be >= 1"),
        (["--unknown"], "expected a config file or --key=value"),
        (["--nproc_per_node", "3"], "run layers1: total_batch_tokens"),  # 524288 does not split over 3
        (["--push_to_hub", "no spaces/allowed here"], "no spaces/allowed here-layers1"),
    ]:
        with pytest.raises(UserError, match=re.escape(message)):  # a UserError is one line (errors.run_main)
            study.main(["run", str(path), *arguments])
    with pytest.raises(UserError, match="invalid choice: 'launch'"):
        study.main(["launch", str(path)])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "line, message",
    [
        ("evaluation = {'windows': 2, 'probe_trails': 2}", "evaluation: unrecognized arguments: --probe_trails=2"),
        ("evaluation = {'windows': 'many'}", "evaluation: argument --windows: invalid int value: 'many'"),
        ("evaluation = {'checkpoint': 'x.pt'}", "evaluation key 'checkpoint' is the study's to set"),
        ("seeds = [1337, '1338']", "seeds must be a list of distinct ints"),
        ("seeds = (1, 2)", "config key 'seeds' must be list"),
    ],
)
def test_a_bad_evaluation_or_seeds_is_one_line_before_any_run(tmp_path, data_dir, line, message):
    path = write_study(tmp_path / "bad_study.py", tmp_path / "out", data_dir, evaluation=False)
    path.write_text(path.read_text() + line + "\n")
    assert_one_line_error(study_script("run", path), message)
    assert not (tmp_path / "out").exists()


STUDY_FILES = sorted((ROOT / "configs").glob("*_study.py"))


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: p.name)
def test_each_study_file_expands_and_states_its_command_and_model(path):
    text = path.read_text()
    for header in ("Sized for", "Command", "Logbook result"):
        assert re.search(f"^# {header}: ", text, re.M), f"{path.name} has no '# {header}:' line"
    assert f"# Command: python study.py run configs/{path.name}" in text
    stated = re.search(r"^# Parameters: ([\d.]+)M(?: to ([\d.]+)M)?", text, re.M)  # one size, or "A to B"
    smallest, largest = (float(stated.group(i) or stated.group(1)) * 1e6 for i in (1, 2))
    runs = study.read_study(path, [], study.GPTConfig, study.TrainConfig).runs
    assert runs
    import torch

    counts = []
    for run in runs:
        with torch.device("meta"):
            counts.append(study.GPT(run.model_config).num_params()["total"])
        assert 0.99 * smallest <= counts[-1] <= 1.01 * largest, run.name
    assert min(counts) == pytest.approx(smallest, rel=0.01) and max(counts) == pytest.approx(largest, rel=0.01)


@pytest.mark.parametrize("name", ["muon_study", "muon_stdlib_study"])
def test_the_muon_studies_run_the_logbooks_runs(name):
    """Each run resolves to the settings train.py resolved for the LOGBOOK's runs of 2026-11-28 (the commands of
    configs/muon_study.sh then; tests/data/muon_study_2026-11-28.json holds the settings that differ from the
    defaults), so the study reproduces that entry's figures even after configs/demo.py changes."""
    from dataclasses import asdict

    expected = json.loads((ROOT / "tests" / "data" / "muon_study_2026-11-28.json").read_text())[name]
    defaults = {**asdict(study.GPTConfig()), **asdict(study.TrainConfig())}
    resolved = []
    for run in study.read_study(ROOT / "configs" / f"{name}.py", [], study.GPTConfig, study.TrainConfig).runs:
        settings = {**asdict(run.model_config), **asdict(run.train_config)}
        differing = {k: v for k, v in settings.items() if v != defaults[k] and k not in ("out_dir", "init_from")}
        resolved.append(json.dumps(differing, sort_keys=True))
    assert sorted(resolved) == sorted(json.dumps(settings, sort_keys=True) for settings in expected.values())
