"""
The figures of a study's report, as PNG files beside report.md: loss curves against tokens and against training
FLOPs, validation bits per byte against wall time (runs of different tokenizers side by side), and, from each
run's evaluation, loss by position, perplexity against evaluation length and the retrieval probe. Each function
draws one file from RunFacts (gptkit/study/runs.py) and returns its name, or None when no run has what it draws. A
run's evaluation is evaluate.py's JSON (schema 1); the points each figure draws are read from it here.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402

from gptkit.evaluation.long_context_report import methods_with, position_bins  # noqa: E402
from gptkit.study.runs import curve, elapsed_seconds, seconds_at  # noqa: E402


def grid_text(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def label(run, keys):
    """A run's legend label: the values of the grid keys that vary and its seed, else its name."""
    values = [f"{key}={grid_text(run.grid_values[key])}" for key in keys if key in run.grid_values]
    values += [] if run.seed is None else [f"seed {run.seed}"]
    return ", ".join(values) or run.name


def save(figure, folder, name):
    figure.tight_layout()
    figure.savefig(Path(folder) / name, dpi=110)
    plt.close(figure)
    return name


def loss_curves(runs, folder, name, x_label, scale):
    """Train (thin) and validation (dots) loss of each run against tokens * scale(run)."""
    drawn = [run for run in runs if curve(run.records, "val_loss") or curve(run.records, "loss")]
    if not drawn or any(scale(run) is None for run in drawn):
        return None
    figure, axis = plt.subplots(figsize=(8, 5))
    for run in drawn:
        train = [(tokens * scale(run), loss) for _, tokens, loss in curve(run.records, "loss") if tokens]
        line = axis.plot(*zip(*train), "-", linewidth=0.8, alpha=0.5)[0] if train else None
        val = [(tokens * scale(run), loss) for _, tokens, loss in curve(run.records, "val_loss") if tokens]
        color = line.get_color() if line else None
        if val:
            axis.plot(*zip(*val), "o-", markersize=3, color=color, label=run.name)
    axis.set_xlabel(x_label)
    axis.set_ylabel("loss (thin: train, dots: validation)")
    axis.set_xscale("log")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    return save(figure, folder, name)


def bits_per_byte_curves(runs, folder, name="bpb_vs_time.png"):
    """Validation bits per byte of each run against its training wall time: the measure that does not depend on
    the tokenizer, at equal wall-clock."""
    drawn = [run for run in runs if curve(run.records, "val_bpb")]
    if not drawn:
        return None
    figure, axis = plt.subplots(figsize=(8, 5))
    for run in drawn:
        seconds = elapsed_seconds(run.records)
        timed = [(seconds_at(seconds, step), bpb) for step, _, bpb in curve(run.records, "val_bpb")]
        points = [(at, bpb) for at, bpb in timed if at is not None]
        if points:
            axis.plot(*zip(*points), "o-", markersize=3, label=run.name)
    axis.set_xlabel("training wall time (s)")
    axis.set_ylabel("validation bits per byte")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    return save(figure, folder, name)


def by_block_size(runs):
    """{block_size: [runs]} of the runs that have an evaluation."""
    groups = {}
    for run in runs:
        if run.evaluation:
            groups.setdefault(run.model["block_size"], []).append(run)
    return dict(sorted(groups.items()))


def per_training_length(runs, folder, name, points, scaling, draw, x_label, y_label, x_base=10):
    """One file per training length (name_<length>.png): points(evaluation, scaling) are what a run measured
    ([] where nothing), draw(axis, points, run) draws them, a line per run; the training length is marked."""
    names = []
    for block_size, group in by_block_size(runs).items():
        if not any(points(run.evaluation, scaling) for run in group):
            continue
        figure, axis = plt.subplots(figsize=(8, 5))
        for run in group:
            draw(axis, points(run.evaluation, scaling), run)
        axis.axvline(block_size, color="black", linestyle=":", label=f"training length {block_size}")
        axis.set_xscale("log", base=x_base)
        axis.set_xlabel(x_label)
        axis.set_ylabel(f"{y_label} (rope_scaling {scaling})")
        axis.set_title(f"trained at {block_size} tokens")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
        names.append(save(figure, folder, f"{name}_{block_size}.png"))
    return names


def loss_by_position(runs, folder, keys, scaling="none"):
    """Loss by position (unscaled) with its standard errors, per training length."""

    def draw(axis, bins, run):
        centres = [(b["start"] + 1 + b["end"]) / 2 for b in bins]  # positions counted from 1 on a log axis
        errors = [b["se"] or 0.0 for b in bins]
        axis.errorbar(
            centres, [b["loss"] for b in bins], yerr=errors, fmt="o-", markersize=3, capsize=2, label=label(run, keys)
        )

    return per_training_length(
        runs, folder, "loss_by_position", position_bins, scaling, draw, "position in the window (tokens)", "loss"
    )


def perplexity(runs, folder, keys):
    """One file per training length: perplexity against evaluation length (solid: non-overlapping windows,
    dashed: sliding window), a panel per RoPE scaling."""
    names = []
    for block_size, group in by_block_size(runs).items():
        scalings = list(dict.fromkeys(s for run in group for s in methods_with(run.evaluation, "perplexity")))
        if not scalings:
            continue
        figure, axes = plt.subplots(1, len(scalings), figsize=(4 * len(scalings), 4), squeeze=False, sharey=True)
        for axis, scaling in zip(axes[0], scalings):
            for run in group:
                points = sorted(methods_with(run.evaluation, "perplexity").get(scaling, []), key=lambda p: p["length"])
                lengths = [p["length"] for p in points]
                non_overlapping = [p["non_overlapping"]["perplexity"] for p in points]
                line = axis.plot(lengths, non_overlapping, "o-", markersize=3, label=label(run, keys))[0]
                axis.plot(lengths, [p["sliding"]["perplexity"] for p in points], "--", color=line.get_color())
            axis.axvline(block_size, color="black", linestyle=":")
            axis.set_xscale("log", base=2)
            axis.set_yscale("log")
            axis.set_title(f"rope_scaling {scaling}")
            axis.set_xlabel("evaluation length (tokens)")
            axis.grid(alpha=0.3)
        axes[0][0].set_ylabel("perplexity")
        axes[0][0].legend(fontsize=7)
        names.append(save(figure, folder, f"perplexity_{block_size}.png"))
    return names


def probe_points(evaluation, scaling):
    """The copy probe's points of a method, [] where it has none."""
    probe = methods_with(evaluation, "probe").get(scaling)
    return probe["points"] if probe else []


def retrieval_probe(runs, folder, keys, scaling="none"):
    """The loss on the repeated span against the distance back to its first copy, per training length."""

    def draw(axis, points, run):
        axis.plot(
            [p["distance"] for p in points], [p["loss"] for p in points], "o-", markersize=3, label=label(run, keys)
        )

    return per_training_length(
        runs,
        folder,
        "retrieval_probe",
        probe_points,
        scaling,
        draw,
        "distance back to the first copy (tokens)",
        "loss on the second copy",
        x_base=2,
    )


def retrieval_accuracy(groups, folder):
    """One file per training length: the retrieval probe's accuracy against distance, a line per cell (its mean
    over the seeds, ± its standard error). groups: {block_size: {cell name: {distance: (Estimate, length)}}}."""
    names = []
    for block_size, cells in groups.items():
        figure, axis = plt.subplots(figsize=(8, 5))
        for name, by_distance in cells.items():
            distances = list(by_distance)
            estimates = [by_distance[d][0] for d in distances]
            errors = [e.se or 0.0 for e in estimates]
            axis.errorbar(distances, [e.mean for e in estimates], yerr=errors, fmt="o-", markersize=3, capsize=2,
                          label=name)  # fmt: skip
        axis.axvline(block_size, color="black", linestyle=":", label=f"training length {block_size}")
        axis.set_xscale("log", base=2)
        axis.set_ylim(-0.05, 1.05)
        axis.set_xlabel("distance from the value set to the value asked for (tokens)")
        axis.set_ylabel("retrieval accuracy (greedy, rope_scaling none)")
        axis.set_title(f"trained at {block_size} tokens")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
        names.append(save(figure, folder, f"retrieval_accuracy_{block_size}.png"))
    return names
