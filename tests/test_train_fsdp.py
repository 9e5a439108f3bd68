"""train.py under FSDP: two CPU processes (gloo, under torchrun) against DDP, sharded checkpoints resumed on two
processes and on one (a single process runs in this process), and a consolidated ckpt.pt against the sharded
model (torchrun's restart of a killed worker: tests/test_train_elastic.py). Tiny models and few steps."""

import sys
from pathlib import Path

import pytest
import torch

from conftest import SINGLE_THREAD, run_command, run_script
from gptkit.data.corpus import embedded_documents, prepare_texts
from gptkit.data.dataloader import validation_batches
from gptkit.data.shards import find_shards
from gptkit.training.metrics import read_metrics
from model import load_model

pytestmark = pytest.mark.integration  # two processes, or FSDP against them

TORCHRUN = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
STEPS = 12
# 256 tokens a step: 2 processes x micro-batch 2 x 32 tokens x accumulation 2 (1 process: accumulation 4).
# grad_clip 0.5 is below every step's gradient norm here, so clipping is always in play.
SMALL_RUN = dict(
    vocab_size=257,
    block_size=32,
    n_layer=2,
    n_head=2,
    n_embd=32,
    micro_batch_size=2,
    total_batch_tokens=256,
    learning_rate=3e-3,
    min_lr=3e-4,
    warmup_iters=2,
    max_iters=STEPS,
    lr_decay_iters=STEPS,
    grad_clip=0.5,
    log_interval=1,
    eval_interval=STEPS,
    eval_iters=2,
    checkpoint_interval=4,
    compile=False,
    device="cpu",
    parallelism="fsdp",
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "docs"
    prepare_texts(embedded_documents()[:20], path, "bytes", workers=1)
    return path


def command_line(out_dir, data_dir, **settings):
    flags = {**SMALL_RUN, "data_dir": data_dir, "out_dir": out_dir, **settings}
    return [f"--{key}={value}" for key, value in flags.items()]


def train(out_dir, data_dir, processes=2, **settings):
    """train.py with SMALL_RUN, then settings, on 2 processes under torchrun or on 1 in this process: what it
    printed."""
    flags = command_line(out_dir, data_dir, **settings)
    if processes == 1:
        return run_command("train.py", *flags)
    result = run_script("train.py", *flags, launcher=TORCHRUN, env=SINGLE_THREAD)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def logged(out_dir, key="loss"):
    return {r["step"]: r[key] for r in read_metrics(Path(out_dir) / "metrics.jsonl") if key in r}


def assert_close(figures, reference, tolerance=1e-5):
    assert figures, "nothing logged"
    for step, value in figures.items():
        assert value == pytest.approx(reference[step], abs=tolerance), f"step {step}"


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory):
    """An uninterrupted FSDP run of STEPS steps on 2 processes."""
    out_dir = tmp_path_factory.mktemp("reference")
    train(out_dir, data_dir)
    return out_dir


def test_fsdp_equals_ddp_with_accumulation_and_clipping(reference, data_dir, tmp_path):
    train(tmp_path, data_dir, parallelism="ddp")
    assert sorted(logged(reference)) == list(range(1, STEPS + 1))
    assert_close(logged(tmp_path), logged(reference))
    assert_close(logged(tmp_path, "grad_norm"), logged(reference, "grad_norm"))  # the norm of all shards
    assert logged(reference)[STEPS] < logged(reference)[1]


def test_fsdp_with_activation_checkpointing_equals_ddp_for_moe_rope_gqa(data_dir, tmp_path):
    model = dict(n_expert=4, pos_emb="rope", n_kv_head=1, max_iters=4)
    train(tmp_path / "ddp", data_dir, parallelism="ddp", **model)
    train(tmp_path / "fsdp", data_dir, activation_checkpointing=True, **model)
    assert_close(logged(tmp_path / "fsdp"), logged(tmp_path / "ddp"))
    assert_close(logged(tmp_path / "fsdp", "aux_loss"), logged(tmp_path / "ddp", "aux_loss"))


def test_fsdp_equals_ddp_for_the_new_block_with_its_role_learning_rates(data_dir, tmp_path):
    """Issue 28's block, every toggle on (the root's residual scalars and value embeddings are sharded with the
    embeddings), untied with AdamW's LR by role."""
    block = dict(norm="rmsnorm", norm_weights=False, qk_norm=True, mlp_activation="relu2", logit_softcap=15.0)
    block.update(zero_init_proj=True, embedding_norm=True, residual_scalars=True, value_embeddings=True)
    block.update(tie_embeddings=False, embedding_lr=0.03, unembedding_lr=0.004, scalar_lr=0.002, max_iters=4)
    train(tmp_path / "ddp", data_dir, parallelism="ddp", **block)
    train(tmp_path / "fsdp", data_dir, activation_checkpointing=True, **block)
    assert_close(logged(tmp_path / "fsdp"), logged(tmp_path / "ddp"))
    assert logged(tmp_path / "ddp")[4] < logged(tmp_path / "ddp")[1]


@pytest.mark.parametrize("writers,readers", [(2, 2), (2, 1), (1, 2)])
def test_sharded_checkpoint_resumes_on_any_number_of_processes(reference, data_dir, tmp_path, writers, readers):
    train(tmp_path, data_dir, processes=writers, max_iters=4)
    shards = {f"__{rank}_0.distcp" for rank in range(writers)}  # one file per writing process
    assert {p.name for p in (tmp_path / "ckpt").iterdir()} == {*shards, ".metadata", "train_state.pt"}
    printed = train(tmp_path, data_dir, processes=readers, init_from="resume")
    assert "resuming from step 4" in printed
    resumed = logged(tmp_path)
    assert sorted(resumed) == list(range(1, STEPS + 1))
    assert_close({step: loss for step, loss in resumed.items() if step > 4}, logged(reference))


def test_consolidated_checkpoint_gives_the_sharded_models_validation_loss(reference, data_dir, tmp_path):
    output = tmp_path / "ckpt.pt"
    run_command("consolidate.py", reference, "--output", output)
    model, tokenizer = load_model(output)
    assert tokenizer.name == "bytes"
    # the FSDP run's validation loss at its last step: eval_iters batches per process, averaged over both
    losses = []
    for rank in (0, 1):
        batches = validation_batches(
            find_shards(data_dir, "val"), SMALL_RUN["micro_batch_size"], 32, SMALL_RUN["eval_iters"], rank, 2
        )
        with torch.no_grad():
            losses += [model(x, y)[1] for x, y in batches]
    assert torch.stack(losses).mean().item() == pytest.approx(logged(reference, "val_loss")[STEPS], abs=1e-5)


def test_compiled_blocks_under_fsdp_train_like_eager(reference, data_dir, tmp_path):
    train(tmp_path, data_dir, compile=True, activation_checkpointing=True, max_iters=3)
    assert_close(logged(tmp_path), logged(reference), tolerance=1e-4)  # compiled kernels round differently
