"""gptkit/evaluation/bits_per_byte.py against a direct computation on hand-made batches."""

import math

import numpy as np
import pytest
import torch

from conftest import tiny_bpe
from gptkit.data.tokenizer import ByteTokenizer
from gptkit.evaluation.bits_per_byte import bits_per_byte, text_loss_and_bytes, token_byte_counts


def test_bits_per_byte_of_a_batch_with_multi_byte_and_end_of_text_tokens():
    tokenizer = tiny_bpe()
    eot = tokenizer.eot_token
    texts = ["def f(x): return x", "señor", "日本語 🎉"]
    row = [eot, *tokenizer.encode(texts[0]), eot, *tokenizer.encode(texts[1]), *tokenizer.encode(texts[2]), eot]
    row = row if len(row) % 2 == 0 else [eot, *row]
    targets = torch.tensor(row).view(2, -1)  # a batch of two rows
    losses = torch.rand(targets.shape, dtype=torch.float64) * 5
    counts = token_byte_counts(tokenizer, 512)  # a model's vocabulary, padded past the tokenizer's 384
    nats, n_bytes = text_loss_and_bytes(losses, counts[targets])
    # directly: the text tokens' losses over ln 2 and the UTF-8 bytes of the texts they spell
    direct_nats = sum(loss for loss, target in zip(losses.flatten().tolist(), row) if target != eot)
    direct_bytes = sum(len(text.encode()) for text in texts)
    assert any(counts[t] > 1 for t in row) and n_bytes == direct_bytes
    assert bits_per_byte(nats, n_bytes) == pytest.approx(direct_nats / math.log(2) / direct_bytes)
    assert counts[eot] == 0 and counts[400] == 0 and counts[:256].tolist() == [1] * 256


def test_for_the_byte_tokenizer_it_is_the_loss_over_ln2_per_byte():
    tokenizer = ByteTokenizer()
    targets = np.array(tokenizer.encode("añb") + [256])  # ñ is two bytes, end-of-text counts in neither sum
    losses = np.array([0.5, 1.0, 2.0, 0.25, 9.0])
    nats, n_bytes = text_loss_and_bytes(losses, token_byte_counts(tokenizer, 257).numpy()[targets])
    assert n_bytes == 4
    assert bits_per_byte(nats, n_bytes) == pytest.approx((0.5 + 1.0 + 2.0 + 0.25) / 4 / math.log(2))


def test_no_bytes_is_no_figure():
    assert bits_per_byte(0.0, 0) is None
