#!/usr/bin/env bash
# Everything GPU-only in one run, for a session that has a GPU: the CUDA tests (with Muon's), then bench.py with bf16 +
# torch.compile at the micro-batch that fills the card for GPT-2 124M (learned, MHA), RoPE + GQA 113M and the
# MoE (8 experts, 2 active) next to its equal-active-parameter top-1 variant. Each part is capped (tests 180 s,
# each bench 120 s), so the whole run stays under 10 minutes. Results (logs and JSON) go to the folder given,
# else $OUT, else gpu_check/.
# Usage: bash gpu_check.sh [results folder]
set -uo pipefail
results=${1:-${OUT:-gpu_check}}
mkdir -p "$results"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$results/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$results/gpu.txt"
timeout 180 python3 -m pytest tests/test_cuda.py tests/test_train_muon.py -k "test_cuda or gpu" -q -p no:cacheprovider \
  2>&1 | tee "$results/cuda_tests.log"
bench() {  # name, then bench.py arguments
  local name=$1; shift
  timeout 120 python3 bench.py "$@" --micro_batch_size=auto --compile=on --warmup=10 --steps=30 \
    --json "$results/bench_$name.json" 2>&1 | tee "$results/bench_$name.log"
}
bench gpt2 configs/gpt2_l4.py --variants=config
bench gqa configs/gpt2_gqa.py --variants=config
bench moe_top1 configs/gpt2_gqa.py --variants=moe_top1
bench moe configs/gpt2_gqa.py --variants=moe
