"""
A study's report.md: the runs, their figures and the theory beside the measurements, written from RunFacts
(gptkit/study/runs.py) and each run's evaluation (evaluate.py's JSON, schema 1, described in its docstring; the
views of it the tables need are derived here, where they are read).

Generated text is facts and numbers only: every number is a run's (metrics.jsonl, config.json, its evaluation)
or computed from them by a rule the Methods section states; the discussion is left to the author under its
headings. The invariant the tests check: each number in the report equals its source, rounded as shown.
"""

import json
from pathlib import Path

from gptkit.data.shards import find_shards, read_header
from gptkit.errors import UserError
from gptkit.evaluation.long_context_report import methods_with, passkey_by_length
from gptkit.study import figures, rope_theory
from gptkit.study.cells import cells_of, estimate
from gptkit.study.predictions import AGREES, DISAGREES, UNRESOLVED, cell_bins, loss_onset, prediction_rows
from gptkit.study.spec import short_text


def number(value, form=".4f"):
    return "—" if value is None else format(value, form)


def count(value, unit=""):
    """1234567 -> 1.23M; None -> —."""
    if value is None:
        return "—"
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}{unit}"
    return f"{value:g}{unit}"


def duration(seconds):
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def grid_text(value):
    return short_text(value) if isinstance(value, float) else str(value)


def hours_label(runs):
    """GPU-hours when every run that started ran on GPUs."""
    devices = {run.derived.get("device", "") for run in runs if run.derived}
    return "GPU-hours" if devices and not devices & {"cpu", "mps"} else "device-hours"


# ----------------------------------------------------------------------------------------------------------
# Sections


def runs_section(runs, grid_keys, reach):
    """The run table. reach: (target val loss, baseline run name, its steps) or None."""
    seeded = any(run.seed is not None for run in runs)
    header = [
        "run",
        *grid_keys,
        *(["seed"] if seeded else []),
        "state",
        "parameters",
        "steps",
        "tokens",
        "training FLOPs",
        "wall time",
        hours_label(runs),
        "train loss",
        "val loss",
        "val bpb",
        "HellaSwag acc_norm",
    ]
    header += ["steps to reach"] if reach else []
    header += ["Hub"]
    rows = []
    for run in runs:
        hellaswag = run.hellaswag
        row = [
            run.name,
            *[grid_text(run.grid_values[key]) if key in run.grid_values else "" for key in grid_keys],
            *([run.seed] if seeded else []),
            run.state,
            count(run.derived.get("parameters", {}).get("total")),
            number(run.last_step, "d"),
            count(run.tokens),
            number(run.training_flops, ".3g"),
            duration(run.wall_seconds),
            number(run.device_hours, ".3f"),
            number(run.last("loss")),
            number(run.last("val_loss")),
            number(run.last("val_bpb")),
            "—" if hellaswag is None else f"{hellaswag[0]:.4f} ± {hellaswag[1]:.4f}",
        ]
        if reach:
            steps = run.steps_to_reach
            row.append("not reached" if steps is None else f"{steps:.0f} ({steps / reach[2]:.2f}x)")
        row.append(f"[{run.hub_url.rsplit('/', 1)[-1]}]({run.hub_url})" if run.hub_url else "—")
        rows.append(row)
    lines = ["## Runs", ""] + table(header, rows) + [""]
    if reach:
        target, baseline, baseline_steps = reach
        lines += [
            f"Steps to reach: the first step at which a run's validation loss reaches {target:.4f}, the final "
            f"validation loss of {baseline} (the best of the baseline runs, at step {baseline_steps}), "
            "interpolated linearly between evaluations; in brackets, as a multiple of that run's steps.",
        ]
    return lines + [""]


def val_loss_grid(runs, rows_key, columns_key):
    """Final validation loss of each cell, rows_key values down, columns_key values across: the mean over its
    finished runs (seeds), with the standard error and spread where there are several."""
    cells = cells_of(runs)
    row_values = list(dict.fromkeys(cell.grid_values[rows_key] for cell in cells))
    column_values = list(dict.fromkeys(cell.grid_values[columns_key] for cell in cells))
    by_values = {(cell.grid_values[rows_key], cell.grid_values[columns_key]): cell for cell in cells}
    rows = []
    for r in row_values:
        row = [grid_text(r)]
        for c in column_values:
            cell = by_values.get((r, c))
            finished = [run.last("val_loss") for run in cell.runs if run.finished] if cell else []
            value = estimate(finished)
            row.append("—" if value is None else value.with_spread())
        rows.append(row)
    header = [f"{rows_key} \\ {columns_key}"] + [grid_text(c) for c in column_values]
    title = f"## Validation loss at the training length ({rows_key} x {columns_key})"
    note = "Final validation loss of each cell's finished runs (— : none finished); over several seeds: mean ± "
    note += "standard error (sd: their spread)."
    return [title, "", note, ""] + table(header, rows)


def past_training_length(runs):
    """Mean loss of windows of each evaluation length, per cell and RoPE scaling; pass-key accuracy."""
    evaluated = [run for run in runs if run.evaluation and methods_with(run.evaluation, "positions")]
    if not evaluated:
        return []
    cells = cells_of(evaluated)
    losses = {cell.name: by_scaling(cell, "positions", losses_by_length) for cell in cells}
    columns, rows = ratio_table(losses, lambda value: "—" if value is None else value.text())
    lines = ["## Past the training length", ""]
    lines += [
        "Mean loss per token of windows of each length (a multiple of the run's training length), with its "
        "standard error (across windows; over several seeds, Methods):",
        "",
    ]
    lines += table(["cell", "rope_scaling"] + [f"loss at {ratio:g}x" for ratio in columns], rows) + [""]
    accuracies = {cell.name: by_scaling(cell, "passkey", passkey_accuracies) for cell in cells}
    accuracies = {name: values for name, values in accuracies.items() if values}
    if accuracies:
        columns, rows = ratio_table(accuracies, lambda value: "—" if value is None else value.text(".3f"))
        lines += ["Pass-key accuracy (greedy, mean over depths):", ""]
        lines += table(["cell", "rope_scaling"] + [f"at {ratio:g}x" for ratio in columns], rows) + [""]
    return lines


def losses_by_length(positions):
    return {entry["length"]: (entry["loss"], entry["se"]) for entry in positions}


def passkey_accuracies(passkey):
    return {length: (accuracy, None) for length, accuracy in passkey_by_length(passkey).items()}


def by_scaling(cell, part, values):
    """{scaling: {length / training length: Estimate over the cell's runs}} of values(measurement) ->
    {length: (value, se)} for each scaling method that measured part."""
    per_run = [(run, methods_with(run.evaluation, part)) for run in cell.runs if run.evaluation]
    scalings = list(dict.fromkeys(scaling for _, measured in per_run for scaling in measured))
    result = {}
    for scaling in scalings:
        measured = [(run, values(found[scaling])) for run, found in per_run if scaling in found]
        lengths = sorted({n for _, by_length in measured for n in by_length})
        result[scaling] = {
            n / cell.model["block_size"]: estimate(
                [by_length[n][0] for _, by_length in measured if n in by_length],
                [by_length[n][1] for _, by_length in measured if n in by_length],
            )
            for n in lengths
        }
    return result


def ratio_table(values, cell):
    """(columns, rows) of {name: {scaling: {ratio: value}}}: a row per name and scaling, a column per ratio,
    cell(value) in each (cell(None) where a row has no value)."""
    columns = sorted(
        {ratio for by_scaling in values.values() for by_ratio in by_scaling.values() for ratio in by_ratio}
    )
    rows = [
        [name, scaling] + [cell(by_ratio.get(ratio)) for ratio in columns]
        for name, by_scaling in values.items()
        for scaling, by_ratio in by_scaling.items()
    ]
    return columns, rows


def loss_and_error(entry):
    if entry is None:
        return "—"
    return f"{entry['loss']:.4f}" + (f" ± {entry['se']:.4f}" if entry["se"] is not None else "")


def retrieval_section(runs):
    """The retrieval probe's greedy accuracy by distance, per training length: a row per cell (rope_scaling
    none), a column per distance, inside the training length and past it."""
    groups = retrieval_groups(runs)
    if not groups:
        return []
    lines = ["## Retrieval by distance", ""]
    lines.append(
        "The retrieval probe (evaluate.py): a key set, other keys set after it, the key asked for; the share of "
        "keys whose value the model's greedy predictions give token for token (chance: about 1e-4 for 4 digits), "
        "by the distance in tokens between the value set and the value asked for, rope_scaling none; ± the "
        "standard error. Distances marked * are past the training length or in rows longer than it. The figure "
        "is retrieval_accuracy_<length>.png (Figures)."
    )
    for block_size, values in groups.items():
        distances = sorted({d for by_distance in values.values() for d in by_distance})
        outside = {d for by_distance in values.values() for d, (_, long) in by_distance.items() if long > block_size}
        header = ["cell"] + [f"{d:g}" + ("*" if d in outside else "") for d in distances]
        rows = [[name] + [by[d][0].text(".3f") if d in by else "—" for d in distances] for name, by in values.items()]
        lines += ["", f"Trained at {block_size} tokens:", ""] + table(header, rows)
    return lines + [""]


def retrieval_groups(runs):
    """{block_size: {cell name: {distance: (Estimate of the accuracy, tokens read)}}} of the runs with a
    retrieval probe."""
    evaluated = [run for run in runs if run.evaluation and "none" in methods_with(run.evaluation, "retrieval")]
    groups = by_training_length(cells_of(evaluated))
    return {
        block_size: {cell.name: retrieval_by_distance(cell) for cell in group} for block_size, group in groups.items()
    }


def by_training_length(cells):
    groups = {}
    for cell in cells:
        groups.setdefault(cell.model["block_size"], []).append(cell)
    return dict(sorted(groups.items()))


def retrieval_by_distance(cell, scaling="none"):
    """{distance: (Estimate of the accuracy over the cell's runs, tokens read)}."""
    points = {}
    for run in cell.runs:
        probe = methods_with(run.evaluation or {"methods": {}}, "retrieval").get(scaling)
        for point in probe["points"] if probe else []:
            points.setdefault(round(point["distance"], 1), []).append(point)
    return {
        distance: (estimate([p["accuracy"] for p in found], [p["accuracy_se"] for p in found]), found[0]["length"])
        for distance, found in sorted(points.items())
    }


def theory_section(runs):
    """Men et al.'s lower bound of the base and Liu et al.'s extrapolation limit, beside each RoPE cell."""
    rope_cells = [cell for cell in cells_of(runs) if cell.model.get("pos_emb") == "rope"]
    if not rope_cells:
        return []
    shapes = sorted({(cell.model["n_embd"] // cell.model["n_head"], cell.model["block_size"]) for cell in rope_cells})
    bounds = {shape: rope_theory.base_lower_bound(*shape) for shape in shapes}
    head_sizes = sorted({head for head, _ in shapes})
    lengths = sorted({length for _, length in shapes})
    rows = [[length] + [number(bounds.get((head, length)), ".3g") for head in head_sizes] for length in lengths]
    lines = ["## Theory beside the measurements", "", "Lower bound of rope_theta (Men et al. 2024):", ""]
    lines += table(["context length \\ head size"] + [str(head) for head in head_sizes], rows) + [""]
    header = [
        "cell",
        "head size",
        "context",
        "rope_theta",
        "lower bound",
        "B(m) >= 0 up to the context",
        "critical dimension",
        "predicted limit (tokens)",
        "x context",
        "measured onset (tokens)",
    ]
    rows = []
    for cell in rope_cells:
        head, length, theta = (
            cell.model["n_embd"] // cell.model["n_head"],
            cell.model["block_size"],
            cell.model["rope_theta"],
        )
        limit = rope_theory.extrapolation_limit(theta, head, length)
        bins = cell_bins(cell)
        onset = loss_onset(bins, length)
        measured = "—" if not bins else ("not within the evaluated lengths" if onset is None else onset)
        rows.append(
            [
                cell.name,
                head,
                length,
                grid_text(theta),
                number(bounds[(head, length)], ".3g"),
                "pass" if rope_theory.passes(theta, head, length) else "fail",
                rope_theory.critical_dimension(theta, head, length),
                "none (every period fits)" if limit is None else f"{limit:.0f}",
                "—" if limit is None else f"{limit / length:.2f}",
                measured,
            ]
        )
    return lines + table(header, rows) + [""]


def predictions_section(runs):
    """Each prediction of the theory for these runs beside what they measured (gptkit/study/predictions.py)."""
    rows = prediction_rows(cells_of(runs))
    if not rows:
        return []
    lines = ["## Predictions", ""]
    lines.append(
        "What the theory above predicts for these runs, beside what they measured: cell means over the seeds, "
        "a difference ± its standard error (Methods). A prediction agrees when the whole interval difference ± "
        "2 standard errors lies where it says, disagrees when none of it does, and is not resolved otherwise. "
        "Liu's onset agrees when the position bin where the loss turns up reaches within a factor 1.41 of the "
        "predicted position."
    )
    lines += [""] + table(["prediction", "cells", "predicted", "measured", "verdict"], rows) + [""]
    counts = ", ".join(f"{name}: {sum(row[-1] == name for row in rows)}" for name in (AGREES, DISAGREES, UNRESOLVED))
    return lines + [f"In all: {counts}.", ""]


def methods_section(study, runs, evaluation_settings):
    first = next((run for run in runs if run.config), None)
    lines = ["## Methods", ""]
    lines.append(
        f"- Study file: `{study.path}`; {len(study.runs)} runs (grid: "
        + "; ".join(
            ", ".join(f"{k} in {[grid_text(v) for v in vs]}" for k, vs in part.items())
            for part in study.file.grid_parts
        )
        + ")."
    )
    if first is None:
        return lines + ["- No run has started yet."]
    train, derived = first.train, first.derived
    lines.append(f"- Data: `{train['data_dir']}`" + data_description(train["data_dir"]) + ".")
    seeds = study.file.seeds
    seeding = (
        f"seeds {', '.join(map(str, seeds))}: each cell of the grid trained once per seed"
        if seeds
        else f"seed {train['seed']} for every run (one seed: the standard errors leave out the noise of training)"
    )
    lines.append(
        f"- Training: {train['total_batch_tokens']:,} tokens per step, {seeding}, optimizer {train['optimizer']}, "
        f"schedule {train['lr_schedule']}; hardware: {derived.get('processes', 1)} x {derived.get('device')} "
        f"({derived.get('dtype')})."
    )
    lines.append(
        "- A cell's number: the mean over its runs (seeds); sd: their sample standard deviation; ±: the standard "
        "error of the mean, sqrt((sd^2 + mean of the runs' own squared standard errors) / n). The runs' own "
        "errors count because every run is evaluated on the same windows and probe rows, which the spread "
        "across seeds does not see. A difference of two cells: ± sqrt(se_1^2 + se_2^2)."
    )
    lines.append(
        f"- Validation loss: the mean over {train['eval_iters']} batches per process of "
        f"{derived.get('micro_batch_size')} windows of the training length (the first run's figures), the same "
        "windows of the validation shards, read in order, at every evaluation; in nats per token (val loss) and "
        "in bits per byte (val bpb: the summed loss over ln 2 and the UTF-8 bytes of the tokens, end-of-text in "
        "neither), which compares runs of different tokenizers."
    )
    lines.append(
        "- Wall time: the sum of the logged step times (evaluations and checkpoints included, start-up and time "
        f"lost to interruptions not); {hours_label(runs)}: processes x wall time; training FLOPs: tokens x the "
        "model's training FLOPs per token (6 N + 12 n_layer n_embd block_size, PaLM's appendix B)."
    )
    evaluated = [run for run in runs if run.evaluation]
    if evaluated:
        data = evaluated[0].evaluation["data"]
        used = sorted(
            {
                entry["windows"]
                for run in evaluated
                for positions in methods_with(run.evaluation, "positions").values()
                for entry in positions
            }
        )
        settings = ", ".join(f"{k}={v}" for k, v in evaluation_settings.items())
        lines.append(
            f"- Evaluation: evaluate.py ({settings}) on the validation split ({data['validation_tokens']:,} tokens), "
            f"windows from {data['windows_from']}, {data['windows']} asked per length ({', '.join(map(str, used))} "
            f"used: fewer where fewer qualify), probe and pass-key seed {data['seed']}; loss by position in "
            f"log-spaced bins with standard errors across windows; perplexity on {data['perplexity_tokens']:,} "
            f"tokens of the stream in non-overlapping and sliding windows; {data['processes']} process(es), "
            f"{data['dtype']}."
        )
        lines.append(
            "- Measured onset: the start of the first position bin past the training length whose loss "
            "(rope_scaling none) exceeds that of the last bin within it by more than twice their combined "
            "standard error."
        )
    if any(run.model.get("pos_emb") == "rope" for run in runs):
        lines.append(
            '- Lower bound of the base (Men et al. 2024, "Base of RoPE Bounds Context Length", arXiv:2405.14591): '
            "the smallest base b for which B(m) = sum_i cos(m b^(-2i/d)) >= 0 at every m = 0 ... L (d the head "
            f"size), searched on a geometric grid ({rope_theory.GRID_POINTS_PER_DECADE} per decade) and refined by "
            "bisection; the pass/fail column evaluates B(m) for the run's own base. The passing bases are not an "
            "interval, so a base above the bound can fail."
        )
        lines.append(
            '- Extrapolation limit (Liu et al. 2023, "Scaling Laws of RoPE-based Extrapolation", '
            "arXiv:2310.05209): critical dimension d_extra = 2 ceil((d/2) log_b(L / 2 pi)), predicted limit "
            "T_extra = 2 pi b^(d_extra / d)."
        )
    return lines + [""]


def data_description(data_dir):
    try:
        headers = {split: [read_header(path) for path in find_shards(data_dir, split)] for split in ("train", "val")}
    except (UserError, OSError):  # the data may live on another machine than the report
        return " (not readable where this report was written)"
    tokenizer = headers["train"][0][0]
    sizes = {split: sum(tokens for _, tokens, _ in found) for split, found in headers.items()}
    text = f", {tokenizer} tokens: {count(sizes['train'])} train, {count(sizes['val'])} validation"
    progress = Path(data_dir) / "progress.json"
    mix = json.loads(progress.read_text())["settings"].get("retrieval") if progress.is_file() else None
    if mix:
        text += (
            f"; {mix['share']:.0%} of the training tokens synthetic retrieval documents (gptkit/data/"
            f"retrieval_documents.py: seed {mix['seed']}, queries up to {mix['max_distance']} characters back), the "
            "validation split real text only"
        )
    return text


def discussion_section():
    lines = ["## Discussion", "", "_Left to the author: the report above states measurements only._", ""]
    for heading in ("Findings", "Against the theory", "Limitations", "Next steps"):
        lines += [f"### {heading}", "", "_To be written._", ""]
    return lines


# ----------------------------------------------------------------------------------------------------------


def write_report(study, runs, folder, evaluation_settings, reach=None, notes=()):
    """Writes folder/report.md and its figures; returns the report's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    grid_keys = study.grid_keys
    finished = [run for run in runs if run.finished]
    title = study.file.title or f"Study: {study.name}"
    lines = [
        f"# {title}",
        "",
        f"{len(finished)} of {len(runs)} runs finished. Written by `python study.py report "
        f"{study.path}` from the runs' folders under `{study.out_dir}`.",
        "",
    ]
    lines += [f"> {note}" for note in notes] + ([""] if notes else [])
    lines += runs_section(runs, grid_keys, reach)
    rows_key, columns_key = study.file.table or (grid_keys if len(grid_keys) == 2 else (None, None))
    if rows_key:
        lines += val_loss_grid(runs, rows_key, columns_key) + [""]
    lines += past_training_length(finished)
    lines += retrieval_section(finished)
    other_keys = [key for key in grid_keys if key != "block_size"]
    drawn = [
        ("Loss against tokens", figures.loss_curves(runs, folder, "loss_vs_tokens.png", "tokens", lambda run: 1)),
        (
            "Loss against training FLOPs",
            figures.loss_curves(runs, folder, "loss_vs_flops.png", "training FLOPs", lambda run: run.flops_per_token),
        ),
    ]
    drawn.append(("Validation bits per byte against wall time", figures.bits_per_byte_curves(runs, folder)))
    drawn += [("Loss by position", name) for name in figures.loss_by_position(finished, folder, other_keys)]
    drawn += [
        ("Perplexity against evaluation length", name) for name in figures.perplexity(finished, folder, other_keys)
    ]
    drawn += [("Retrieval probe", name) for name in figures.retrieval_probe(finished, folder, other_keys)]
    retrieval = figures.retrieval_accuracy(retrieval_groups(finished), folder)
    drawn += [("Retrieval accuracy by distance", name) for name in retrieval]
    lines += ["## Figures", ""]
    for caption, name in drawn:
        if name:
            lines += [f"### {caption}", "", f"![{caption}]({name})", ""]
    lines += theory_section(finished)
    lines += predictions_section(finished)
    lines += methods_section(study, runs, evaluation_settings)
    lines += discussion_section()
    path = folder / "report.md"
    path.write_text("\n".join(lines))
    return path
