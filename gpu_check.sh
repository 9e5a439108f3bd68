#!/usr/bin/env bash
# Everything GPU-only in one run (about 10 minutes on one H100): the CUDA tests, then bench.py with bf16 +
# torch.compile at the micro-batch that fills the card for GPT-2 124M (learned, MHA), RoPE + GQA 113M and the
# MoE (8 experts, 2 active), plus dense vs MoE at equal active parameters.
# Usage: bash gpu_check.sh [results folder, default $OUT or gpu_check/]
set -uo pipefail
results=${1:-${OUT:-gpu_check}}
mkdir -p "$results"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$results/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$results/gpu.txt"
python3 -m pytest tests/test_cuda.py -q -p no:cacheprovider 2>&1 | tee "$results/cuda_tests.log"
bench() {  # name, then bench.py arguments
  local name=$1; shift
  timeout 240 python3 bench.py "$@" --micro_batch_size=auto --compile=on --warmup=10 --steps=30 \
    --json "$results/bench_$name.json" 2>&1 | tee "$results/bench_$name.log"
}
bench gpt2 configs/gpt2_l4.py --variants=config
bench gqa_moe configs/gpt2_gqa.py --variants=config,moe_top1,moe
