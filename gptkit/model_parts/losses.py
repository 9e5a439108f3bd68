"""
Cross-entropy of the output layer without the whole batch's logits.

The training loss is cross_entropy(hidden @ weight.T, targets). With GPT-2's vocabulary a micro-batch of
64 x 1024 tokens has 3.3G logits, 13 GB in fp32. "chunked" computes the loss over a few thousand rows at a
time, so one chunk's logits exist at once; when a gradient is wanted it also computes the gradients of the
hidden states and of the weight in that same pass, chunk by chunk, and the backward pass only scales them by
the incoming gradient: no logits are kept for the backward pass and none are recomputed. "full" is the plain
computation (the reference, and what the model did before), "liger" the fused Triton kernel of the
liger-kernel package (CUDA only, optional: requirements-gpu.txt).

With softcap c > 0 (the model's logit_softcap) the logits are c * tanh(logits / c) in every implementation,
and "chunked" carries tanh's derivative into the gradients it computes.

Invariant (tests/gptkit/model_parts/test_losses.py): "chunked" gives the loss and the gradients of hidden and weight of
F.cross_entropy on the full (soft-capped) logits, rows whose target is ignore_index left out of the mean, for any
chunk size.
"""

import torch
import torch.nn.functional as F

from gptkit.errors import UserError
from gptkit.precision import matmul_dtype

IMPLEMENTATIONS = ("chunked", "full", "liger")
CHUNK_LOGITS = 2**28  # logits per chunk at most: 1 GB in fp32 (4096 rows of GPT-2's 50304-token vocabulary)


def check_cross_entropy(implementation, device_type):
    """A one-line UserError if this machine cannot run the implementation ("liger": CUDA and the package)."""
    if implementation != "liger":
        return
    if device_type != "cuda":
        raise UserError(f"cross_entropy='liger' runs on CUDA GPUs only (this run is on {device_type}); use 'chunked'")
    try:
        import liger_kernel  # noqa: F401
    except ImportError:
        raise UserError("cross_entropy='liger' needs liger-kernel: pip install -r requirements-gpu.txt") from None


def rows_per_chunk(rows, vocab_size, max_logits=CHUNK_LOGITS):
    """The largest power of two of rows whose logits fit max_logits (at least 1, at most all rows)."""
    fitting = max(1, max_logits // vocab_size)
    return min(rows, 1 << (fitting.bit_length() - 1))


def soft_cap(logits, cap):
    """cap * tanh(logits / cap) in fp32, smooth and within (-cap, cap); the logits as they are when cap is 0."""
    return cap * torch.tanh(logits.float() / cap) if cap else logits


def capped_logits(hidden, weight, softcap):
    """The logits hidden @ weight.T in fp32, soft-capped when softcap > 0: softcap * tanh(logits / softcap),
    computed in place (a chunk's logits exist once), so for computations without autograd."""
    logits = F.linear(hidden, weight).float()
    return logits.div_(softcap).tanh_().mul_(softcap) if softcap else logits


def chunk_losses(hidden, weight, targets, ignore_index, with_gradient, softcap=0.0):
    """Per-row losses of one chunk (0 where ignored) and, if asked, d(sum of losses)/d(logits) in fp32, the logits
    before the soft cap."""
    logits = capped_logits(hidden, weight, softcap)  # (rows, vocab), the only full-width tensor of this chunk
    counted = targets != ignore_index
    safe_targets = torch.where(counted, targets, 0)[:, None]  # any valid index; the row is zeroed below
    log_normaliser = logits.logsumexp(dim=-1)
    losses = torch.where(counted, log_normaliser - logits.gather(1, safe_targets).squeeze(1), 0.0)
    if not with_gradient:
        return losses, None
    # the gradient of -log softmax at the target: softmax minus the target's one-hot, zero for ignored rows
    # (c tanh(z / c))' = 1 - tanh(z / c)^2, from the capped logits before they turn into probabilities
    cap_slope = (logits / softcap).square_().neg_().add_(1) if softcap else None
    grad_logits = logits.sub_(log_normaliser[:, None]).exp_()
    grad_logits.scatter_add_(1, safe_targets, torch.full_like(safe_targets, -1.0, dtype=grad_logits.dtype))
    if cap_slope is not None:
        grad_logits.mul_(cap_slope)
    return losses, grad_logits.mul_(counted[:, None])


class ChunkedLinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of hidden @ weight.T whose gradients are computed during the forward pass."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, ignore_index, chunk_rows, softcap):
        dtype = matmul_dtype(hidden)
        weight_in_dtype = weight.to(dtype)
        counted = (targets != ignore_index).sum()  # the mean's denominator, as F.cross_entropy's
        loss_sum = torch.zeros((), device=hidden.device)
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros_like(weight, dtype=torch.float32)  # summed over chunks in fp32
        for start in range(0, hidden.size(0), chunk_rows):
            rows = slice(start, start + chunk_rows)
            hidden_chunk = hidden[rows].to(dtype)
            chunk = (hidden_chunk, weight_in_dtype, targets[rows], ignore_index, True, softcap)
            losses, grad_logits = chunk_losses(*chunk)
            loss_sum += losses.sum()
            grad_logits = grad_logits.div_(counted).to(dtype)
            grad_hidden[rows] = grad_logits @ weight_in_dtype
            if ctx.needs_input_grad[1]:
                grad_weight += (grad_logits.t() @ hidden_chunk).float()
            del grad_logits  # freed before the next chunk's logits are made
        ctx.weight_dtype = weight.dtype
        ctx.save_for_backward(grad_hidden, grad_weight)
        return loss_sum / counted

    @staticmethod
    def backward(ctx, grad_loss):
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_loss, (grad_weight * grad_loss).to(ctx.weight_dtype), None, None, None, None


def token_losses(hidden, weight, targets, ignore_index, chunk_rows, softcap=0.0):
    """Per-row losses (0 where ignored), chunk by chunk, without gradient: for evaluation."""
    dtype = matmul_dtype(hidden)
    weight_in_dtype = weight.to(dtype)
    losses = []
    with torch.no_grad():
        for start in range(0, hidden.size(0), chunk_rows):
            rows = slice(start, start + chunk_rows)
            chunk = (hidden[rows].to(dtype), weight_in_dtype, targets[rows], ignore_index, False, softcap)
            losses.append(chunk_losses(*chunk)[0])
    return torch.cat(losses)


def linear_cross_entropy(
    hidden, weight, targets, ignore_index=-1, reduction="mean", implementation="chunked", chunk_rows=None, softcap=0.0
):
    """Cross-entropy of the logits hidden @ weight.T (hidden: (..., C), weight: (vocab, C), targets: (...)),
    soft-capped to softcap * tanh(logits / softcap) when softcap > 0.

    reduction "mean" averages over the rows whose target is not ignore_index; "none" gives each row's loss
    (0 where ignored) in targets' shape. chunk_rows overrides the chunk size (tests use small ones).
    """
    if reduction not in ("mean", "none") or implementation not in IMPLEMENTATIONS:
        raise ValueError(f"unknown reduction {reduction!r} or implementation {implementation!r}")
    shape = targets.shape
    hidden, targets = hidden.reshape(-1, hidden.size(-1)), targets.reshape(-1)
    chunk_rows = chunk_rows or rows_per_chunk(hidden.size(0), weight.size(0))
    wants_gradient = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
    if implementation == "liger" and reduction == "mean":
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

        capped = {"softcap": softcap} if softcap else {}  # liger's kernel caps as c * tanh(z / c) too
        return LigerFusedLinearCrossEntropyLoss(ignore_index=ignore_index, **capped)(weight, hidden, targets)
    if implementation == "full" or (reduction == "none" and wants_gradient):
        logits = soft_cap(F.linear(hidden, weight).float(), softcap)
        losses = F.cross_entropy(logits, targets, ignore_index=ignore_index, reduction=reduction)
        return losses.view(shape) if reduction == "none" else losses
    if wants_gradient:
        return ChunkedLinearCrossEntropy.apply(hidden, weight, targets, ignore_index, chunk_rows, softcap)
    losses = token_losses(hidden, weight, targets, ignore_index, chunk_rows, softcap)
    return losses.view(shape) if reduction == "none" else losses.sum() / (targets != ignore_index).sum()
