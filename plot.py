"""
Loss curves of one or more runs, from their metrics.jsonl, to a PNG: train and validation loss against steps
(left) and against tokens seen (right).

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


def validation_curve(run_dir):
    """[(step, val_loss), ...] of a run's evaluations."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise UserError(f"no metrics.jsonl in {run_dir}")
    return [(r["step"], r["val_loss"]) for r in read_metrics(path) if "val_loss" in r]


def plot_runs(run_dirs, output, smooth=1):
    figure, (by_step, by_tokens) = plt.subplots(1, 2, figsize=(13, 4.5))
    for run_dir in run_dirs:
        path = Path(run_dir) / "metrics.jsonl"
        if not path.is_file():
            raise UserError(f"no metrics.jsonl in {run_dir}")
        records = read_metrics(path)
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
    for axis, xlabel in ((by_step, "step"), (by_tokens, "tokens")):
        axis.set_xlabel(xlabel)
        axis.set_ylabel("loss")
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
