import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import ROOT, run_script
from gptkit.checkpoint import load_checkpoint
from gptkit.config import TrainConfig
from gptkit.corpus import embedded_documents, prepare_texts
from gptkit.metrics import read_metrics
from gptkit.schedule import learning_rate
from tiny_run import TINY_RUN


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "docs"
    prepare_texts(embedded_documents()[:20], path, "bytes", workers=1)
    return path


def train(*args, data_dir, out_dir, launcher=(sys.executable,), check=True):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = run_script(
        "train.py", *TINY_RUN, f"--data_dir={data_dir}", f"--out_dir={out_dir}", *args, launcher=launcher, env=env
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def losses(out_dir):
    return {r["step"]: r["loss"] for r in read_metrics(out_dir / "metrics.jsonl") if "loss" in r}


def test_resumed_run_equals_uninterrupted_run(data_dir, tmp_path):
    # dropout makes the RNG state matter; the loader's position, the optimizer and the LR matter anyway
    common = ("--dropout=0.1", "--eval_interval=3", "--eval_iters=2")
    train("--max_iters=12", *common, data_dir=data_dir, out_dir=tmp_path / "whole")
    train("--max_iters=6", *common, data_dir=data_dir, out_dir=tmp_path / "halves")
    assert load_checkpoint(tmp_path / "halves" / "ckpt.pt")["step"] == 6
    train("--max_iters=12", "--init_from=resume", *common, data_dir=data_dir, out_dir=tmp_path / "halves")
    whole, halves = losses(tmp_path / "whole"), losses(tmp_path / "halves")
    assert sorted(whole) == sorted(halves) == list(range(1, 13))
    assert whole == halves  # identical floats, not merely close
    assert whole[12] < whole[1]


def test_two_processes_equal_one_process_with_twice_the_accumulation(data_dir, tmp_path):
    # 256 tokens per step: one process 2 micro-steps of 4 x 32, or two processes 1 micro-step each
    train("--max_iters=5", data_dir=data_dir, out_dir=tmp_path / "one")
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
    train("--max_iters=5", data_dir=data_dir, out_dir=tmp_path / "two", launcher=torchrun)
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert sorted(one) == sorted(two) == [1, 2, 3, 4, 5]
    for step in one:
        assert one[step] == pytest.approx(two[step], abs=1e-5)


@pytest.mark.parametrize(
    "flag,message",
    [
        ("--n_layrs=2", "unknown config key 'n_layrs'"),
        ("--n_layer=two", "config key 'n_layer' must be int"),
        ("--total_batch_tokens=300", "not a multiple of micro_batch_size"),
        ("--n_head=3", "divisible by n_head"),
    ],
)
def test_config_errors_are_one_line(data_dir, tmp_path, flag, message):
    result = train(flag, data_dir=data_dir, out_dir=tmp_path, check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unknown_key_in_a_config_file_names_the_valid_keys(data_dir, tmp_path):
    config = tmp_path / "bad.py"
    config.write_text("import math\nn_layer = 2\nlearning_rat = math.pi\n")
    result = train(str(config), data_dir=data_dir, out_dir=tmp_path, check=False)
    assert result.returncode == 1
    assert "unknown config key 'learning_rat'" in result.stderr and "learning_rate" in result.stderr


def test_learning_rate_schedule():
    cfg = TrainConfig(learning_rate=6e-4, min_lr=6e-5, warmup_iters=2000, lr_decay_iters=20000)
    assert learning_rate(0, cfg) == pytest.approx(6e-4 / 2000)
    assert learning_rate(1999, cfg) == pytest.approx(6e-4)
    assert learning_rate(2000, cfg) == pytest.approx(6e-4)
    assert learning_rate(11000, cfg) == pytest.approx((6e-4 + 6e-5) / 2)  # halfway through the cosine
    assert learning_rate(20000, cfg) == pytest.approx(6e-5)
    assert learning_rate(50000, cfg) == pytest.approx(6e-5)


def test_sigterm_saves_a_checkpoint_that_resumes(data_dir, tmp_path):
    out_dir = tmp_path / "run"
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        *TINY_RUN,
        f"--data_dir={data_dir}",
        f"--out_dir={out_dir}",
        "--max_iters=100000",
        "--lr_decay_iters=100000",
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def logged_steps():  # whole lines only: the run may be writing the next one right now
        path = out_dir / "metrics.jsonl"
        return path.read_text().count("\n") if path.exists() else 0

    deadline = time.time() + 120
    while time.time() < deadline and logged_steps() < 3:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "stopped by a signal" in stdout
    step = load_checkpoint(out_dir / "ckpt.pt")["step"]
    assert step >= 3
    train(
        f"--max_iters={step + 2}", "--lr_decay_iters=100000", "--init_from=resume", data_dir=data_dir, out_dir=out_dir
    )
    assert load_checkpoint(out_dir / "ckpt.pt")["step"] == step + 2


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(data_dir, tmp_path):
    train("--max_iters=2", data_dir=data_dir, out_dir=tmp_path)
    good = load_checkpoint(tmp_path / "ckpt.pt")
    result = train(
        "--max_iters=30",
        "--init_from=resume",
        "--learning_rate=1e30",
        "--min_lr=1e30",
        "--checkpoint_interval=1",
        data_dir=data_dir,
        out_dir=tmp_path,
        check=False,
    )
    assert result.returncode == 1 and "stopping" in result.stderr and "the checkpoint of step 2" in result.stderr
    assert "Traceback" not in result.stderr
    kept = load_checkpoint(tmp_path / "ckpt.pt")
    for name, tensor in kept["model"].items():
        assert torch.isfinite(tensor).all(), name
    assert kept["step"] >= good["step"]


def test_damaged_checkpoint_is_a_one_line_error(data_dir, tmp_path):
    (tmp_path / "ckpt.pt").write_bytes(b"not a checkpoint at all")
    result = train("--max_iters=2", "--init_from=resume", data_dir=data_dir, out_dir=tmp_path, check=False)
    assert result.returncode == 1 and "not a readable checkpoint" in result.stderr
    assert "Traceback" not in result.stderr


def test_wandb_offline_writes_its_run_files(data_dir, tmp_path):
    pytest.importorskip("wandb")
    train("--max_iters=2", "--wandb_log=True", "--wandb_mode=offline", data_dir=data_dir, out_dir=tmp_path)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


def test_metrics_and_config_are_written(data_dir, tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 99, "loss": 1.0}\n')  # an older run in the same folder
    train("--max_iters=3", "--eval_interval=3", "--eval_iters=2", data_dir=data_dir, out_dir=tmp_path)
    records = read_metrics(tmp_path / "metrics.jsonl")
    train_records = [r for r in records if "loss" in r]
    assert [r["step"] for r in train_records] == [1, 2, 3]
    assert {"loss", "lr", "grad_norm", "step_ms", "tokens_per_s", "tokens"} <= set(train_records[0])
    assert [r["val_loss"] for r in records if "val_loss" in r][0] > 0
    assert (tmp_path / "config.json").exists()


def test_missing_data_is_a_one_line_error(tmp_path):
    result = train("--max_iters=1", data_dir=tmp_path / "nothing", out_dir=tmp_path / "out", check=False)
    assert result.returncode == 1 and "no train shards" in result.stderr and "Traceback" not in result.stderr


def test_model_table_lists_each_config():
    result = run_script("model.py", ROOT / "configs" / "gpt2_gqa.py", ROOT / "configs" / "moe.py")
    assert result.returncode == 0, result.stderr
    gqa, moe = result.stdout.splitlines()[2:4]
    assert "113.06M" in gqa and gqa.split()[-1] == "0.792"
    assert "509.82M" in moe and "169.80M" in moe


def test_sample_script_continues_a_prompt_from_a_checkpoint(data_dir, tmp_path):
    train("--max_iters=2", data_dir=data_dir, out_dir=tmp_path)
    args = ("--checkpoint", tmp_path / "ckpt.pt", "--prompt", "def ", "--num_samples", "2", "--max_new_tokens", "30")
    first, again = run_script("sample.py", *args), run_script("sample.py", *args)
    assert first.returncode == 0, first.stderr
    texts = first.stdout.split("-" * 80 + "\n")
    assert len(texts) == 3 and all(t.startswith("def ") for t in texts[:2])
    assert first.stdout == again.stdout  # the same seed gives the same text


def test_compiled_training_equals_eager(data_dir, tmp_path):
    # every toggle at once: RoPE, GQA and MoE through torch.compile (the MoE takes its compile-friendly path)
    model = ("--pos_emb=rope", "--n_kv_head=1", "--n_expert=4", "--max_iters=3")
    train(*model, data_dir=data_dir, out_dir=tmp_path / "eager")
    train(*model, "--compile=True", data_dir=data_dir, out_dir=tmp_path / "compiled")
    eager, compiled = losses(tmp_path / "eager"), losses(tmp_path / "compiled")
    assert sorted(eager) == sorted(compiled) == [1, 2, 3]
    for step in eager:
        assert eager[step] == pytest.approx(compiled[step], abs=1e-4)


@pytest.fixture(scope="module")
def gpt2_data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "gpt2_docs"
    prepare_texts(embedded_documents()[:3], path, "gpt2", workers=1)
    return path


def test_hellaswag_accuracy_is_logged_while_training(tmp_path, gpt2_data_dir):
    from test_hellaswag_sample import EXAMPLES

    examples = tmp_path / "invented.jsonl"
    examples.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES))
    gpt2_vocab = ("--vocab_size=50304", "--hellaswag_interval=2", f"--hellaswag_data={examples}", "--max_iters=2")
    train(*gpt2_vocab, data_dir=gpt2_data_dir, out_dir=tmp_path / "out")
    records = [r for r in read_metrics(tmp_path / "out" / "metrics.jsonl") if "hellaswag_acc_norm" in r]
    assert [r["step"] for r in records] == [2]
    assert records[0]["hellaswag_acc_norm"] in (0.0, 0.25, 0.5, 0.75, 1.0)


def test_missing_hellaswag_file_stops_before_training(tmp_path, gpt2_data_dir):
    missing = f"--hellaswag_data={tmp_path / 'none.jsonl'}"
    result = train(
        "--hellaswag_interval=1",
        missing,
        "--vocab_size=50304",
        "--max_iters=2",
        data_dir=gpt2_data_dir,
        out_dir=tmp_path,
        check=False,
    )
    assert result.returncode == 1 and "not found" in result.stderr
    assert not (tmp_path / "metrics.jsonl").exists()  # no step was taken
