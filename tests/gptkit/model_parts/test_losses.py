"""gptkit/model_parts/losses.py: the chunked loss and its gradients equal F.cross_entropy on the full logits."""

import pytest
import torch
import torch.nn.functional as F

from gptkit.errors import UserError
from gptkit.model_parts.losses import check_cross_entropy, linear_cross_entropy, rows_per_chunk


def problem(rows=37, width=16, vocab=53, ignored_every=5):
    """Hidden states, head weight and targets of a small batch; every ignored_every-th target is ignored (-1)."""
    torch.manual_seed(0)
    hidden = torch.randn(rows, width, requires_grad=True)
    weight = torch.randn(vocab, width, requires_grad=True)
    targets = torch.randint(0, vocab, (rows,))
    targets[::ignored_every] = -1
    return hidden, weight, targets


def reference(hidden, weight, targets):
    """F.cross_entropy on the materialised logits: (loss, gradient of hidden, gradient of weight)."""
    loss = F.cross_entropy(hidden @ weight.t(), targets, ignore_index=-1)
    grad_hidden, grad_weight = torch.autograd.grad(loss, (hidden, weight))
    return loss, grad_hidden, grad_weight


@pytest.mark.parametrize("chunk_rows", [None, 1, 8, 10, 37, 64])  # one chunk, uneven chunks, row by row
def test_chunked_loss_and_gradients_equal_cross_entropy_on_the_logits(chunk_rows):
    hidden, weight, targets = problem()
    loss, grad_hidden, grad_weight = reference(hidden, weight, targets)
    chunked = linear_cross_entropy(hidden, weight, targets, ignore_index=-1, chunk_rows=chunk_rows)
    # a scaled loss: the backward pass must multiply the stored gradients by the incoming one
    chunked_grad_hidden, chunked_grad_weight = torch.autograd.grad(3 * chunked, (hidden, weight))
    assert chunked.item() == pytest.approx(loss.item(), abs=1e-5)
    torch.testing.assert_close(chunked_grad_hidden, 3 * grad_hidden, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(chunked_grad_weight, 3 * grad_weight, rtol=1e-5, atol=1e-6)
    assert grad_hidden[::5].abs().max() == 0 and chunked_grad_hidden[::5].abs().max() == 0  # ignored rows


@pytest.mark.parametrize("implementation,chunk_rows", [("chunked", None), ("chunked", 8), ("full", None)])
def test_soft_capped_loss_and_gradients_equal_cross_entropy_on_capped_logits(implementation, chunk_rows):
    """softcap c: the loss of c * tanh(logits / c), its gradients through tanh (the chunked kind computes them
    itself); the logits here reach 15, so a cap of 2 changes the loss a great deal."""
    hidden, weight, targets = problem()
    logits = hidden @ weight.t()
    capped_loss = F.cross_entropy(2.0 * torch.tanh(logits / 2.0), targets, ignore_index=-1)
    expected = [capped_loss, *torch.autograd.grad(capped_loss, (hidden, weight))]
    loss = linear_cross_entropy(hidden, weight, targets, -1, "mean", implementation, chunk_rows, softcap=2.0)
    got = [loss, *torch.autograd.grad(loss, (hidden, weight))]
    for ours, theirs in zip(got, expected):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert abs(capped_loss.item() - reference(hidden, weight, targets)[0].item()) > 1
    with torch.no_grad():  # and the evaluation path, per row
        rows = linear_cross_entropy(hidden, weight, targets, -1, "none", implementation, chunk_rows, softcap=2.0)
        expected_rows = F.cross_entropy(2.0 * torch.tanh(logits / 2.0), targets, ignore_index=-1, reduction="none")
        torch.testing.assert_close(rows, expected_rows, rtol=1e-5, atol=1e-6)


def test_only_the_inputs_that_need_a_gradient_get_one():
    hidden, weight, targets = problem()
    frozen = weight.detach()
    loss = linear_cross_entropy(hidden, frozen, targets, chunk_rows=8)
    (grad_hidden,) = torch.autograd.grad(loss, hidden)
    torch.testing.assert_close(
        grad_hidden, torch.autograd.grad(F.cross_entropy(hidden @ frozen.t(), targets, ignore_index=-1), hidden)[0]
    )


def test_batch_shaped_inputs_and_the_evaluation_path_give_the_same_loss():
    hidden, weight, targets = problem(rows=36)
    loss = reference(hidden, weight, targets)[0]
    with torch.no_grad():  # evaluation: no gradients computed, same chunked loss
        batched = linear_cross_entropy(hidden.view(4, 9, 16), weight, targets.view(4, 9), chunk_rows=5)
    assert batched.item() == pytest.approx(loss.item(), abs=1e-5)
    assert not batched.requires_grad


@pytest.mark.parametrize("grad_enabled", [False, True])
def test_per_row_losses_equal_cross_entropy_without_reduction(grad_enabled):
    hidden, weight, targets = problem(rows=36)
    expected = F.cross_entropy(hidden @ weight.t(), targets, ignore_index=-1, reduction="none").view(4, 9)
    with torch.set_grad_enabled(grad_enabled):
        losses = linear_cross_entropy(hidden.view(4, 9, 16), weight, targets.view(4, 9), reduction="none", chunk_rows=7)
    torch.testing.assert_close(losses, expected.detach() if not grad_enabled else expected)
    assert losses.view(-1)[::5].abs().max() == 0


def test_full_implementation_is_the_plain_computation():
    hidden, weight, targets = problem()
    loss, grad_hidden, _ = reference(hidden, weight, targets)
    full = linear_cross_entropy(hidden, weight, targets, implementation="full")
    assert full.item() == pytest.approx(loss.item(), abs=1e-6)
    torch.testing.assert_close(torch.autograd.grad(full, hidden)[0], grad_hidden)


def test_bf16_autocast_stays_close_to_the_fp32_reference():
    hidden, weight, targets = problem(rows=64, width=32, vocab=97)
    loss, grad_hidden, grad_weight = reference(hidden, weight, targets)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        chunked = linear_cross_entropy(hidden, weight, targets, chunk_rows=16)
    chunked_grad_hidden, chunked_grad_weight = torch.autograd.grad(chunked, (hidden, weight))
    assert chunked_grad_hidden.dtype == hidden.dtype and chunked_grad_weight.dtype == weight.dtype
    assert chunked.item() == pytest.approx(loss.item(), rel=2e-2)
    for ours, theirs in ((chunked_grad_hidden, grad_hidden), (chunked_grad_weight, grad_weight)):
        assert ((ours - theirs).norm() / theirs.norm()).item() < 2e-2


def test_chunks_hold_at_most_the_logit_budget():
    assert rows_per_chunk(65536, 50304) == 4096  # 4096 x 50304 logits: 0.8 GB in fp32
    assert rows_per_chunk(100, 50304) == 100
    assert rows_per_chunk(65536, 50304, max_logits=10) == 1
    assert rows_per_chunk(1000, 10, max_logits=250) == 16


def test_liger_is_refused_off_cuda_with_one_line():
    check_cross_entropy("chunked", "cpu")
    with pytest.raises(UserError) as error:
        check_cross_entropy("liger", "cpu")
    assert "\n" not in str(error.value) and "chunked" in str(error.value)
