"""GPU-only checks of the speed work (skipped without CUDA), in bf16: the chunked cross-entropy (eager and
compiled) and liger-kernel's fused one against the full logits, the MoE dispatch without host syncs or graph
breaks, and fp8 training through torchao. Speed itself is measured by gpu_check.sh, not asserted here."""

import pytest
import torch

from conftest import tiny_gpt
from gptkit.distributed import Run
from gptkit.model_parts.losses import linear_cross_entropy
from gptkit.training.optim import build_adamw

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
SMALL = dict(block_size=256, vocab_size=50304, n_head=8, n_embd=512)  # 2 layers


def relative_error(ours, reference):
    return ((ours.float() - reference.float()).norm() / reference.float().norm()).item()


def loss_and_gradients(implementation, hidden, weight, targets, compiled=False):
    """Loss, gradient of hidden and gradient of weight under bf16 autocast, and the peak memory in GB."""
    hidden, weight = hidden.detach().requires_grad_(), weight.detach().requires_grad_()
    function = torch.compile(linear_cross_entropy) if compiled else linear_cross_entropy
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = function(hidden, weight, targets, ignore_index=-1, implementation=implementation)
    loss.backward()
    peak_gb = torch.cuda.max_memory_allocated() / 1e9
    return loss.detach(), hidden.grad, weight.grad, peak_gb


def head_problem(rows=16384, width=768, vocab=50304):
    torch.manual_seed(0)
    hidden = torch.randn(rows, width, device="cuda")
    weight = 0.02 * torch.randn(vocab, width, device="cuda")
    targets = torch.randint(0, vocab, (rows,), device="cuda")
    targets[::7] = -1
    return hidden, weight, targets


@pytest.mark.parametrize("implementation,compiled", [("chunked", False), ("chunked", True), ("liger", False)])
def test_cross_entropy_matches_the_full_logits_in_bf16(implementation, compiled):
    if implementation == "liger":
        pytest.importorskip("liger_kernel")
    problem = head_problem()
    full_loss, full_grad_hidden, full_grad_weight, full_peak = loss_and_gradients("full", *problem)
    loss, grad_hidden, grad_weight, peak = loss_and_gradients(implementation, *problem, compiled=compiled)
    assert loss.item() == pytest.approx(full_loss.item(), rel=2e-3)
    assert relative_error(grad_hidden, full_grad_hidden) < 2e-2
    assert relative_error(grad_weight, full_grad_weight) < 2e-2
    # 16384 x 50304 logits are 3.3 GB in fp32: the full computation holds them (and more), a chunk holds 0.8 GB
    assert peak < full_peak - 2.0, (peak, full_peak)


def training_step(model, idx, runner=None):
    """Loss and gradients of one bf16 step of model, run through runner (a compiled model) when given."""
    model.zero_grad()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        _, loss = (model if runner is None else runner)(idx, idx)
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize(
    "overrides", [{}, {"n_expert": 8, "n_expert_active": 2}, {"n_expert": 8, "n_expert_active": 1}]
)
def test_compiled_training_step_has_no_graph_break_and_matches_eager(overrides):
    one_layer = dict(pos_emb="rope", n_kv_head=2, n_layer=1, **overrides)  # one layer: compiles faster
    model = tiny_gpt(**SMALL, **one_layer).cuda().train()
    idx = torch.randint(0, 50304, (4, 256), device="cuda")
    eager_loss, eager_grads = training_step(model, idx)
    compiled_loss, compiled_grads = training_step(model, idx, torch.compile(model, fullgraph=True))
    assert compiled_loss.item() == pytest.approx(eager_loss.item(), rel=1e-2)
    for name, grad in compiled_grads.items():
        assert relative_error(grad, eager_grads[name]) < 5e-2, name


@pytest.mark.parametrize("top_k", [1, 2])
def test_moe_dispatch_never_waits_for_the_host_and_matches_the_loop(top_k):
    model = tiny_gpt(**SMALL, n_expert=8, n_expert_active=top_k).cuda().train()
    moe = model.transformer.h[0].mlp
    x = torch.randn(8, 256, 512, device="cuda")
    results = []
    for grouped in (True, False):
        moe.use_grouped_mm = grouped
        moe.zero_grad()
        inputs = x.clone().requires_grad_()
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error" if grouped else "default")  # any sync in the grouped path raises
        try:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                y, aux_loss = moe(inputs)
            (y.float().square().mean() + aux_loss).backward()
        finally:
            torch.cuda.set_sync_debug_mode("default")
        results.append([y.float(), aux_loss, inputs.grad] + [p.grad for p in moe.parameters()])
    for grouped, looped in zip(*results):
        assert relative_error(grouped, looped) < 2e-2


def test_fp8_training_converts_the_linears_and_learns():
    if torch.cuda.get_device_capability() < (8, 9):
        pytest.skip("no float8 matrix units on this GPU")
    pytest.importorskip("torchao.float8")
    from gptkit.model_parts.fp8 import convert_to_fp8

    idx = torch.randint(0, 50304, (8, 256), device="cuda")
    reference = tiny_gpt(**SMALL).cuda().train()
    reference_loss, _ = training_step(reference, idx)
    model = tiny_gpt(**SMALL).cuda().train()
    converted = convert_to_fp8(model, Run(device="cuda", dtype="bfloat16"))
    assert len(converted) == 4 * model.config.n_layer and "lm_head" not in converted
    optimizer = build_adamw(model.named_parameters(), 0.1, 1e-3, (0.9, 0.95), "cuda")
    compiled = torch.compile(model)
    losses = []
    for _ in range(8):
        loss, _ = training_step(model, idx, compiled)
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(reference_loss.item(), rel=2e-2)  # the same model, in float8
    assert losses[-1] < losses[0] - 0.5
