"""
The report's Predictions: what the theory printed beside the runs (gptkit/study/rope_theory.py) predicts for
them, beside what they measured, each with a verdict. Cells, not runs: a number is the mean over a cell's
seeds with its standard error (gptkit/study/cells.py).

- Men et al. 2024, retrieval: at each training length L, the cells whose base fails B(m) >= 0 for some m <= L
  (below the bound) retrieve worse at far distances inside L than the cells that pass. Measured: the retrieval
  probe's greedy accuracy (rope_scaling none) at the distances of L / 2 or more whose rows fit in L, failing cells
  one at a time against the mean of the passing ones.
- Men et al. 2024, perplexity: ... while their loss at L (evaluate.py's windows of L tokens) stays within
  TOLERANCE nats of the passing cells' (perplexity "looks normal").
- Liu et al. 2023: a cell's loss turns up at T_extra, its extrapolation limit. Measured: the onset (the first
  position bin past L whose loss exceeds the last bin inside L by more than twice their combined standard error)
  of the cell's mean loss by position; it agrees when the onset's bin reaches within a factor sqrt(2) of T_extra.
- RoPE scaling: each scaling method lowers the loss at the longest evaluated length below rope_scaling none's,
  and raises the loss at L by less than TOLERANCE nats.

Verdicts: with d the measured difference and se its combined standard error, a prediction agrees when the whole
interval d ± 2 se lies where it says, disagrees when none of it does, and is not resolved otherwise (for "A is
lower than B": not resolved when |d| <= 2 se). Liu's onset is judged on position bins instead (above).

The invariant the tests check: on hand-made evaluations each verdict is the one computed by hand.
"""

import math

from gptkit.evaluation.long_context_report import methods_with, position_bins
from gptkit.study import rope_theory
from gptkit.study.cells import difference, estimate, pooled
from gptkit.study.spec import short_text

TOLERANCE = 0.05  # nats per token: a loss within this of another "looks normal" (perplexity within ~5%)
AGREES, DISAGREES, UNRESOLVED = "agrees", "disagrees", "not resolved"


def verdict(measured, se, low=-math.inf, high=math.inf):
    """AGREES when measured ± 2 se lies within (low, high), DISAGREES when it lies wholly outside [low, high],
    UNRESOLVED otherwise (an interval that touches a bound, too) and when no standard error is known."""
    if se is None:
        return UNRESOLVED
    bottom, top = measured - 2 * se, measured + 2 * se
    if low < bottom and top < high:
        return AGREES
    if top < low or bottom > high:
        return DISAGREES
    return UNRESOLVED


# ----------------------------------------------------------------------------------------------------------
# What a run measured


def head_size(model):
    return model["n_embd"] // model["n_head"]


def loss_at(run, scaling, length):
    """(loss, se) of the run's windows of `length` tokens with a scaling method; (None, None) if not measured."""
    positions = methods_with(run.evaluation or {"methods": {}}, "positions").get(scaling, [])
    entry = next((e for e in positions if e["length"] == length), None)
    return (None, None) if entry is None else (entry["loss"], entry["se"])


def far_retrieval(run, length):
    """(mean greedy accuracy of the retrieval probe at distances of length / 2 or more whose rows fit in length,
    its standard error); (None, None) where the probe has no such distance."""
    probe = methods_with(run.evaluation or {"methods": {}}, "retrieval").get("none")
    points = [p for p in probe["points"] if p["distance"] >= length / 2 and p["length"] <= length] if probe else []
    if not points:
        return None, None
    errors = [p["accuracy_se"] for p in points]
    se = None if None in errors else math.sqrt(sum(e * e for e in errors)) / len(points)
    return sum(p["accuracy"] for p in points) / len(points), se


def cell_estimate(cell, measure, *args):
    """The Estimate of measure(run, *args) -> (value, se) over the cell's evaluated runs."""
    measured = [measure(run, *args) for run in cell.runs if run.evaluation]
    return estimate([value for value, _ in measured], [se for _, se in measured]) if measured else None


def cell_bins(cell, scaling="none"):
    """The cell's loss by position: each bin's mean over its runs, with its standard error."""
    per_run = [position_bins(run.evaluation, scaling) for run in cell.runs if run.evaluation]
    per_run = [bins for bins in per_run if bins]
    if not per_run:
        return []
    bins = []
    for index, first in enumerate(per_run[0]):
        e = estimate([bins[index]["loss"] for bins in per_run], [bins[index]["se"] for bins in per_run])
        bins.append({"start": first["start"], "end": first["end"], "loss": e.mean, "se": e.se})
    return bins


def loss_onset(bins, block_size):
    """The start of the first position bin past block_size whose loss exceeds that of the last bin that ends
    within block_size by more than twice their combined standard error; None if none does."""
    inside = [b for b in bins if b["end"] <= block_size]
    if not inside:
        return None
    reference = inside[-1]
    for b in bins:
        error = math.hypot(reference["se"] or 0.0, b["se"] or 0.0)  # None: a single window, no error known
        if b["start"] >= block_size and b["loss"] > reference["loss"] + 2 * error:
            return b["start"]
    return None


# ----------------------------------------------------------------------------------------------------------
# The predictions, one table row each: [prediction, cells, predicted, measured, verdict]


def rope_groups(cells):
    """[(label, block_size, [cells])] of the evaluated RoPE cells that differ only in rope_theta."""
    groups = {}
    for cell in cells:
        model = cell.model
        if model.get("pos_emb") != "rope" or not any(run.evaluation for run in cell.runs):
            continue
        others = tuple((k, v) for k, v in cell.grid_values.items() if k not in ("rope_theta", "block_size"))
        groups.setdefault((model["block_size"], head_size(model), others), []).append(cell)
    labelled = []
    for (block_size, head, others), members in groups.items():
        label = ", ".join([f"L={block_size}", f"head size {head}"] + [f"{k}={text(v)}" for k, v in others])
        labelled.append((label, block_size, members))
    return labelled


def text(value):
    return short_text(value) if isinstance(value, float) else str(value)


def theta_of(cell):
    return text(cell.model["rope_theta"])


def compared(first, second, form):
    """'a vs b: difference d ± se' and (d, se)."""
    d, se = difference(first, second)
    error = "" if se is None else f" ± {se:{form}}"
    return f"{first.text(form)} vs {second.text(form)}: difference {d:+{form}}{error}", d, se


def men_rows(cells):
    rows = []
    for label, block_size, members in rope_groups(cells):
        passes = {c.name: rope_theory.passes(c.model["rope_theta"], head_size(c.model), block_size) for c in members}
        passing = [c for c in members if passes[c.name]]
        failing = [c for c in members if not passes[c.name]]
        if not passing or not failing:
            continue
        names = ", ".join(theta_of(c) for c in passing)
        for cell in failing:
            who = f"{label}: theta {theta_of(cell)} (fails) vs {names} (pass)"
            far = [cell_estimate(c, far_retrieval, block_size) for c in [cell, *passing]]
            row = ["Men: far retrieval inside L lost below the bound", who, "lower accuracy"]
            if None in far:
                rows.append(row + ["not measured", "—"])
            else:
                measured, d, se = compared(far[0], pooled(far[1:]), ".3f")
                rows.append(row + [measured, verdict(d, se, high=0.0)])
            losses = [cell_estimate(c, loss_at, "none", block_size) for c in [cell, *passing]]
            if None not in losses:
                measured, d, se = compared(losses[0], pooled(losses[1:]), ".4f")
                predicted = f"loss at L within {TOLERANCE} nats"
                row = ["Men: perplexity looks normal below the bound", who, predicted, measured]
                rows.append(row + [verdict(d, se, -TOLERANCE, TOLERANCE)])
    return rows


def liu_rows(cells):
    rows = []
    for _, block_size, members in rope_groups(cells):
        for cell in members:
            limit = rope_theory.extrapolation_limit(cell.model["rope_theta"], head_size(cell.model), block_size)
            bins = cell_bins(cell)
            if limit is None or not bins:
                continue
            onset = loss_onset(bins, block_size)
            low, high = limit / math.sqrt(2), limit * math.sqrt(2)
            predicted = f"loss turns up at {limit:.0f} tokens ({limit / block_size:.2f}x L)"
            if onset is None:
                measured = f"no onset up to {bins[-1]['end']} tokens"
                result = DISAGREES if bins[-1]["end"] > high else UNRESOLVED
            else:
                end = next(b["end"] for b in bins if b["start"] == onset)
                measured = f"onset at {onset} tokens (bin {onset}-{end - 1})"
                result = AGREES if onset < high and end > low else DISAGREES
            rows.append(["Liu: onset of the loss past L", cell.name, predicted, measured, result])
    return rows


def scaling_rows(cells):
    rows = []
    for _, block_size, members in rope_groups(cells):
        for cell in members:
            evaluation = next(run.evaluation for run in cell.runs if run.evaluation)
            longest = max(evaluation["lengths"])
            for scaling in [name for name in methods_with(evaluation, "positions") if name != "none"]:
                for length, prediction, region in (
                    (longest, f"lower loss at {longest / block_size:g}x L", {"high": 0.0}),
                    (block_size, f"loss at L up by < {TOLERANCE} nats", {"high": TOLERANCE}),
                ):
                    scaled = cell_estimate(cell, loss_at, scaling, length)
                    plain = cell_estimate(cell, loss_at, "none", length)
                    if scaled is None or plain is None:
                        continue
                    measured, d, se = compared(scaled, plain, ".4f")
                    row = [f"Scaling ({scaling}) vs none", cell.name, prediction, measured]
                    rows.append(row + [verdict(d, se, **region)])
    return rows


def prediction_rows(cells):
    """[prediction, cells, predicted, measured, verdict] of every prediction that the cells can test."""
    return men_rows(cells) + liu_rows(cells) + scaling_rows(cells)
