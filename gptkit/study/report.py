"""
A study's report.md: the runs, their figures and the theory beside the measurements, written from RunFacts
(gptkit/study/runs.py) and each run's evaluation (evaluate.py's JSON, schema 1, described in its docstring; the
views of it the tables need are derived here, where they are read).

Generated text is facts and numbers only: every number is a run's (metrics.jsonl, config.json, its evaluation)
or computed from them by a rule the Methods section states; the discussion is left to the author under its
headings. The invariant the tests check: each number in the report equals its source, rounded as shown.
"""

import math
from pathlib import Path

from gptkit.data.shards import find_shards, read_header
from gptkit.errors import UserError
from gptkit.evaluation.long_context_report import methods_with, passkey_by_length, position_bins
from gptkit.study import figures, rope_theory
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
    header = [
        "run",
        *grid_keys,
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
    """Final validation loss, rows_key values down, columns_key values across."""
    row_values = list(dict.fromkeys(run.grid_values[rows_key] for run in runs))
    column_values = list(dict.fromkeys(run.grid_values[columns_key] for run in runs))
    cells = {(run.grid_values[rows_key], run.grid_values[columns_key]): run for run in runs}
    rows = []
    for r in row_values:
        cell = [cells.get((r, c)) for c in column_values]
        rows.append([grid_text(r)] + [number(run.last("val_loss")) if run and run.finished else "—" for run in cell])
    header = [f"{rows_key} \\ {columns_key}"] + [grid_text(c) for c in column_values]
    title = f"## Validation loss at the training length ({rows_key} x {columns_key})"
    return [title, "", "Final validation loss of each finished run (— : not finished)."] + [""] + table(header, rows)


def past_training_length(runs):
    """Mean loss of windows of each evaluation length, per run and RoPE scaling; pass-key accuracy."""
    evaluated = [run for run in runs if run.evaluation and methods_with(run.evaluation, "positions")]
    if not evaluated:
        return []
    losses = {
        run.name: {
            scaling: per_ratio(run, {entry["length"]: entry for entry in positions})
            for scaling, positions in methods_with(run.evaluation, "positions").items()
        }
        for run in evaluated
    }
    columns, rows = ratio_table(losses, loss_and_error)
    lines = ["## Past the training length", ""]
    lines += [
        "Mean loss per token of windows of each length (a multiple of the run's training length), with its "
        "standard error across windows:",
        "",
    ]
    lines += table(["run", "rope_scaling"] + [f"loss at {ratio:g}x" for ratio in columns], rows) + [""]
    accuracies = {
        run.name: {
            scaling: per_ratio(run, passkey_by_length(passkey))
            for scaling, passkey in methods_with(run.evaluation, "passkey").items()
        }
        for run in evaluated
    }
    accuracies = {name: by_scaling for name, by_scaling in accuracies.items() if by_scaling}
    if accuracies:
        columns, rows = ratio_table(accuracies, lambda accuracy: number(accuracy, ".3f"))
        lines += ["Pass-key accuracy (greedy, mean over depths):", ""]
        lines += table(["run", "rope_scaling"] + [f"at {ratio:g}x" for ratio in columns], rows) + [""]
    return lines


def per_ratio(run, by_length):
    """{length / the run's training length: value} of {length: value}."""
    return {length / run.model["block_size"]: value for length, value in by_length.items()}


def ratio_table(values, cell):
    """(columns, rows) of {run: {scaling: {ratio: value}}}: a row per run and scaling, a column per ratio, cell(value)
    in each (cell(None) where a row has no value)."""
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


def theory_section(runs):
    """Men et al.'s lower bound of the base and Liu et al.'s extrapolation limit, beside each RoPE run."""
    rope_runs = [run for run in runs if run.model.get("pos_emb") == "rope"]
    if not rope_runs:
        return []
    shapes = sorted({(run.model["n_embd"] // run.model["n_head"], run.model["block_size"]) for run in rope_runs})
    bounds = {shape: rope_theory.base_lower_bound(*shape) for shape in shapes}
    head_sizes = sorted({head for head, _ in shapes})
    lengths = sorted({length for _, length in shapes})
    rows = [[length] + [number(bounds.get((head, length)), ".3g") for head in head_sizes] for length in lengths]
    lines = ["## Theory beside the measurements", "", "Lower bound of rope_theta (Men et al. 2024):", ""]
    lines += table(["context length \\ head size"] + [str(head) for head in head_sizes], rows) + [""]
    header = [
        "run",
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
    for run in rope_runs:
        head, length, theta = (
            run.model["n_embd"] // run.model["n_head"],
            run.model["block_size"],
            run.model["rope_theta"],
        )
        limit = rope_theory.extrapolation_limit(theta, head, length)
        onset = loss_onset(position_bins(run.evaluation, "none"), length) if run.evaluation else None
        measured = "—" if not run.evaluation else ("not within the evaluated lengths" if onset is None else onset)
        rows.append(
            [
                run.name,
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
    lines.append(
        f"- Training: {train['total_batch_tokens']:,} tokens per step, seed {train['seed']} for every run "
        f"(one seed: differences within a few hundredths of a nat are within noise), optimizer {train['optimizer']}, "
        f"schedule {train['lr_schedule']}; hardware: {derived.get('processes', 1)} x {derived.get('device')} "
        f"({derived.get('dtype')})."
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
    return f", {tokenizer} tokens: {count(sizes['train'])} train, {count(sizes['val'])} validation"


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
    lines += ["## Figures", ""]
    for caption, name in drawn:
        if name:
            lines += [f"### {caption}", "", f"![{caption}]({name})", ""]
    lines += theory_section(finished)
    lines += methods_section(study, runs, evaluation_settings)
    lines += discussion_section()
    path = folder / "report.md"
    path.write_text("\n".join(lines))
    return path
