#!/usr/bin/env bash
# AdamW + cosine against Muon + wsd: same model, seed and tokens per step; a small LR sweep for each, then the
# number of steps each needs to reach the best AdamW run's final validation loss (read off the evaluations,
# linearly interpolated between them: plot.py --reach). Runs one after another; results, plots and the
# comparison in out/muon_study/<last config's name>.
# Usage: bash configs/muon_study.sh CONFIGS ADAMW_LRS MUON_LRS [extra train.py flags], e.g.
#   bash configs/muon_study.sh configs/demo.py "2e-3 4e-3 8e-3" "0.01 0.02 0.04" --max_iters=200
#   bash configs/muon_study.sh "configs/demo.py configs/python_stdlib.py" "2e-3 4e-3 8e-3" "0.01 0.02 0.04"
set -euo pipefail
configs=$1 adamw_lrs=$2 muon_lrs=$3
shift 3
last_config=${configs##* }
study=out/muon_study/$(basename "$last_config" .py)
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
  $python train.py $configs --optimizer=adamw --lr_schedule=cosine --learning_rate="$lr" \
    --min_lr="$($python -c "print($lr / 10)")" --out_dir="$study/adamw_cosine_lr$lr" "$@"
done
best_adamw=$(best_run "$study"/adamw_cosine_lr*)
adamw_lr=${best_adamw##*_lr}
for lr in $muon_lrs; do  # the AdamW part (embeddings, head, norms, biases) keeps the best AdamW LR
  $python train.py $configs --optimizer=muon --lr_schedule=wsd --muon_lr="$lr" --learning_rate="$adamw_lr" \
    --min_lr="$($python -c "print($adamw_lr / 10)")" --out_dir="$study/muon_wsd_lr$lr" "$@"
done
best_muon=$(best_run "$study"/muon_wsd_lr*)

$python plot.py "$study"/adamw_cosine_lr* -o "$study/adamw_sweep.png"
$python plot.py "$study"/muon_wsd_lr* -o "$study/muon_sweep.png"
$python plot.py "$best_adamw" "$best_muon" -o "$study/best.png" --reach
