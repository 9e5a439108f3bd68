"""GPU-only checks (skipped without CUDA): flash attention, bf16/fp16, compile, grouped-matmul MoE, KV cache."""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from conftest import tiny_gpt
from gptkit.training.optim import build_adamw

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
SMALL = dict(block_size=256, vocab_size=50304, n_head=8, n_embd=512)  # 2 layers


@pytest.mark.parametrize("n_kv_head", [8, 2])
def test_flash_attention_matches_the_math_kernel(n_kv_head):
    model = tiny_gpt(**SMALL, pos_emb="rope", n_kv_head=n_kv_head).cuda()
    idx = torch.randint(0, 50304, (4, 256), device="cuda")
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            flash, _ = model(idx)
        with sdpa_kernel(SDPBackend.MATH):
            math, _ = model(idx)
    assert (flash.float() - math.float()).abs().max().item() < 0.05


def test_compiled_model_matches_eager():
    model = tiny_gpt(**SMALL, pos_emb="rope", n_kv_head=2).cuda()
    idx = torch.randint(0, 50304, (2, 256), device="cuda")
    with torch.no_grad():
        eager, _ = model(idx)
        compiled, _ = torch.compile(model)(idx)
    assert (eager - compiled).abs().max().item() < 1e-3


def test_moe_grouped_matmul_matches_loop_in_bf16():
    model = tiny_gpt(**SMALL, n_expert=8, n_expert_active=2).cuda()
    moe = model.transformer.h[0].mlp
    x = torch.randn(4, 256, 512, device="cuda")
    outputs = []
    for grouped in (True, False):
        moe.use_grouped_mm = grouped
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            outputs.append(moe(x)[0].float())
    assert (outputs[0] - outputs[1]).abs().max().item() < 0.02


def test_kv_cache_generation_equals_recompute_on_gpu():
    model = tiny_gpt(**SMALL, pos_emb="rope", n_kv_head=2).cuda()
    prompt = torch.randint(0, 50304, (2, 8), device="cuda")
    assert torch.equal(model.generate(prompt, 30, top_k=1), model.generate(prompt, 30, top_k=1, use_cache=False))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_mixed_precision_training_step_lowers_the_loss(dtype):
    model = tiny_gpt(**SMALL).cuda().train()
    optimizer = build_adamw(model.named_parameters(), 0.1, 1e-3, (0.9, 0.95), "cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    idx = torch.randint(0, 50304, (4, 256), device="cuda")
    losses = []
    for _ in range(5):
        with torch.autocast("cuda", dtype=dtype):
            _, loss = model(idx, idx)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
