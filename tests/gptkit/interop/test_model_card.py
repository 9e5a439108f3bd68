"""gptkit/interop/model_card.py: the card's figures are the run's own (checkpoint, metrics.jsonl, config.json), and
evaluation results given join its metadata as model-index with the card's other metadata and text kept."""

import json
from dataclasses import asdict

import yaml
from huggingface_hub import EvalResult

from gptkit.config import TrainConfig
from gptkit.interop.model_card import model_card, run_summary, training_command, with_eval_results
from model import GPTConfig

MODEL = asdict(GPTConfig(n_layer=2, n_head=4, n_kv_head=2, n_embd=32, pos_emb="rope", n_expert=4))
TRAIN = asdict(TrainConfig(max_iters=30, total_batch_tokens=4096, learning_rate=1e-3))


def write_run(run_dir):
    records = [
        {"step": 10, "loss": 3.0, "tokens": 40960},
        {"step": 20, "val_loss": 2.71828, "val_bpb": 1.23456, "tokens": 81920},
        {"step": 20, "hellaswag_acc": 0.26, "hellaswag_acc_norm": 0.2712},
        {"step": 30, "val_loss": 2.5, "hellaswag_acc_norm": 0.3},  # after the checkpoint: not its figures
    ]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    derived = {"device": "NVIDIA H100 80GB HBM3", "dtype": "bfloat16", "processes": 8}
    (run_dir / "config.json").write_text(json.dumps({"model": MODEL, "train": TRAIN, "derived": derived}))


def test_summary_takes_the_last_figures_up_to_the_checkpoint(tmp_path):
    write_run(tmp_path)
    summary = run_summary(tmp_path / "ckpt.pt", {"step": 20, "train_config": TRAIN})
    assert summary == {
        "step": 20,
        "tokens": 20 * 4096,
        "val_loss": 2.71828,
        "val_bpb": 1.23456,
        "hellaswag_acc_norm": 0.2712,
        "device": "8 x NVIDIA H100 80GB HBM3 (bfloat16)",
    }


def test_command_lists_the_settings_that_differ_from_the_defaults():
    command = training_command(MODEL, TRAIN, asdict(GPTConfig()), asdict(TrainConfig()))
    flags = set(command.split()[2:])
    assert command.startswith("python train.py ")
    assert flags == {
        "--n_layer=2", "--n_head=4", "--n_kv_head=2", "--n_embd=32", "--pos_emb=rope", "--n_expert=4",
        "--max_iters=30", "--total_batch_tokens=4096", "--learning_rate=0.001",
    }  # fmt: skip


def test_card_carries_metadata_figures_and_how_to_load(tmp_path):
    write_run(tmp_path)
    summary = run_summary(tmp_path / "ckpt.pt", {"step": 20, "train_config": TRAIN})
    parameters = {"total": 1234567, "active": 654321}
    card = model_card("gptkit", MODEL, "gpt2", parameters, summary, "python train.py --n_layer=2", "moe-hf")
    header = card.split("---")[1]
    assert "library_name: transformers" in header and "- mixture-of-experts" in header
    assert header.count("- gptkit") == 1
    figures = ("1,234,567 total, 654,321 active", "tokens: 81,920", "validation loss: 2.7183", "1.2346 bits per byte")
    for expected in (*figures, "0.2712"):
        assert expected in card
    assert "python train.py --n_layer=2" in card
    assert 'from_pretrained("moe-hf", trust_remote_code=True)' in card
    assert "pretrained=moe-hf,trust_remote_code=True" in card

    no_run = run_summary(tmp_path / "elsewhere" / "ckpt.pt", {})
    card = model_card("gpt2", {**MODEL, "n_expert": 0}, "bytes", parameters, no_run, "python train.py", "x")
    assert "final validation loss: not logged" in card and "trust_remote_code" not in card


def test_eval_results_join_the_front_matter_and_the_card_stays():
    card = "---\nlicense: mit\ntags:\n- gpt-from-scratch\n- starcoder2\n---\n\n# A model\n\nIts text.\n"
    assert with_eval_results(card, [], "someone/tiny") == card
    result = EvalResult(
        task_type="text-generation",
        dataset_type="python_stdlib",
        dataset_name="python_stdlib (validation split)",
        dataset_split="validation",
        metric_type="loss",
        metric_name="validation loss at 64 tokens",
        metric_value=4.1235,
    )
    _, front, body = with_eval_results(card, [result], "someone/tiny").split("---\n", 2)
    metadata = yaml.safe_load(front)
    assert body == card.split("---\n", 2)[2]
    assert metadata["license"] == "mit" and metadata["tags"] == ["gpt-from-scratch", "starcoder2"]
    (entry,) = metadata["model-index"]
    assert entry["name"] == "someone/tiny"
    assert entry["results"][0]["metrics"] == [{"type": "loss", "value": 4.1235, "name": "validation loss at 64 tokens"}]
    assert entry["results"][0]["dataset"]["split"] == "validation"
