"""
How far a model's context reaches, at its training length and past it: the measurements of evaluate.py.

Every measurement is a function of a model and rows of tokens. token_losses(model, rows, run) gives each row's
loss at each position (the cross-entropy of predicting row[t + 1] from row[: t + 1]); the rest only chooses
rows and reduces those losses:
- loss_by_position: windows of one length from the validation stream ("stream": consecutive windows, as
  training cuts them) or from document starts ("docs": a window starts right after an end-of-text token, in a
  document at least as long as the window), mean loss in log-spaced position bins, standard errors across
  windows (each window is one sample: the tokens of a window are not independent). Every length reads the
  beginnings of the same windows, those of the longest length, so lengths differ in what the model does with
  the tokens past a shorter one, not in the text;
- perplexity: one stretch of the validation stream at each evaluation length, in non-overlapping windows
  (every token sees the tokens before it in its window, as lm-eval's rolling windows) and with a sliding
  window that moves by `stride` and scores only the tokens it has not scored before (each sees at least
  length - stride tokens before it, past the first window); with the mean loss per token, bits per byte
  (gptkit/evaluation/bits_per_byte.py);
- copy_probe: a span of random tokens, a gap of real text, the span again; the loss on the second copy (its
  first token, which nothing announces, left out) against the distance back to the first copy. A model that
  reads that far copies the span almost for free; one that does not pays about ln(vocabulary) per token;
- passkey: the standard pass-key prompt (filler sentences, "The pass key is N" at a depth, the question at
  the end); greedy accuracy, i.e. whether the model's top prediction is each token of the key in turn.
Under torchrun each process computes whole batches (batch k on process k mod world size) and all processes
gather every batch's result in order, so the numbers do not depend on the number of processes.

Invariant (tests/gptkit/evaluation/test_long_context.py): token_losses equals F.cross_entropy of the model's logits over
the same rows; "docs" windows start right after an end-of-text token and hold no other; the probe's and the
pass-key's rows are what they say (tested on their tokens).
"""

import math

import numpy as np
import torch
from tqdm import tqdm

from gptkit.data.retrieval_documents import query_prefix, random_key, random_value, record_line, record_prefix
from gptkit.data.shards import find_shards, read_shard
from gptkit.distributed import all_gather_objects
from gptkit.errors import UserError
from gptkit.evaluation.bits_per_byte import bits_per_byte, text_loss_and_bytes

WINDOW_SOURCES = ("stream", "docs")
PASSKEY_DEPTHS = (0.0, 0.25, 0.5, 0.75, 1.0)  # where in the filler the key is stated: 0 first, 1 last
PASSKEY_INTRO = (
    "There is an important piece of information hidden inside a lot of irrelevant text. Find it and memorize "
    "it. I will quiz you about the important information there."
)
PASSKEY_FILLER = " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
PASSKEY_NEEDLE = " The pass key is {key}. Remember it. {key} is the pass key."
PASSKEY_QUESTION = " What is the pass key? The pass key is"


def validation_tokens(data_dir):
    """(every token of a data folder's validation shards, in order; the shards' tokenizer name)."""
    shards, names = zip(*(read_shard(path) for path in find_shards(data_dir, "val")))
    if len(set(names)) > 1:
        raise UserError(f"the validation shards of {data_dir} were made with different tokenizers: {sorted(names)}")
    return np.concatenate(shards), names[0]


def rows_at(tokens, starts, width):
    """(len(starts), width) int64 array: tokens[s : s + width] for each start s."""
    return np.stack([tokens[s : s + width] for s in starts]).astype(np.int64)


def document_starts(tokens, eot_token, length):
    """Offsets right after an end-of-text token whose document holds at least length + 1 tokens before the next
    end-of-text token (or the end of the stream)."""
    eot = np.flatnonzero(tokens == eot_token)
    starts, ends = eot + 1, np.append(eot[1:], len(tokens))
    return starts[ends - starts >= length + 1]


def choose_windows(tokens, source, length, count, eot_token, longest=None):
    """(rows of length + 1 tokens, how many windows the source holds): the beginnings of the first `count`
    windows of `longest` tokens (default: length)."""
    longest = longest or length
    if source == "docs":
        starts = document_starts(tokens, eot_token, longest)
        if len(starts) == 0:
            raise UserError(
                f"no document of the validation split holds {longest + 1} tokens: use --windows_from stream, or "
                "shorter --lengths"
            )
    else:
        starts = np.arange((len(tokens) - 1) // longest) * longest
    return rows_at(tokens, starts[:count], length + 1), len(starts)


# ----------------------------------------------------------------------------------------------------------
# The model over rows of tokens, shared out over the processes


def map_batches(compute, rows, batch_size, run, desc):
    """compute(batch of rows on the device) -> one result row per row, as a numpy array; this process computes
    batches rank, rank + world_size, ... and every process returns all of them in order."""
    starts = range(0, len(rows), batch_size)
    if not starts:
        return np.zeros((0, rows.shape[1] - 1))
    mine = [start for i, start in enumerate(starts) if i % run.world_size == run.rank]
    results = {}
    with torch.no_grad():
        for start in tqdm(mine, desc=desc, leave=False, disable=None if run.is_master else True):
            batch = torch.from_numpy(rows[start : start + batch_size]).to(run.device)
            with run.autocast():
                results[start] = compute(batch).cpu().numpy()
    gathered = {start: r for part in all_gather_objects(results, run.world_size) for start, r in part.items()}
    return np.concatenate([gathered[start] for start in starts])


def token_losses(model, rows, run, batch_size, desc="losses"):
    """(len(rows), width - 1) float64 array: the loss of predicting rows[:, t + 1] at each position t."""

    def compute(batch):
        _, losses = model(batch[:, :-1], batch[:, 1:], reduction="none")  # the chunked loss: no logits kept
        return losses.double()

    return map_batches(compute, rows, batch_size, run, desc)


def greedy_tokens(model, rows, run, desc="greedy"):
    """(len(rows), width - 1) array of the model's top prediction at each position (one row per forward pass:
    this needs the logits of every position)."""
    return map_batches(lambda batch: model(batch[:, :-1])[0].argmax(dim=-1), rows, 1, run, desc)


def mean_and_se(values):
    """{"loss": mean, "se": standard error of the mean (None for one value)} of per-window values."""
    n = len(values)
    se = float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else None
    return {"loss": float(np.mean(values)), "se": se}


# ----------------------------------------------------------------------------------------------------------
# Loss by position


def position_bins(length, original_length, per_octave=2):
    """Edges of log-spaced bins over positions 0 ... length - 1 (0, 1, 2, 3, 4, 6, 8, 11, 16, ...), with the
    original training length an edge so that no bin straddles it."""
    edges = {0, length}
    if original_length < length:
        edges.add(original_length)
    k = 0
    while (edge := round(2 ** (k / per_octave))) < length:
        edges.add(edge)
        k += 1
    return sorted(edges)


def loss_by_position(
    model, tokens, run, *, length, windows, source, eot_token, original_length, batch_size, longest=None
):
    """The mean loss of windows of `length` tokens (the beginnings of windows of `longest`, default: length),
    overall and in position bins, with standard errors."""
    rows, available = choose_windows(tokens, source, length, windows, eot_token, longest)
    losses = token_losses(model, rows, run, batch_size, desc=f"positions to {length}")
    edges = position_bins(length, original_length)
    bins = [
        {"start": start, "end": end, **mean_and_se(losses[:, start:end].mean(axis=1))}
        for start, end in zip(edges, edges[1:])
    ]
    overall = mean_and_se(losses.mean(axis=1))
    return {"length": length, "windows": len(rows), "available": available, **overall, "bins": bins}


# ----------------------------------------------------------------------------------------------------------
# Perplexity against the evaluation length


def scored(losses, target_bytes):
    """Mean loss per token (nats), perplexity and bits per byte of the scored targets."""
    tokens = int(losses.size)
    loss = float(losses.mean()) if tokens else None
    bpb = bits_per_byte(*text_loss_and_bytes(losses, target_bytes)) if tokens else None
    return {"tokens": tokens, "loss": loss, "perplexity": math.exp(loss) if tokens else None, "bpb": bpb}


def fresh_targets(values, length, stride):
    """Of the sliding windows' per-target values, those scored for the first time: the first window's all, then
    the last stride of each later window."""
    return np.concatenate([values[0], values[1:, length - stride :].ravel()]) if len(values) else values


def perplexity(model, segment, run, *, length, stride, batch_size, token_bytes):
    """Perplexity (and bits per byte: token_bytes holds each token id's UTF-8 bytes) of one stretch of tokens at
    one evaluation length: non-overlapping windows and a sliding one."""
    targets = len(segment) - 1
    starts = np.arange(targets // length) * length
    rows = rows_at(segment, starts, length + 1)
    losses = token_losses(model, rows, run, batch_size, f"perplexity {length}")
    non_overlapping = {"windows": len(starts), **scored(losses, token_bytes[rows[:, 1:]])}

    starts = np.arange(0, targets - length + 1, stride)
    rows = rows_at(segment, starts, length + 1)
    losses = token_losses(model, rows, run, batch_size, f"sliding {length}")
    fresh = fresh_targets(losses, length, stride), fresh_targets(token_bytes[rows[:, 1:]], length, stride)
    sliding = {"stride": stride, "windows": len(starts), **scored(*fresh)}
    return {"length": length, "non_overlapping": non_overlapping, "sliding": sliding}


# ----------------------------------------------------------------------------------------------------------
# Probes


def random_tokens(rng, count, vocab_size, eot_token):
    """count tokens drawn uniformly from the tokenizer's vocabulary without end-of-text."""
    drawn = rng.integers(0, vocab_size - 1, count)
    return drawn + (drawn >= eot_token)


def probe_gaps(max_length, span):
    """Gaps between the two copies: 0, then 1x and 1.5x powers of two from span up, and the longest that fits
    (the rows are 2 * span + gap tokens, the model reads one fewer)."""
    longest = max_length + 1 - 2 * span
    powers = {g for k in range(40) for g in (2**k, 3 * 2**k // 2) if span <= g < longest}
    return sorted({0, longest} | powers) if longest >= 0 else []


def copy_probe_rows(tokens, gap, span, trials, vocab_size, eot_token, seed):
    """(trials, 2 * span + gap) rows: random span | `gap` tokens of validation text | the same span. Drawn
    from (seed, gap), so every scaling method reads the same rows."""
    rng = np.random.default_rng([seed, gap])
    rows = []
    for _ in range(trials):
        copied = random_tokens(rng, span, vocab_size, eot_token)
        offset = int(rng.integers(0, len(tokens) - gap))
        rows.append(np.concatenate([copied, tokens[offset : offset + gap], copied]))
    return np.stack(rows).astype(np.int64)


def copy_probe(model, tokens, run, *, max_length, span, trials, vocab_size, eot_token, seed, batch_size):
    """The loss on the second copy of a random span, by the distance back to the first copy (span + gap)."""
    points = []
    for gap in probe_gaps(max_length, span):
        rows = copy_probe_rows(tokens, gap, span, trials, vocab_size, eot_token, seed)
        losses = token_losses(model, rows, run, batch_size, desc=f"copy probe, gap {gap}")
        second = span + gap  # the loss at column t predicts row[t + 1]: the copy's tokens 1 ... span - 1
        copy = mean_and_se(losses[:, second : second + span - 1].mean(axis=1))
        first = mean_and_se(losses[:, : span - 1].mean(axis=1))  # the same tokens, unseen: about ln(vocab)
        point = {"gap": gap, "distance": span + gap, "length": 2 * span + gap - 1, **copy}
        points.append({**point, "first_copy_loss": first["loss"]})
    return {"span": span, "trials": trials, "points": points}


def retrieval_core(tokenizer, rng, target):
    """(tokens from the line that sets a key to the query's value, where the set value starts in them, the value's
    tokens, the distance between the two values' starts): the key set, whole lines setting other keys as long as
    the distance stays within target, then the key asked for and its value. A value's leading token that is only
    a space (bytes) goes with the text before it: only the digits are scored."""
    key, value = random_key(rng), random_value(rng)
    value_tokens = tokenizer.encode(f" {value}")
    lead = value_tokens[:1] if tokenizer.decode(value_tokens[:1]).strip() == "" else []
    value_tokens = value_tokens[len(lead) :]
    record = tokenizer.encode(record_prefix(key)) + lead
    query = tokenizer.encode(query_prefix(key)) + lead
    newline = tokenizer.encode("\n")
    between = value_tokens + newline
    while True:
        line = tokenizer.encode(record_line(other_key(rng, key), random_value(rng)))
        if len(between) + len(line) + len(query) > target:
            break
        between += line
    core = record + between + query + value_tokens
    return core, len(record), value_tokens, len(between) + len(query)


def other_key(rng, key):
    drawn = random_key(rng)
    return drawn if drawn != key else other_key(rng, key)


def retrieval_rows(tokenizer, target, trials, seed):
    """(rows, where each row's set value starts, each row's value tokens, the mean distance): `trials` cores
    (retrieval_core), each after whole lines setting other keys and cut to one width, at least one line longer
    than the longest core, so that every row starts mid-list as a training window would. Drawn from (seed,
    target), so every scaling method reads the same rows."""
    rng = np.random.default_rng([seed, target])
    cores = [retrieval_core(tokenizer, rng, target) for _ in range(trials)]
    width = max(len(core) for core, *_ in cores) + len(tokenizer.encode(record_line("bbbb", "0000")))
    rows, starts = [], []
    for core, start, _, _ in cores:
        before = []
        while len(before) < width - len(core):
            before += tokenizer.encode(record_line(random_key(rng), random_value(rng)))
        cut = before[len(before) - (width - len(core)) :]
        rows.append(cut + core)
        starts.append(len(cut) + start)
    distances = [distance for *_, distance in cores]
    return np.array(rows, dtype=np.int64), starts, [value for _, _, value, _ in cores], float(np.mean(distances))


def retrieval_targets(tokenizer, max_length, original_length, seed):
    """The distances asked for: 1x and 1.5x powers of two from 16 up, and the longest whose rows the model reads
    within the training length and within max_length."""
    targets = {g for k in range(4, 40) for g in (2**k, 3 * 2**k // 2) if g < max_length}
    for limit in (original_length, max_length):
        target = limit
        while target > 0:
            excess = retrieval_rows(tokenizer, target, 1, seed)[0].shape[1] - 1 - limit
            if excess <= 0:
                targets.add(target)
                break
            target -= excess
    return sorted(targets)


def retrieval_probe(model, tokenizer, run, *, max_length, original_length, trials, seed, batch_size):
    """Key-value retrieval by distance (the task of gptkit/data/retrieval_documents.py): the share of rows whose
    value the model's greedy predictions give token for token, and the loss per value token, against the loss on
    the same value where it is set (unpredictable: a model that cannot read back pays that)."""
    points = []
    for target in retrieval_targets(tokenizer, max_length, original_length, seed):
        rows, starts, values, distance = retrieval_rows(tokenizer, target, trials, seed)
        if rows.shape[1] - 1 > max_length:
            continue
        losses = token_losses(model, rows, run, batch_size, desc=f"retrieval, distance {distance:.0f}")
        predicted = greedy_tokens(model, rows, run, desc=f"retrieval greedy, distance {distance:.0f}")
        end = rows.shape[1] - 1  # the loss at column t predicts row[t + 1]: the value ends the row
        right = [float((predicted[i, end - len(v) :] == v).all()) for i, v in enumerate(values)]
        asked = [losses[i, end - len(v) :].mean() for i, v in enumerate(values)]
        first = [losses[i, s - 1 : s - 1 + len(v)].mean() for i, (s, v) in enumerate(zip(starts, values))]
        accuracy, loss = mean_and_se(right), mean_and_se(asked)
        point = {"distance": distance, "length": end, "accuracy": accuracy["loss"], "accuracy_se": accuracy["se"]}
        points.append({**point, "loss": loss["loss"], "loss_se": loss["se"], "first_loss": mean_and_se(first)["loss"]})
    return {"trials": trials, "points": unique_distances(points)}


def unique_distances(points):
    """The first point of each distance (two targets can give the same distance: the bytes' lines are 16 long)."""
    seen = {}
    for point in points:
        seen.setdefault(round(point["distance"], 1), point)
    return list(seen.values())


def passkey_row(tokenizer, length, depth, key):
    """(row of length + 1 tokens: the prompt, then the key; the number of the key's tokens), or None when the
    prompt alone is longer than length."""
    intro, filler = tokenizer.encode(PASSKEY_INTRO), tokenizer.encode(PASSKEY_FILLER)
    needle, question = tokenizer.encode(PASSKEY_NEEDLE.format(key=key)), tokenizer.encode(PASSKEY_QUESTION)
    answer = tokenizer.encode(f" {key}")
    filler_count = length + 1 - len(intro) - len(needle) - len(question) - len(answer)
    if filler_count < 0:
        return None
    fill = (filler * (filler_count // len(filler) + 1))[:filler_count]
    before = round(depth * filler_count)
    return intro + fill[:before] + needle + fill[before:] + question + answer, len(answer)


def passkey(model, tokenizer, run, *, lengths, trials, seed):
    """Greedy pass-key accuracy at each length and depth (keys of five digits, drawn from (seed, length))."""
    points = []
    for length in lengths:
        rng = np.random.default_rng([seed, length])
        for depth in PASSKEY_DEPTHS:
            made = [passkey_row(tokenizer, length, depth, int(rng.integers(10000, 100000))) for _ in range(trials)]
            if made[0] is None:
                continue
            rows = np.array([row for row, _ in made], dtype=np.int64)
            predicted = greedy_tokens(model, rows, run, desc=f"pass key {length}, depth {depth}")
            right = [
                bool((predicted[i, length - n :] == rows[i, length + 1 - n :]).all()) for i, (_, n) in enumerate(made)
            ]
            points.append({"length": length, "depth": depth, "trials": trials, "accuracy": sum(right) / trials})
    return {"trials": trials, "points": points}
