#!/usr/bin/env bash
# The RoPE theta study: 3 context lengths x 5 thetas, each a run of configs/rope_theta.py on 8 GPUs.
# Usage: bash configs/rope_theta_study.sh [extra train.py flags, e.g. --max_iters=2000]
set -euo pipefail
for context in 1024 4096 8192; do
  micro_batch_size=$((65536 / context))  # 0.5M tokens per step on 8 GPUs at every context length
  for theta in 1e4 1e5 5e5 2e6 1e7; do
    torchrun --standalone --nproc_per_node=8 train.py configs/rope_theta.py \
      --block_size=$context --rope_theta=$theta --micro_batch_size=$micro_batch_size \
      --out_dir=out/rope_theta_${context}_${theta} "$@"
  done
done
