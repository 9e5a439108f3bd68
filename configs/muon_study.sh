#!/usr/bin/env bash
# AdamW + cosine against Muon + wsd: same model, seed and tokens per step; a small LR sweep for each, then the
# number of steps each needs to reach the best AdamW run's final validation loss (read off the evaluations,
# linearly interpolated between them). Runs one after another on the CPU; results in out/muon_study/<config>.
# Usage: bash configs/muon_study.sh configs/demo.py "1e-3 2e-3 4e-3" "0.01 0.02 0.04" [extra train.py flags]
set -euo pipefail
config=$1 adamw_lrs=$2 muon_lrs=$3
shift 3
study=out/muon_study/$(basename "$config" .py)
python=${PYTHON:-python}

best_run() {  # the run folder (of those given) with the lowest final validation loss
  $python - "$@" <<'PY'
import sys
from gptkit.metrics import read_metrics
final = {run: [r["val_loss"] for r in read_metrics(f"{run}/metrics.jsonl") if "val_loss" in r][-1] for run in sys.argv[1:]}
print(min(final, key=final.get))
PY
}

for lr in $adamw_lrs; do
  $python train.py "$config" --optimizer=adamw --lr_schedule=cosine --learning_rate="$lr" \
    --min_lr="$($python -c "print($lr / 10)")" --out_dir="$study/adamw_cosine_lr$lr" "$@"
done
best_adamw=$(best_run "$study"/adamw_cosine_lr*)
adamw_lr=${best_adamw##*_lr}
for lr in $muon_lrs; do  # the AdamW part (embeddings, head, norms, biases) keeps the best AdamW LR
  $python train.py "$config" --optimizer=muon --lr_schedule=wsd --muon_lr="$lr" --learning_rate="$adamw_lr" \
    --min_lr="$($python -c "print($adamw_lr / 10)")" --out_dir="$study/muon_wsd_lr$lr" "$@"
done
best_muon=$(best_run "$study"/muon_wsd_lr*)

$python plot.py "$study"/adamw_cosine_lr* -o "$study/adamw_sweep.png"
$python plot.py "$study"/muon_wsd_lr* -o "$study/muon_sweep.png"
$python plot.py "$best_adamw" "$best_muon" -o "$study/best.png"
$python - "$best_adamw" "$best_muon" <<'PY'
import sys
from gptkit.metrics import read_metrics

def curve(run):
    return [(r["step"], r["val_loss"]) for r in read_metrics(f"{run}/metrics.jsonl") if "val_loss" in r]

def steps_to_reach(points, target):
    for (s0, l0), (s1, l1) in zip([(0, float("inf"))] + points, points):
        if l1 <= target:
            return s1 if l0 == float("inf") else s0 + (s1 - s0) * (l0 - target) / (l0 - l1)
    return None

adamw, muon = curve(sys.argv[1]), curve(sys.argv[2])
target = adamw[-1][1]
print(f"target: {sys.argv[1]}'s final val loss {target:.4f} at step {adamw[-1][0]}")
for run, points in zip(sys.argv[1:], (adamw, muon)):
    steps = steps_to_reach(points, target)
    print(f"{run}: final val loss {points[-1][1]:.4f}, steps to reach the target: {steps if steps is None else round(steps)}")
PY
