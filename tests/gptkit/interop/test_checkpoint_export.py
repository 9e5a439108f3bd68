"""gptkit/interop/checkpoint_export.py, the export export_hf.py and study.py share: the folder computes the
checkpoint's logits, its card holds the run's figures and the evaluation results given, and a refused GGUF
leaves no file written."""

import json
from dataclasses import asdict

import pytest
import torch
import yaml
from huggingface_hub import EvalResult
from safetensors.torch import load_file

from gptkit.checkpointing.checkpoint import save_checkpoint
from gptkit.config import TrainConfig
from gptkit.errors import UserError
from gptkit.interop.checkpoint_export import export_checkpoint
from model import GPT, GPTConfig


@pytest.fixture
def run(tmp_path):
    """(checkpoint path, model): a byte-level RoPE model saved as train.py saves it, its metrics beside it."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=32, vocab_size=257, n_layer=2, n_head=2, n_embd=32, pos_emb="rope")).eval()
    train_config = asdict(TrainConfig(total_batch_tokens=256, max_iters=5))
    checkpoint = {"model": model.state_dict(), "model_config": asdict(model.config), "train_config": train_config}
    (tmp_path / "run").mkdir()
    save_checkpoint(tmp_path / "run" / "ckpt.pt", {**checkpoint, "step": 5, "tokenizer": "bytes"})
    (tmp_path / "run" / "metrics.jsonl").write_text(json.dumps({"step": 5, "val_loss": 3.2109}) + "\n")
    return tmp_path / "run" / "ckpt.pt", model


def test_the_folder_computes_the_checkpoints_logits_and_its_card_holds_the_runs_figures(run, tmp_path):
    checkpoint, model = run
    result = EvalResult(task_type="text-generation", dataset_type="docs", dataset_name="docs (validation split)",
                        metric_type="loss", metric_name="loss at 2x context", metric_value=3.5)  # fmt: skip
    exported = export_checkpoint(checkpoint, tmp_path / "hf", GPT, card_name="someone/tiny", eval_results=[result])
    assert exported.folder == tmp_path / "hf" and exported.family == "starcoder2"
    assert exported.gguf_architecture is None
    folder_model = GPT.from_pretrained(str(tmp_path / "hf")).eval()
    idx = torch.randint(0, 257, (2, 32))
    with torch.no_grad():
        assert torch.equal(folder_model(idx)[0], model(idx)[0])
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "steps: 5, tokens: 1,280" in card and "final validation loss: 3.2109" in card
    assert "python train.py --block_size=32 --vocab_size=257" in card and "--max_iters=5" in card
    assert 'from_pretrained("someone/tiny")' in card
    metadata = yaml.safe_load(card.split("---\n")[1])
    assert "starcoder2" in metadata["tags"] and metadata["model-index"][0]["name"] == "someone/tiny"
    (entry,) = metadata["model-index"][0]["results"]
    assert entry["metrics"] == [{"type": "loss", "value": 3.5, "name": "loss at 2x context"}]


def test_without_a_name_the_card_calls_the_model_by_its_folder(run, tmp_path):
    export_checkpoint(run[0], tmp_path / "tiny-hf", GPT, dtype="bfloat16")
    card = (tmp_path / "tiny-hf" / "README.md").read_text()
    assert 'from_pretrained("tiny-hf")' in card and "model-index" not in card
    assert json.loads((tmp_path / "tiny-hf" / "config.json").read_text())["dtype"] == "bfloat16"
    tensors = load_file(tmp_path / "tiny-hf" / "model.safetensors")
    assert tensors and {tensor.dtype for tensor in tensors.values()} == {torch.bfloat16}


def test_a_refused_gguf_leaves_no_file_written(run, tmp_path):
    with pytest.raises(UserError, match="no GGUF for a model of 'bytes' tokens"):
        export_checkpoint(run[0], tmp_path / "hf", GPT, gguf=tmp_path / "tiny.gguf")
    assert not (tmp_path / "hf").exists() and not (tmp_path / "tiny.gguf").exists()
