# The RoPE theta study at CPU size: configs/python_stdlib.py's model (4 layers, 4 heads of 16, GPT-2 tokens of
# Python's standard library) with RoPE, trained at 64 and 256 tokens of context with rope_theta 100, 1e4 and 1e6
# (Men et al.'s bound for head size 16: ~1.7e3 at 64 tokens, ~8.6e3 at 256: each length has a theta below it and
# one above), Muon + wsd, 512 tokens per step at both lengths; then each run evaluated to 4x its length with every
# RoPE scaling, and the report (docs/rope_theta_cpu_study/report.md is its output).
# Sized for: 2 CPU cores, ~4 minutes per run (6 runs of 300 steps), ~2 minutes per evaluation
# Command: python study.py run configs/rope_theta_cpu_study.py && python study.py report configs/rope_theta_cpu_study.py
# Parameters: 3.42M
# Logbook result: LOGBOOK.md 2026-12-01 (study.py): docs/rope_theta_cpu_study/report.md
configs = ["configs/demo.py", "configs/python_stdlib.py"]
settings = dict(
    pos_emb="rope", total_batch_tokens=512, max_iters=300, lr_decay_iters=300, warmup_iters=20, seed=1337,
    optimizer="muon", lr_schedule="wsd", learning_rate=2e-3, min_lr=2e-4, muon_lr=0.01,  # the best recipe here
    eval_interval=50, eval_iters=5, log_interval=10, checkpoint_interval=100, sample_interval=0, compile=False,
)  # fmt: skip
grid = {"block_size": [64, 256], "rope_theta": [100.0, 1e4, 1e6]}
derived = {"micro_batch_size": lambda block_size: 512 // block_size}  # 8 x 64 = 2 x 256 tokens per step
run_name = "ctx{block_size}_theta{rope_theta}"
table = ["rope_theta", "block_size"]
evaluation = {
    "windows": 16,
    "windows_from": "docs",
    "lengths": "1x,2x,4x",
    "rope_scaling": ["none", "linear", "dynamic", "yarn"],
    "probe_trials": 8,
    "passkey_trials": 4,
}
evaluation_name = "long_context"
title = "RoPE theta at two context lengths (CPU-sized)"
