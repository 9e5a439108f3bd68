"""One home for a run's checkpoint (issue 18, item 1; gptkit/checkpointing/training_checkpoint.py): what save
writes, of either kind, restore takes up whole into other parts; and which checkpoint a run takes up, the other kind
refused."""

import ast
import os

import pytest
import torch

from conftest import ROOT
from gptkit.checkpointing.checkpoint import save_checkpoint
from gptkit.checkpointing.sharded_checkpoint import consolidate
from gptkit.checkpointing.training_checkpoint import FILE, TrainingCheckpoint, TrainingParts
from gptkit.config import TrainConfig
from gptkit.data.dataloader import ShardedBatches
from gptkit.data.shards import find_shards
from gptkit.distributed import Run
from gptkit.errors import UserError
from gptkit.training.optim import build_optimizer
from model import GPT, GPTConfig


def run_checkpoint(out_dir, parallelism, init_from="auto"):
    cfg = TrainConfig(out_dir=str(out_dir), parallelism=parallelism, init_from=init_from)
    return TrainingCheckpoint(cfg, Run())


def trained_parts(data_dir, steps):
    """TrainingParts of a 1-layer model after `steps` AdamW steps: its weights, moments and data position
    tell how far it went."""
    torch.manual_seed(steps)
    model = GPT(GPTConfig(block_size=16, vocab_size=257, n_layer=1, n_head=2, n_embd=16))
    optimizer = build_optimizer(model.named_parameters(), TrainConfig(), "cpu")
    batches = ShardedBatches(find_shards(data_dir, "train"), batch_size=2, block_size=16, seed=1337)
    for _ in range(steps):
        model(*batches.next_batch())[1].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return TrainingParts(model, optimizer, torch.amp.GradScaler("cpu", enabled=False), batches)


@pytest.mark.parametrize("parallelism", ["ddp", "fsdp"])
def test_restore_takes_up_what_save_wrote(data_dir, tmp_path, parallelism):
    checkpoint = run_checkpoint(tmp_path, parallelism)
    saved = trained_parts(data_dir, steps=3)
    checkpoint.save(3, saved, loss_average=4.5)
    draws = torch.rand(4)  # the RNG state was saved before these
    other = trained_parts(data_dir, steps=1)
    found = checkpoint.find()
    assert checkpoint.restore(found, other) == 3 and found["loss_average"] == 4.5
    assert torch.equal(torch.rand(4), draws)
    for name, tensor in saved.model.state_dict().items():
        assert torch.equal(other.model.state_dict()[name], tensor), name
    for mine, theirs in zip(other.model.parameters(), saved.model.parameters()):
        assert torch.equal(other.optimizer.state[mine]["exp_avg_sq"], saved.optimizer.state[theirs]["exp_avg_sq"])
    assert other.batches.state_dict() == saved.batches.state_dict()


def test_which_checkpoint_a_run_resumes(data_dir, tmp_path):
    assert run_checkpoint(tmp_path, "fsdp").find() is None
    assert run_checkpoint(tmp_path, "ddp", "scratch").find() is None
    with pytest.raises(UserError, match="no checkpoint at"):
        run_checkpoint(tmp_path, "fsdp", "resume").find()
    run_checkpoint(tmp_path, "fsdp").save(7, trained_parts(data_dir, steps=1))
    resumed = run_checkpoint(tmp_path, "fsdp").find()
    assert resumed["step"] == 7 and resumed["sharded_path"] == tmp_path / "ckpt"
    with pytest.raises(UserError, match="resume with --parallelism=fsdp"):
        run_checkpoint(tmp_path, "ddp").find()
    consolidate(tmp_path / "ckpt", tmp_path / "ckpt.pt")
    with pytest.raises(UserError, match="holds weights only"):
        run_checkpoint(tmp_path, "ddp", "resume").find()
    os.remove(tmp_path / "ckpt" / "train_state.pt")
    save_checkpoint(tmp_path / "ckpt.pt", {"model": {}, "model_config": {}, "optimizer": {}})
    with pytest.raises(UserError, match="resume with --parallelism=ddp"):
        run_checkpoint(tmp_path, "fsdp").find()


def test_the_checkpoint_files_name_is_spelled_in_one_place():
    """Every command and part finds a run's ckpt.pt through checkpoint_file_in: no other code spells the name."""
    spelled = [
        path.relative_to(ROOT).as_posix()
        for path in [*ROOT.glob("*.py"), *(ROOT / "gptkit").rglob("*.py")]
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value == FILE
    ]
    assert spelled == ["gptkit/checkpointing/training_checkpoint.py"]
