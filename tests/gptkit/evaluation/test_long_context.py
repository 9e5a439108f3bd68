"""gptkit/evaluation/long_context.py: each measurement against a direct computation with the model's logits, and the
rows it reads (windows, probe rows, pass-key prompts) against what they should hold."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_bpe, tiny_gpt
from gptkit.data.tokenizer import get_tokenizer
from gptkit.distributed import Run
from gptkit.errors import UserError
from gptkit.evaluation.long_context import (
    PASSKEY_DEPTHS,
    PASSKEY_INTRO,
    PASSKEY_NEEDLE,
    PASSKEY_QUESTION,
    choose_windows,
    copy_probe,
    copy_probe_rows,
    document_starts,
    loss_by_position,
    passkey_row,
    perplexity,
    probe_gaps,
    retrieval_probe,
    retrieval_rows,
    retrieval_targets,
    token_losses,
)

EOT = 100
SHAPE = dict(block_size=16, n_kv_head=2, pos_emb="rope")  # a RoPE model that reads 16 tokens


def stream(length=2000, seed=0):
    """Tokens 0 ... 99 with an end-of-text token (100) every now and then, as shards hold documents."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 100, length)
    tokens[rng.random(length) < 0.02] = EOT
    return tokens


def direct_losses(model, rows):
    """Per-position cross-entropy from the full logits, one row at a time."""
    losses = []
    with torch.no_grad():
        for row in torch.as_tensor(np.asarray(rows, dtype=np.int64)):
            logits, _ = model(row[None, :-1])
            losses.append(F.cross_entropy(logits[0], row[1:], reduction="none").numpy())
    return np.stack(losses)


def test_token_losses_equal_cross_entropy_of_the_logits_in_uneven_batches():
    model, rows = tiny_gpt(**SHAPE), np.stack([stream(41, seed)[:41] for seed in range(7)]).astype(np.int64)
    losses = token_losses(model, rows, Run(), batch_size=3)  # batches of 3, 3, 1; 40 positions, past block 16
    assert losses.shape == (7, 40)
    assert np.allclose(losses, direct_losses(model, rows), atol=1e-5)


def test_loss_by_position_bins_equal_direct_means_and_standard_errors():
    model, tokens = tiny_gpt(**SHAPE), stream()
    result = loss_by_position(
        model, tokens, Run(), length=48, windows=5, source="stream", eot_token=EOT, original_length=16, batch_size=2
    )
    rows = np.stack([tokens[i * 48 : i * 48 + 49] for i in range(5)])  # consecutive windows, as training cuts them
    losses = direct_losses(model, rows)
    assert result["windows"] == 5 and result["available"] == (2000 - 1) // 48
    assert result["loss"] == pytest.approx(losses.mean(), abs=1e-5)
    assert [(b["start"], b["end"]) for b in result["bins"]][:6] == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 6), (6, 8)]
    assert 16 in [b["start"] for b in result["bins"]] and result["bins"][-1]["end"] == 48
    for b in result["bins"]:
        per_window = losses[:, b["start"] : b["end"]].mean(axis=1)
        assert b["loss"] == pytest.approx(per_window.mean(), abs=1e-5)
        assert b["se"] == pytest.approx(per_window.std(ddof=1) / math.sqrt(5), abs=1e-5)


def test_every_length_reads_the_beginnings_of_the_longest_lengths_windows():
    model, tokens = tiny_gpt(**SHAPE), stream()
    for source in ("stream", "docs"):
        long_rows, available = choose_windows(tokens, source, 48, 6, EOT)
        short_rows, short_available = choose_windows(tokens, source, 20, 6, EOT, longest=48)
        assert available == short_available and np.array_equal(short_rows, long_rows[:, :21])
        common = dict(windows=6, source=source, eot_token=EOT, original_length=16, batch_size=4)
        short = loss_by_position(model, tokens, Run(), length=20, longest=48, **common)
        direct = direct_losses(model, long_rows)[:, :20]  # causal: a longer window's first 20 losses
        assert short["loss"] == pytest.approx(direct.mean(), abs=1e-5)


def test_document_windows_start_right_after_end_of_text_in_documents_long_enough():
    tokens = stream()
    eot = np.flatnonzero(tokens == EOT)
    long_enough = [e + 1 for e, nxt in zip(eot, [*eot[1:], len(tokens)]) if nxt - (e + 1) >= 31]  # by hand
    assert list(document_starts(tokens, EOT, 30)) == long_enough
    rows, available = choose_windows(tokens, "docs", 30, 1000, EOT)
    assert available == len(long_enough) == len(rows) > 3  # fewer than asked: all that qualify
    for start, row in zip(long_enough, rows):
        assert tokens[start - 1] == EOT and EOT not in row and list(row) == list(tokens[start : start + 31])


def test_no_document_long_enough_is_one_line_naming_the_way_out():
    tokens = stream()
    with pytest.raises(UserError, match="no document of the validation split holds .* use --windows_from stream"):
        choose_windows(tokens, "docs", 30, 4, EOT, longest=len(tokens))


def test_perplexity_non_overlapping_and_sliding_score_what_they_say():
    model, segment = tiny_gpt(**SHAPE), stream(193)  # 192 targets
    token_bytes = np.append(np.arange(100) % 3 + 1, 0)  # tokens of 1-3 bytes; end-of-text none
    result = perplexity(model, segment, Run(), length=48, stride=16, batch_size=4, token_bytes=token_bytes)
    windows = np.stack([segment[i * 48 : i * 48 + 49] for i in range(4)])
    expected = direct_losses(model, windows).mean()
    assert result["non_overlapping"]["tokens"] == 192
    assert result["non_overlapping"]["perplexity"] == pytest.approx(math.exp(expected), rel=1e-5)
    # bits per byte: the text tokens' summed loss over ln 2 and their bytes, end-of-text in neither
    targets, losses = segment[1:], direct_losses(model, windows).ravel()
    text = targets != EOT
    bpb = losses[text].sum() / math.log(2) / token_bytes[targets[text]].sum()
    assert result["non_overlapping"]["bpb"] == pytest.approx(bpb, rel=1e-5)
    # sliding by 16: the first window scores its 48 targets, each later one the 16 targets it adds
    sliding = [segment[s : s + 49] for s in range(0, 192 - 48 + 1, 16)]
    losses = direct_losses(model, np.stack(sliding))
    fresh = np.concatenate([losses[0], losses[1:, 32:].ravel()])
    assert result["sliding"]["windows"] == 10 and result["sliding"]["tokens"] == 192 == fresh.size
    assert result["sliding"]["loss"] == pytest.approx(fresh.mean(), abs=1e-5)
    same = perplexity(model, segment, Run(), length=48, stride=48, batch_size=4, token_bytes=token_bytes)
    assert same["sliding"]["loss"] == pytest.approx(same["non_overlapping"]["loss"], abs=1e-9)
    assert same["sliding"]["bpb"] == pytest.approx(same["non_overlapping"]["bpb"], abs=1e-9)


def test_copy_probe_rows_repeat_a_random_span_after_real_text():
    tokens = stream()
    assert probe_gaps(64, 8) == [0, 8, 12, 16, 24, 32, 48, 49]
    rows = copy_probe_rows(tokens, gap=24, span=8, trials=5, vocab_size=101, eot_token=EOT, seed=3)
    assert rows.shape == (5, 40)
    assert (rows[:, :8] == rows[:, 32:]).all() and not (rows[:, :8] == EOT).any()
    text = "".join(map(chr, tokens))
    assert all("".join(map(chr, row[8:32])) in text for row in rows)  # the gap is a stretch of the stream
    assert np.array_equal(rows, copy_probe_rows(tokens, 24, 8, 5, 101, EOT, seed=3))  # the same for every method


def test_copy_probe_loss_is_the_second_copys_loss_without_its_first_token():
    model, tokens = tiny_gpt(**SHAPE), stream()
    result = copy_probe(
        model, tokens, Run(), max_length=40, span=8, trials=3, vocab_size=101, eot_token=EOT, seed=1, batch_size=2
    )
    point = next(p for p in result["points"] if p["gap"] == 12)
    assert point["distance"] == 20 and point["length"] == 27
    losses = direct_losses(model, copy_probe_rows(tokens, 12, 8, 3, 101, EOT, seed=1))
    assert point["loss"] == pytest.approx(losses[:, 20:27].mean(), abs=1e-5)  # predictions of copy tokens 1 ... 7
    assert point["first_copy_loss"] == pytest.approx(losses[:, :7].mean(), abs=1e-5)


@pytest.mark.parametrize("kind,length", [("gpt2", 200), ("trained", 400)])  # its tokens are ~2 bytes: twice as many
def test_passkey_prompt_holds_the_key_at_its_depth_and_ends_with_it(kind, length):
    tokenizer = get_tokenizer("gpt2") if kind == "gpt2" else tiny_bpe()  # the model's own tokenizer
    for depth in PASSKEY_DEPTHS:
        row, answer_tokens = passkey_row(tokenizer, length, depth, 48213)
        assert len(row) == length + 1 and row[-answer_tokens:] == tokenizer.encode(" 48213")
        text = tokenizer.decode(row)
        assert text.startswith(PASSKEY_INTRO) and text.endswith(PASSKEY_QUESTION + " 48213")
        before, after = text[len(PASSKEY_INTRO) : -len(PASSKEY_QUESTION + " 48213")].split(
            PASSKEY_NEEDLE.format(key=48213)
        )
        assert abs(len(before) / (len(before) + len(after)) - depth) < 0.02  # the share of the filler before it
    assert passkey_row(tokenizer, 40, 0.5, 48213) is None  # no room for the prompt


@pytest.mark.parametrize("name", ["bytes", "gpt2"])
def test_retrieval_rows_ask_for_the_key_set_at_the_stated_distance(name):
    tokenizer = get_tokenizer(name)
    rows, starts, values, distance = retrieval_rows(tokenizer, 100, 6, seed=2)
    assert np.array_equal(rows, retrieval_rows(tokenizer, 100, 6, seed=2)[0])  # the same for every method
    distances = []
    for row, start, value in zip(rows.tolist(), starts, values):
        assert row[start : start + len(value)] == value == row[len(row) - len(value) :]
        text = tokenizer.decode(row)
        key = text.rsplit("get ", 1)[1][:4]
        assert text.endswith(f"get {key} = {tokenizer.decode(value).strip()}")
        assert text.count(f"set {key} =") == 1 and tokenizer.decode(row[:start]).endswith(
            f"set {key} =" + " " * (name == "bytes")
        )
        distances.append(len(row) - len(value) - start)
    assert distance == pytest.approx(np.mean(distances)) and max(distances) <= 100
    if name == "bytes":  # 16 bytes a line, a space, then 4 digits
        assert distances == [96] * 6 and all(len(value) == 4 for value in values)


def test_retrieval_targets_include_the_longest_that_fit_the_training_length_and_the_longest():
    tokenizer = get_tokenizer("bytes")
    targets = retrieval_targets(tokenizer, 200, 64, seed=0)
    assert targets[:3] == [16, 24, 32] and 34 in targets and max(targets) <= 200  # 34: the longest within 64
    for limit in (64, 200):
        fitting = [t for t in targets if retrieval_rows(tokenizer, t, 1, 0)[0].shape[1] - 1 <= limit]
        longer = [t for t in targets if t > max(fitting)]
        assert not longer or retrieval_rows(tokenizer, min(longer), 1, 0)[0].shape[1] - 1 > limit
        assert max(fitting) > limit - 32  # within two lines of the limit


class KnowsTheRows(torch.nn.Module):
    """A stand-in model for the rows of retrieval_rows: it predicts every next token right, except a set value's
    digits (uniform: it cannot know them) and the last digit asked for where that digit is odd (one off)."""

    def __init__(self, made):
        super().__init__()
        self.vocab_size, self.logits = 257, {}
        for rows, starts, values, _ in made:
            for row, start, value in zip(rows.tolist(), starts, values):
                logits = 20.0 * F.one_hot(torch.tensor(row[1:]), self.vocab_size).double()
                logits[start - 1 : start - 1 + len(value)] = 0.0
                if value[-1] % 2:
                    logits[-1] = 20.0 * F.one_hot(torch.tensor(value[-1] + 1), self.vocab_size).double()
                self.logits[tuple(row[:-1])] = logits

    def forward(self, idx, targets=None, reduction="mean"):
        logits = torch.stack([self.logits[tuple(row.tolist())] for row in idx])
        if targets is None:
            return logits, None
        return None, F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")


def test_retrieval_probe_scores_the_value_asked_for_and_where_it_was_set():
    tokenizer = get_tokenizer("bytes")
    targets = retrieval_targets(tokenizer, 96, 64, seed=5)
    made = [retrieval_rows(tokenizer, target, 6, 5) for target in targets]
    result = retrieval_probe(KnowsTheRows(made), tokenizer, Run(), max_length=96, original_length=64, trials=6,
                             seed=5, batch_size=4)  # fmt: skip
    first_of_each = list({distance: (rows, values, distance) for rows, _, values, distance in reversed(made)}.values())
    first_of_each.reverse()  # two targets can give one distance (24 bytes: 16); the first target's rows count
    assert [p["distance"] for p in result["points"]] == [d for *_, d in first_of_each] == [16, 32, 48, 64]
    wrong = 20 + math.log(1 + 256 * math.exp(-20))  # the loss of a confident wrong guess
    for point, (rows, values, distance) in zip(result["points"], first_of_each):
        odd = [value[-1] % 2 == 1 for value in values]
        assert point["distance"] == distance and point["length"] == rows.shape[1] - 1
        assert point["accuracy"] == pytest.approx(1 - np.mean(odd))
        assert point["loss"] == pytest.approx(np.mean([wrong / 4 if o else 0.0 for o in odd]), abs=1e-6)
        assert point["first_loss"] == pytest.approx(math.log(257))  # uniform over the vocabulary
