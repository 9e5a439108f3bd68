"""
evaluate.py's result (the dict described in evaluate.py's docstring, schema 1) as a console table, a JSON file
and PNG plots. Each writer reads the result only, so a study report can redraw or tabulate a saved JSON file; the
views of it that both need (methods_with, position_bins, passkey_by_length) are here, beside the writers.

    positions.png    loss by position, one panel per RoPE scaling method, a line per evaluation length
    perplexity.png   perplexity against the evaluation length, a line per method (non-overlapping, sliding)
    probe.png        the copy probe's loss by distance and pass-key accuracy
Every plot marks the training length (and the original length of a model trained past it).
"""

import json
from pathlib import Path

SCHEMA = 1  # the result's layout; a reader of another layout refuses it (a study's cache treats it as a miss)


def format_loss(entry):
    se = f" ± {entry['se']:.3f}" if entry.get("se") is not None else ""
    return f"{entry['loss']:.3f}{se}" if entry.get("loss") is not None else "-"


def method_label(method):
    rope = method["rope"]
    return method["name"] if rope["rope_scaling"] == "none" else f"{method['name']} x{rope['rope_scaling_factor']:g}"


def table_rows(title, header, rows):
    """Lines of a left-aligned table: title, header, then rows (lists of strings)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = [title] + ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) for row in [header] + rows]
    return "\n".join(lines)


def console_table(result):
    """The result as plain text: losses by length, perplexities, the probes."""
    model, data, methods = result["model"], result["data"], list(result["methods"].values())
    lengths = result["lengths"]
    trained = f"block_size {model['block_size']}" + (
        f", original length {model['original_length']}" if model["original_length"] != model["block_size"] else ""
    )
    parts = [
        f"{model['source']} ({model['pos_emb']} positions, {trained}); {data['validation_tokens']:,} validation "
        f"tokens of {data['data_dir']}"
    ]
    with_positions = [m for m in methods if m["positions"]]
    if with_positions:
        counts = ", ".join(f"{p['windows']} of {p['available']}" for p in with_positions[0]["positions"])
        rows = [[method_label(m)] + [format_loss(p) for p in m["positions"]] for m in with_positions]
        header = ["mean loss"] + [f"length {n}" for n in lengths]
        parts.append(table_rows(f"loss by length (windows from {data['windows_from']}: {counts})", header, rows))
    with_perplexity = [m for m in methods if m["perplexity"]]
    if with_perplexity:
        stride = ", ".join(str(p["sliding"]["stride"]) for p in with_perplexity[0]["perplexity"])
        for key, title, form in (("perplexity", "perplexity", ".2f"), ("bpb", "bits per byte", ".4f")):
            rows = []
            for m in with_perplexity:
                for way in ("non_overlapping", "sliding"):
                    values = [p[way].get(key) for p in m["perplexity"]]
                    rows.append([method_label(m), way] + [format(v, form) if v is not None else "-" for v in values])
            header = [key, "windows"] + [str(n) for n in lengths]
            parts.append(table_rows(f"{title} by evaluation length (sliding strides {stride})", header, rows))
    with_probe = [m for m in methods if m["probe"]]
    if with_probe:
        probe = with_probe[0]["probe"]
        distances = [p["distance"] for p in probe["points"]]
        rows = [[method_label(m)] + [f"{p['loss']:.2f}" for p in m["probe"]["points"]] for m in with_probe]
        title = (
            f"copy probe: loss on the second copy of {probe['span']} random tokens by distance "
            f"({probe['trials']} trials; unseen, the first copy: {probe['points'][0]['first_copy_loss']:.2f})"
        )
        parts.append(table_rows(title, ["distance"] + distances, rows))
    with_retrieval = methods_with(result, "retrieval")
    if with_retrieval:
        first = next(iter(with_retrieval.values()))
        distances = [f"{p['distance']:.0f}" for p in first["points"]]
        rows = [
            [method_label(result["methods"][name])] + [f"{p['accuracy']:.2f}" for p in retrieval["points"]]
            for name, retrieval in with_retrieval.items()
        ]
        title = f"key-value retrieval: greedy accuracy of the value by distance ({first['trials']} keys each)"
        parts.append(table_rows(title, ["distance"] + distances, rows))
    with_passkey = [m for m in methods if m["passkey"] and m["passkey"]["points"]]
    if with_passkey:
        rows = [
            [method_label(m)] + [f"{a:.2f}" for a in passkey_by_length(m["passkey"]).values()] for m in with_passkey
        ]
        header = ["pass key"] + [str(n) for n in passkey_by_length(with_passkey[0]["passkey"])]
        parts.append(table_rows("pass-key greedy accuracy by length (mean over depths)", header, rows))
    return "\n\n".join(parts)


def passkey_by_length(passkey):
    """{length: accuracy averaged over the depths}."""
    by_length = {}
    for point in passkey["points"]:
        by_length.setdefault(point["length"], []).append(point["accuracy"])
    return {length: sum(values) / len(values) for length, values in by_length.items()}


def methods_with(result, part):
    """{method name: its measurement} of the methods that measured part (positions, perplexity, probe, retrieval
    or passkey), in the result's order."""
    return {name: method[part] for name, method in result["methods"].items() if method.get(part)}


def position_bins(result, name):
    """Method name's loss-by-position bins out to its longest length (the shorter lengths read the beginnings of
    the same windows), or [] where it measured none."""
    positions = methods_with(result, "positions").get(name)
    return max(positions, key=lambda entry: entry["length"])["bins"] if positions else []


def write_json(result, path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=1) + "\n")
    return path


# ----------------------------------------------------------------------------------------------------------
# Plots


def mark_training_length(axis, model):
    axis.axvline(model["block_size"], color="gray", linestyle="--", linewidth=1, label="block_size (training length)")
    if model["original_length"] != model["block_size"]:
        axis.axvline(model["original_length"], color="gray", linestyle=":", linewidth=1, label="original length")


def plot_positions(plt, result, path):
    methods = [m for m in result["methods"].values() if m["positions"]]
    figure, axes = plt.subplots(1, len(methods), figsize=(4.5 * len(methods), 4), sharey=True, squeeze=False)
    for axis, method in zip(axes[0], methods):
        for entry in method["positions"]:
            middles = [(b["start"] + 1 + b["end"]) / 2 for b in entry["bins"]]  # positions counted from 1
            axis.plot(
                middles, [b["loss"] for b in entry["bins"]], "o-", markersize=3, label=f"length {entry['length']}"
            )
        mark_training_length(axis, result["model"])
        axis.set(xscale="log", xlabel="position (tokens)", title=method_label(method))
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("mean loss in the bin")
    axes[0][-1].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_perplexity(plt, result, path):
    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for method in (m for m in result["methods"].values() if m["perplexity"]):
        lengths = [p["length"] for p in method["perplexity"]]
        line = axis.plot(lengths, [p["non_overlapping"]["perplexity"] for p in method["perplexity"]], "o-")[0]
        line.set_label(f"{method_label(method)}, non-overlapping")
        sliding = [p["sliding"]["perplexity"] for p in method["perplexity"]]
        axis.plot(lengths, sliding, "s--", color=line.get_color(), label=f"{method_label(method)}, sliding")
    mark_training_length(axis, result["model"])
    axis.set(xscale="log", yscale="log", xlabel="evaluation length (tokens)", ylabel="perplexity")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_probes(plt, result, path):
    methods = list(result["methods"].values())
    with_passkey = [m for m in methods if m["passkey"] and m["passkey"]["points"]]
    figure, axes = plt.subplots(1, 1 + bool(with_passkey), figsize=(6.5 * (1 + bool(with_passkey)), 4.5), squeeze=False)
    copy_axis = axes[0][0]
    for method in (m for m in methods if m["probe"]):
        points = method["probe"]["points"]
        errors = [p["se"] or 0.0 for p in points]
        distances, losses = [p["distance"] for p in points], [p["loss"] for p in points]
        copy_axis.errorbar(
            distances, losses, yerr=errors, fmt="o-", markersize=3, capsize=2, label=method_label(method)
        )
    unseen = [p["first_copy_loss"] for m in methods if m["probe"] for p in m["probe"]["points"]]
    if unseen:
        copy_axis.axhline(sum(unseen) / len(unseen), color="black", linewidth=1, label="first copy (unseen)")
    mark_training_length(copy_axis, result["model"])
    copy_axis.set(xscale="log", xlabel="distance back to the first copy (tokens)", ylabel="loss on the second copy")
    copy_axis.grid(alpha=0.3)
    copy_axis.legend(fontsize=8)
    if with_passkey:
        passkey_axis = axes[0][1]
        for method in with_passkey:
            accuracy = passkey_by_length(method["passkey"])
            passkey_axis.plot(list(accuracy), list(accuracy.values()), "o-", label=method_label(method))
        mark_training_length(passkey_axis, result["model"])
        passkey_axis.set(xscale="log", ylim=(-0.05, 1.05), xlabel="prompt length (tokens)", ylabel="pass-key accuracy")
        passkey_axis.grid(alpha=0.3)
        passkey_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_plots(result, folder):
    """The PNG files of the result's parts into folder; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    methods = list(result["methods"].values())
    written = []
    for name, draw, part in (
        ("positions.png", plot_positions, "positions"),
        ("perplexity.png", plot_perplexity, "perplexity"),
        ("probe.png", plot_probes, "probe"),
    ):
        if any(m[part] for m in methods):
            draw(plt, result, folder / name)
            written.append(folder / name)
    return written
