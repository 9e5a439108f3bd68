from types import SimpleNamespace

import pytest
import torch

from conftest import ROOT, run_command
from gptkit.config import TrainConfig
from gptkit.distributed import Run
from gptkit.training.memory_plan import GB, MEMORY_HEADROOM, activation_bytes_per_sequence, plan_memory
from gptkit.training.micro_batch import find_micro_batch_size
from model import GPT, GPTConfig

SHAPES = [{}, {"pos_emb": "rope", "n_kv_head": 1}, {"n_expert": 4}]


def small(**toggles):
    return GPTConfig(vocab_size=256, block_size=64, n_layer=4, n_head=4, n_embd=64, **toggles)


def saved_for_backward_bytes(model, tokens):
    """Bytes of the tensors autograd keeps from one forward pass (weights excluded), with the loss computed from
    the whole batch's logits (cross_entropy="full", what the plan counts; "chunked" keeps less)."""
    model.use_cross_entropy("full")
    weights = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    storages = {}

    def keep(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        model(tokens, tokens)
    return sum(storages.values())


@pytest.mark.parametrize("toggles", SHAPES, ids=["dense", "rope_gqa", "moe"])
def test_planned_activations_cover_what_the_forward_pass_keeps(toggles):
    torch.manual_seed(0)
    config = small(**toggles)
    measured = saved_for_backward_bytes(GPT(config), torch.randint(0, 256, (1, config.block_size)))
    planned = activation_bytes_per_sequence(config, compute_bytes=4, checkpointed=False)
    # the plan also counts the loss head's gradient at the start of the backward pass
    assert measured <= planned <= 1.25 * measured


def test_state_is_16_bytes_a_parameter_whole_under_ddp_and_sharded_under_fsdp():
    config = small()
    params, block_params = 10_000_000, 1_000_000
    ddp = plan_memory(config, params, block_params, 8, "ddp")
    fsdp = plan_memory(config, params, block_params, 8, "fsdp")
    assert ddp.weights + ddp.gradients + ddp.optimizer == 16 * params
    assert fsdp.weights + fsdp.gradients + fsdp.optimizer == 16 * params / 8
    assert ddp.working == 2 * params  # autocast's bfloat16 copy of every weight
    assert fsdp.accumulation == 4 * params and ddp.accumulation == 0
    assert plan_memory(config, params, block_params, 8, "ddp", "float32").working == 0


def test_checkpointing_keeps_one_block_input_per_layer():
    config = small()
    full = activation_bytes_per_sequence(config, 2, checkpointed=False)
    checkpointed = activation_bytes_per_sequence(config, 2, checkpointed=True)
    deeper = GPTConfig(**{**config.__dict__, "n_layer": 8})
    # each extra layer adds its whole activations without checkpointing, only its float32 input with it
    added_full = activation_bytes_per_sequence(deeper, 2, checkpointed=False) - full
    added_checkpointed = activation_bytes_per_sequence(deeper, 2, checkpointed=True) - checkpointed
    assert added_checkpointed == 4 * config.n_layer * config.n_embd * config.block_size
    assert added_full > 4 * added_checkpointed and checkpointed < full


@pytest.mark.parametrize("parallelism", ["ddp", "fsdp"])
@pytest.mark.parametrize("checkpointed", [False, True])
def test_largest_micro_batch_is_the_last_that_fits(parallelism, checkpointed):
    plan = plan_memory(GPTConfig(), 124_000_000, 7_000_000, 8, parallelism)
    gpu_bytes = 24 * GB
    largest = plan.largest_micro_batch(gpu_bytes, checkpointed)
    assert largest > 0
    assert plan.fits(largest, checkpointed, True, gpu_bytes)
    assert not plan.fits(largest + 1, checkpointed, True, gpu_bytes)
    assert plan.fixed(True) + largest * plan.per_sequence(checkpointed) <= MEMORY_HEADROOM * gpu_bytes


def test_model_py_prints_the_plan_of_the_7b_config():
    printed = run_command("model.py", ROOT / "configs" / "gpt_7b.py", "--gpus", "16", "--gpu-memory", "80")
    assert "16 GPUs of 80 GB" in printed
    assert "this config (fsdp, micro-batch" in printed and "checkpointing): " in printed
    assert printed.rstrip().endswith("fits")  # the 7B recipe fits its hardware by the plan


@pytest.mark.parametrize("gpu_gb", [16, 24, 80])
def test_auto_micro_batch_under_fsdp_is_the_largest_divisor_the_plan_fits(monkeypatch, gpu_gb):
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: SimpleNamespace(total_memory=gpu_gb * GB))
    with torch.device("meta"):
        model = GPT(GPTConfig(n_layer=24, n_embd=2048, n_head=16))
    cfg = TrainConfig(parallelism="fsdp", micro_batch_size="auto", total_batch_tokens=8 * 64 * 1024)
    chosen = find_micro_batch_size(model, cfg, Run(world_size=8, device="cuda:0", dtype="bfloat16"))
    params = model.num_params()["total"]
    block_params = sum(p.numel() for p in model.transformer.h[0].parameters())
    largest = plan_memory(model.config, params, block_params, 8, "fsdp").largest_micro_batch(gpu_gb * GB, False, 64)
    assert chosen == max(b for b in (1, 2, 4, 8, 16, 32, 64) if b <= largest)
    assert chosen == {16: 2, 24: 4, 80: 16}[gpu_gb]  # more memory, larger micro-batches
