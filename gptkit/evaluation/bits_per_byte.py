"""
Bits per byte (bpb): a loss that does not depend on the tokenizer, so that runs of different tokenizers (and
nanochat's) can be set side by side.

    bpb = summed cross-entropy of the target tokens, in nats / (ln 2 x their UTF-8 bytes)

End-of-text (and any padding id past the tokenizer's vocabulary) stands for no text: it counts in neither sum, as
in nanochat's evaluate_bpb. For the byte tokenizer every other token is one byte, so bpb is the mean loss in
nats / ln 2 over the bytes. The functions take torch tensors (training) or numpy arrays (evaluate.py) alike.

The invariant the tests check: on a hand-made batch with multi-byte tokens and end-of-text, bpb equals the sum of
the per-token losses over the text tokens divided by ln 2 and their bytes, computed directly.
"""

import math

import torch


def token_byte_counts(tokenizer, vocab_size):
    """(vocab_size,) int64 tensor: each token's length in UTF-8 bytes, 0 for end-of-text and for the padding ids a
    model's vocabulary may have past the tokenizer's."""
    lengths = tokenizer.token_bytes()
    counts = torch.zeros(vocab_size, dtype=torch.int64)
    counts[: len(lengths)] = torch.tensor(lengths, dtype=torch.int64)
    return counts


def text_loss_and_bytes(losses, target_bytes):
    """(summed loss of the targets that are text, their bytes): losses and target_bytes are per position, alike
    in shape (target_bytes: token_byte_counts indexed by the targets)."""
    is_text = target_bytes > 0
    return (losses * is_text).sum(), target_bytes.sum()


def bits_per_byte(loss_nats, n_bytes):
    """Summed nats over bytes, in bits per byte; None without bytes."""
    return float(loss_nats) / (math.log(2) * float(n_bytes)) if n_bytes else None
