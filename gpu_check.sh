#!/usr/bin/env bash
# Everything GPU-only in one run of at most 9 minutes, for a session that has a GPU: bench.py (bf16 +
# torch.compile, random tokens) for GPT-2 124M, the new block beside the GPT-2 block at 124M's shape (configs/
# speedrun.py at depth 12, Muon: issue 28), RoPE + GQA 113M, its MoE variants (8 experts, top-1 and top-2) at
# micro-batch 64, and the 2.3B model at micro-batch 8 in bf16 and with fp8 = True, then the CUDA tests; last, one
# table against the H200 baseline of 2026-11-28 (LOGBOOK.md), the speed targets of issue 14 and the two blocks.
# Each part is capped by `timeout`, and by the time left of the 9 minutes, so the run always ends in time; a
# part cut short shows as "-" in the table (run it again alone: bash gpu_check.sh OUT PART ...).
# Wheels of packages the machine lacks (torchao, liger-kernel: make gpu-wheels) are installed from .whl/.
# Usage: bash gpu_check.sh [--cpu] [results folder] [part ...]
#   parts: gpt2 block block_paying moe gqa moe_top1 2b 2b_fp8 tests
#   --cpu: the same parts with a tiny model on the CPU and no compile, to check this script without a GPU.
# Results (logs, JSON, the table) go to the folder given, else $OUT, else gpu_check/.
set -uo pipefail
cpu=false
if [[ ${1:-} == --cpu ]]; then cpu=true; shift; fi
results=${1:-${OUT:-gpu_check}}
shift $(($# > 0 ? 1 : 0))
parts=${*:-gpt2 block block_paying moe gqa moe_top1 2b 2b_fp8 tests}  # the timings the targets need first, the tests last
mkdir -p "$results"
export PYTHONUNBUFFERED=1
budget_s=${GPU_CHECK_BUDGET_S:-530}  # 9 minutes less a margin for the table

if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
if $cpu; then
  # a tiny model for every config; fp8 is refused on the CPU, which is what the 2b_fp8 part then shows
  tiny=(--device=cpu --n_layer=1 --n_head=4 --n_kv_head=4 --n_embd=64 --block_size=64 --vocab_size=512)
  bench_args=(--compile=off --warmup=1 --steps=2 --micro_batch_size=2)
else
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$results/gpu.txt"
  tiny=()
  bench_args=(--compile=on --warmup=8 --steps=20)
fi
python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$results/gpu.txt"
for package in torchao liger_kernel; do
  python3 -c "import $package, importlib.metadata as m; print('$package', m.version('${package/_/-}'))" 2>/dev/null \
    | tee -a "$results/gpu.txt" || echo "$package: not installed" | tee -a "$results/gpu.txt"
done

capped() {  # seconds, then the command: run it for at most that long and what is left of the budget
  local cap=$1 left=$((budget_s - SECONDS)); shift
  if ((left < 20)); then echo "skipped, out of time: $*"; return 1; fi
  timeout $((cap < left ? cap : left)) "$@"
}
# the toggles of the speedruns' block that paid in the CPU ablation (docs/block.md): QK-norm, ReLU², embedding norm
# and the untied head, on LayerNorm; the rest of configs/speedrun.py's block switched off
paying_block=(--norm=layernorm --norm_weights=True --logit_softcap=0.0 --zero_init_proj=False --residual_scalars=False
  --value_embeddings=False)
bench() {  # part name, seconds, then bench.py arguments
  local name=$1 cap=$2; shift 2
  capped "$cap" python3 bench.py "$@" "${tiny[@]}" "${bench_args[@]}" --json "$results/bench_$name.json" 2>&1 \
    | tee "$results/bench_$name.log"
}
for part in $parts; do
  echo "=== $part (${SECONDS}s of ${budget_s}s used)"
  case $part in
    tests) capped 150 python3 -m pytest tests/test_cuda.py tests/test_cuda_speed.py tests/test_train_muon.py -k "cuda or gpu" -q -p no:cacheprovider 2>&1 \
      | tee "$results/cuda_tests.log" ;;
    gpt2) bench gpt2 75 configs/gpt2_l4.py --micro_batch_size=64 ;;
    block) bench block 120 configs/speedrun.py --depth=12 --micro_batch_size=64 --variants=gpt2_block,config ;;
    block_paying) bench block_paying 60 configs/speedrun.py --depth=12 --micro_batch_size=64 "${paying_block[@]}" ;;
    gqa) bench gqa 70 configs/gpt2_gqa.py --micro_batch_size=64 ;;
    moe_top1) bench moe_top1 70 configs/gpt2_gqa.py --micro_batch_size=64 --variants=moe_top1 ;;
    moe) bench moe 75 configs/gpt2_gqa.py --micro_batch_size=64 --variants=moe ;;
    2b) bench 2b 110 configs/gpt_2b.py --micro_batch_size=8 ;;
    2b_fp8) bench 2b_fp8 110 configs/gpt_2b.py --micro_batch_size=8 --fp8=True ;;
    *) echo "unknown part $part" ;;
  esac
done

python3 - "$results" <<'EOF' | tee "$results/table.txt"
import json
import sys
from pathlib import Path

results = Path(sys.argv[1])
# GPU_BASELINE.md: one H200, torch 2.11 + CUDA 13, bf16 + compile, 2026-11-28 (ms/step, tokens/s, TFLOP/s, GB)
BASELINE = {
    "gpt2": ("GPT-2 124M (gpt2_l4), 64", 125.2, 523424, 447.7, 43.8),
    "gqa": ("RoPE+GQA 113M (gpt2_gqa), 64", 126.0, 520002, 411.6, 44.4),
    "moe_top1": ("MoE 8 experts top-1, 64", 200.4, 327095, 259.1, 78.9),
    "moe": ("MoE 8 experts top-2, 64", 270.8, 241994, 274.0, 91.0),
    "2b": ("2.3B bf16 (gpt_2b), 8", 233.8, 35039, 521.1, 60.3),
    "2b_fp8": ("2.3B fp8, 8 (vs bf16 base)", 233.8, 35039, 521.1, 60.3),
}
now = {}
for name in BASELINE:
    path = results / f"bench_{name}.json"
    now[name] = json.loads(path.read_text())[0] if path.exists() else None


def number(value, width, spec=".1f"):
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


header = f"{'model':<30} {'ms/step':>16} {'tokens/s':>21} {'x':>5} {'TFLOP/s':>14} {'peak GB':>12}"
print(header)
print("-" * len(header))
for name, (label, ms, tokens, tflops, memory) in BASELINE.items():
    r = now[name] or {}
    speedup = r["tokens_per_s"] / tokens if r else None
    print(
        f"{label:<30} {ms:>6.1f} -> {number(r.get('step_ms'), 6)} {tokens:>9,} -> {number(r.get('tokens_per_s'), 8, ',.0f')} "
        f"{number(speedup, 5, '.2f')} {tflops:>5.1f} -> {number(r.get('tflops'), 5)} "
        f"{memory:>4.1f} -> {number(r.get('peak_memory_gb'), 4)}"
    )


def target(text, value, goal, at_least=True):
    met = "-" if value is None else ("met" if (value >= goal if at_least else value <= goal) else "NOT met")
    print(f"target {text:<50} {number(value, 10, '.3f')}  {met}")


def get(name, field):
    return now[name][field] if now[name] and now[name].get(field) is not None else None


def ratio(a, b):
    return None if a is None or b is None else a / b


print()
target("GPT-2 124M tokens/s >= 580,000", get("gpt2", "tokens_per_s"), 580000)
target("GPT-2 124M peak memory at batch 64 <= 32 GB", get("gpt2", "peak_memory_gb"), 32, at_least=False)
target("MoE top-1 step / dense step <= 1.25", ratio(get("moe_top1", "step_ms"), get("gqa", "step_ms")), 1.25, False)
target("MoE top-2 TFLOP/s / dense TFLOP/s >= 0.80", ratio(get("moe", "tflops"), get("gqa", "tflops")), 0.80)
target("2.3B fp8 tokens/s / bf16 tokens/s >= 1.25", ratio(get("2b_fp8", "tokens_per_s"), get("2b", "tokens_per_s")), 1.25)

# issue 28: the new block beside the GPT-2 block, the same shape (depth 12: 12 x 768, 6 heads), Muon; no baseline yet
blocks = {}
for part, prefix in (("block", ""), ("block_paying", "paying_")):
    path = results / f"bench_{part}.json"
    blocks.update({prefix + r["variant"]: r for r in json.loads(path.read_text())} if path.exists() else {})
print(f"\n{'blocks at depth 12, batch 64':<30} {'ms/step':>8} {'tokens/s':>10} {'MFU %':>6} {'peak GB':>8}")
rows = (("gpt2_block", "GPT-2 block"), ("config", "new block (speedrun.py)"), ("paying_config", "its paying toggles"))
for variant, label in rows:
    r = blocks.get(variant, {})
    mfu = None if r.get("mfu") is None else 100 * r["mfu"]
    print(
        f"{label:<30} {number(r.get('step_ms'), 8)} {number(r.get('tokens_per_s'), 10, ',.0f')} "
        f"{number(mfu, 6)} {number(r.get('peak_memory_gb'), 8)}"
    )
for variant, label in rows[1:]:
    speed = ratio(blocks.get(variant, {}).get("tokens_per_s"), blocks.get("gpt2_block", {}).get("tokens_per_s"))
    print(f"{label} tokens/s / GPT-2 block tokens/s: {number(speed, 6, '.3f')}")
EOF
