"""model.py's MoE dispatch (tokens sorted by expert, grouped matmuls, permuted back and combined) equals a plain
computation that runs every expert on every token and weights each output by the router: outputs, aux loss
and every gradient, for top-1 and top-2 routing, with and without biases, and when experts get no tokens."""

import pytest
import torch
import torch.nn.functional as F

from model import GPTConfig, MixtureOfExperts

N_EXPERT, WIDTH = 8, 32


def reference_moe(moe, x):
    """(output, aux loss) without any dispatch: each expert applied to all tokens, weighted where chosen."""
    tokens = x.reshape(-1, WIDTH)
    probs = F.softmax(moe.router(tokens).float(), dim=-1)
    weights, chosen = probs.topk(moe.top_k, dim=-1)
    weights = weights / weights.sum(dim=-1, keepdim=True)
    out = torch.zeros_like(tokens)
    for e in range(N_EXPERT):
        h = tokens @ moe.fc_weight[e] + (moe.fc_bias[e] if moe.fc_bias is not None else 0)
        y = F.gelu(h, approximate="tanh") @ moe.proj_weight[e] + (moe.proj_bias[e] if moe.proj_bias is not None else 0)
        out = out + (weights * (chosen == e)).sum(dim=-1, keepdim=True) * y
    assignment_share = F.one_hot(chosen.flatten(), N_EXPERT).float().mean(dim=0)
    aux_loss = N_EXPERT * (assignment_share * probs.mean(dim=0)).sum()
    return out.view_as(x), aux_loss, chosen


def outputs_and_gradients(moe, x, forward):
    """forward's output and aux loss, and the gradients of x and every parameter of a loss built from both."""
    moe.zero_grad()
    x = x.clone().requires_grad_()
    y, aux_loss = forward(moe, x)[:2]
    mix = torch.linspace(-1, 1, y.numel()).view_as(y)  # an uneven loss, so that swapped rows would show
    ((y * mix).sum() + aux_loss).backward()
    return y.detach(), aux_loss.detach(), [x.grad] + [p.grad.clone() for p in moe.parameters()]


@pytest.mark.parametrize("top_k", [1, 2])
@pytest.mark.parametrize("grouped", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("starved", [False, True])
def test_dispatch_equals_every_expert_on_every_token(top_k, grouped, bias, starved):
    if grouped and not hasattr(F, "grouped_mm"):
        pytest.skip("torch without grouped_mm")
    torch.manual_seed(0)
    config = GPTConfig(
        block_size=32,
        vocab_size=101,
        n_layer=1,
        n_head=4,
        n_embd=WIDTH,
        bias=bias,
        n_expert=N_EXPERT,
        n_expert_active=top_k,
    )
    moe = MixtureOfExperts(config)
    moe.use_grouped_mm = grouped
    with torch.no_grad():  # biases that are not zero, so that a bias applied to the wrong rows shows
        for p in (moe.fc_bias, moe.proj_bias):
            if p is not None:
                p.normal_()
    x = torch.randn(3, 7, WIDTH)
    if starved:  # positive features, experts 0 and 1 score high and the rest low: six experts get no token
        x = x.abs()
        with torch.no_grad():
            moe.router.weight.abs_()
            moe.router.weight[2:].neg_()
    chosen = reference_moe(moe, x)[2]
    assert (chosen.unique().numel() <= 2) == starved

    y, aux_loss, gradients = outputs_and_gradients(moe, x, lambda m, t: m(t))
    expected_y, expected_aux_loss, expected_gradients = outputs_and_gradients(moe, x, reference_moe)
    torch.testing.assert_close(y, expected_y, rtol=1e-5, atol=1e-5)
    assert aux_loss.item() == pytest.approx(expected_aux_loss.item(), abs=1e-6)
    names = ["x"] + [name for name, _ in moe.named_parameters()]
    for name, grad, expected in zip(names, gradients, expected_gradients):
        torch.testing.assert_close(grad, expected, rtol=1e-5, atol=1e-5, msg=name)
    if starved:  # experts without tokens get exactly zero gradient, not leftovers of uninitialised memory
        assert moe.fc_weight.grad[2:].abs().max() == 0 and moe.proj_weight.grad[2:].abs().max() == 0
