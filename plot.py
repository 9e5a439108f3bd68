"""
Loss curves of one or more runs, from their metrics.jsonl, to a PNG: train and validation loss (nats per token)
against steps (left) and against tokens seen (middle), and, when the runs logged it, validation bits per byte
against steps (right): the figure to compare runs of different tokenizers by (docs/data.md).

    python plot.py out/demo                          # -> out/demo/loss.png
    python plot.py out/gpt2_gqa out/moe -o compare.png --smooth 20
    python plot.py out/adamw out/muon --reach          # also: the steps each run needs to reach out/adamw's
                                                       # final validation loss
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402

from gptkit.command_line import OneLineParser  # noqa: E402
from gptkit.errors import UserError, run_main  # noqa: E402
from gptkit.training.metrics import read_metrics, steps_to_reach  # noqa: E402


def moving_average(values, window):
    if window <= 1:
        return values
    averaged, total = [], 0.0
    for i, v in enumerate(values):
        total += v - (values[i - window] if i >= window else 0.0)
        averaged.append(total / min(i + 1, window))
    return averaged


def run_records(run_dir):
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise UserError(f"no metrics.jsonl in {run_dir}")
    return read_metrics(path)


def validation_curve(run_dir):
    """[(step, val_loss), ...] of a run's evaluations."""
    return [(r["step"], r["val_loss"]) for r in run_records(run_dir) if "val_loss" in r]


def plot_runs(run_dirs, output, smooth=1):
    runs = {run_dir: run_records(run_dir) for run_dir in run_dirs}
    with_bpb = any("val_bpb" in r for records in runs.values() for r in records)
    figure, axes = plt.subplots(1, 3 if with_bpb else 2, figsize=(19.5 if with_bpb else 13, 4.5))
    by_step, by_tokens = axes[:2]
    for run_dir, records in runs.items():
        label = Path(run_dir).name
        for key, style in (("loss", "-"), ("val_loss", "o-")):
            points = [r for r in records if key in r]
            if not points:
                continue
            values = [r[key] for r in points]
            values = moving_average(values, smooth) if key == "loss" else values
            name = f"{label} {'train' if key == 'loss' else 'val'}"
            line = by_step.plot([r["step"] for r in points], values, style, label=name, markersize=3)[0]
            if all("tokens" in r for r in points):
                tokens = [r["tokens"] for r in points]
                by_tokens.plot(tokens, values, style, label=name, markersize=3, color=line.get_color())
        bpb = [(r["step"], r["val_bpb"]) for r in records if r.get("val_bpb") is not None]
        if bpb:
            axes[2].plot(*zip(*bpb), "o-", label=f"{label} val", markersize=3)
    labels = [("step", "loss (nats per token)"), ("tokens", "loss (nats per token)")]
    for axis, (xlabel, ylabel) in zip(axes, labels + [("step", "validation bits per byte")]):
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(output, dpi=120)
    plt.close(figure)
    return output


def main(argv):
    parser = OneLineParser("plot.py", __doc__)
    parser.add_argument("runs", nargs="+", help="output folders of runs (each holds metrics.jsonl)")
    parser.add_argument("-o", "--output", help="PNG file (default: loss.png in the first run's folder)")
    parser.add_argument("--smooth", type=int, default=1, help="moving average over this many logged train losses")
    parser.add_argument("--reach", action="store_true", help="print the steps to the first run's final val loss")
    args = parser.parse_args(argv)
    output = args.output or str(Path(args.runs[0]) / "loss.png")
    print(f"wrote {plot_runs(args.runs, output, args.smooth)}")
    if args.reach:
        curves = [validation_curve(run) for run in args.runs]
        if not curves[0]:
            raise UserError(f"{args.runs[0]} has no validation loss")
        target_step, target = curves[0][-1]
        print(f"target: {args.runs[0]}'s final val loss {target:.4f} (step {target_step})")
        for run, curve in zip(args.runs, curves):
            steps = steps_to_reach(curve, target)
            reached = "not reached" if steps is None else f"{steps:.0f} steps ({steps / target_step:.2f}x)"
            print(f"{run}: final val loss {curve[-1][1]:.4f}, reaches the target in {reached}")


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
