"""
Speed of full training steps (forward, backward, optimizer) for a config, on random tokens.

    python bench.py configs/gpt2_gqa.py                                  # the config as it is
    python bench.py configs/gpt2_gqa.py --micro_batch_size=auto --compile=both
    python bench.py configs/gpt2_gqa.py --variants=learned,rope,mha,gqa,dense,moe_top1,moe --json bench.json

Prints tokens/s, ms per step, MFU against the device's bf16 peak and peak memory for each variant, as a table and
as JSON. MFU uses model.flops_per_token(), the count train.py logs. Timing starts after warm-up steps (which
also absorb torch.compile) and uses CUDA events on GPU.
"""

import json
import sys
import time
from dataclasses import replace

import torch

from gptkit.command_line import OneLineParser
from gptkit.config import TrainConfig, load_config
from gptkit.distributed import setup_run
from gptkit.errors import UserError, run_main
from gptkit.model_parts.fp8 import check_fp8, convert_to_fp8
from gptkit.model_parts.losses import check_cross_entropy
from gptkit.training.metrics import estimate_mfu
from gptkit.training.micro_batch import find_micro_batch_size, random_batch
from gptkit.training.optim import build_optimizer
from model import GPT, GPTConfig

# Model changes compared in one run. "moe_top1" has the dense model's active parameters per token.
VARIANTS = {
    "config": {},
    "learned": {"pos_emb": "learned"},
    "rope": {"pos_emb": "rope"},
    "mha": {"n_kv_head": None},
    "gqa": {"n_kv_head": "n_head/4"},
    "dense": {"n_expert": 0},
    "moe_top1": {"n_expert": 8, "n_expert_active": 1},
    "moe": {"n_expert": 8, "n_expert_active": 2},
    # the block toggles of issue 28 at GPT-2's values (docs/block.md), beside a config that turns them on
    "gpt2_block": {
        "norm": "layernorm",
        "norm_weights": True,
        "qk_norm": False,
        "mlp_activation": "gelu",
        "mlp_width": None,
        "logit_softcap": 0.0,
        "embedding_norm": False,
        "residual_scalars": False,
        "value_embeddings": False,
    },
}


def variant_config(model_config, name):
    if name not in VARIANTS:
        raise UserError(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
    changes = dict(VARIANTS[name])
    if changes.get("n_kv_head") == "n_head/4":
        changes["n_kv_head"] = max(1, model_config.n_head // 4)
    if "n_kv_head" in changes and changes["n_kv_head"] is None:
        changes["n_kv_head"] = model_config.n_head
    return replace(model_config, **changes)


def time_training_steps(model, optimizer, batch_size, run, warmup_steps, steps):
    """Mean seconds per training step after warmup_steps, and the peak memory in GB (None off CUDA)."""
    x, y = random_batch(batch_size, model.config.block_size, model.config.vocab_size, run.device)

    def step():
        with run.autocast():
            _, loss = model(x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup_steps):
        step()
    if run.device_type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(run.device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(steps):
            step()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000 / steps, torch.cuda.max_memory_allocated(run.device) / 1e9
    begin = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - begin) / steps, None


def bench_variant(model_config, cfg, variant, compile_model, run, warmup_steps, steps):
    torch.manual_seed(cfg.seed)
    with torch.device(run.device):  # built in place: a 2.3B model initialises in seconds on a GPU, not on the CPU
        model = GPT(variant_config(model_config, variant)).use_cross_entropy(cfg.cross_entropy)
    if cfg.fp8:
        convert_to_fp8(model, run)
    micro_batch_size = cfg.micro_batch_size
    if micro_batch_size == "auto":
        micro_batch_size = find_micro_batch_size(model, cfg, run)
    optimizer = build_optimizer(model.named_parameters(), cfg, run.device_type)  # the config's AdamW or Muon
    runnable = torch.compile(model) if compile_model else model
    step_s, memory_gb = time_training_steps(runnable, optimizer, micro_batch_size, run, warmup_steps, steps)
    tokens_per_s = micro_batch_size * model.config.block_size / step_s
    flops_per_token = model.flops_per_token()
    mfu = estimate_mfu(flops_per_token, tokens_per_s, run.device_name)
    return {
        "variant": variant,
        "compile": compile_model,
        "device": run.device_name,
        "dtype": run.dtype,
        "micro_batch_size": micro_batch_size,
        "block_size": model.config.block_size,
        "params": model.num_params()["total"],
        "active_params": model.num_params()["active"],
        "flops_per_token": flops_per_token,
        "step_ms": 1000 * step_s,
        "tokens_per_s": tokens_per_s,
        "tflops": flops_per_token * tokens_per_s / 1e12,
        "mfu": mfu,
        "peak_memory_gb": memory_gb,
    }


def print_table(results):
    header = (
        f"{'variant':<10} {'compile':<8} {'batch':>5} {'params':>9} {'ms/step':>9} {'tokens/s':>11} "
        f"{'TFLOP/s':>8} {'MFU':>6} {'memory':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "-"
        memory = f"{r['peak_memory_gb']:.1f} GB" if r["peak_memory_gb"] is not None else "-"
        print(
            f"{r['variant']:<10} {str(r['compile']):<8} {r['micro_batch_size']:>5} {r['params'] / 1e6:>8.1f}M "
            f"{r['step_ms']:>9.1f} {r['tokens_per_s']:>11,.0f} {r['tflops']:>8.2f} {mfu:>6} {memory:>8}"
        )


def main(argv):
    parser = OneLineParser("bench.py", __doc__)
    parser.add_argument("config", nargs="*", help="config files and --key=value overrides, as for train.py")
    parser.add_argument("--variants", default="config", help=f"comma-separated, from: {', '.join(VARIANTS)}")
    parser.add_argument("--compile", default=None, choices=["on", "off", "both"], help="default: the config's")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation happens here)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--json", help="also write the results to this file")
    args, overrides = parser.parse_known_args(argv)
    model_config, cfg = load_config(args.config + overrides, GPTConfig, TrainConfig)
    run = setup_run(cfg.device, cfg.dtype)
    check_cross_entropy(cfg.cross_entropy, run.device_type)
    if cfg.fp8:
        check_fp8(run)
    compile_modes = {"on": [True], "off": [False], "both": [False, True], None: [cfg.compile]}[args.compile]
    results = []
    for variant in args.variants.split(","):
        for compile_model in compile_modes:
            results.append(bench_variant(model_config, cfg, variant, compile_model, run, args.warmup, args.steps))
    print_table(results)
    print(json.dumps(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
