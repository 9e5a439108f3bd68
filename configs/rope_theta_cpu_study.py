# The RoPE theta study at CPU size, with models that have reason to read far back: a byte-level RoPE model (4
# layers, 2 heads of 32) at 256 tokens of context, trained on Python's standard library with half of the training
# tokens synthetic retrieval documents (key-value lists queried later, repeated lines; gptkit/data/
# retrieval_documents.py), at rope_theta 500 (below Men et al.'s bound for head size 32 at 256 tokens, ~2.2e3:
# B(m) < 0 from m = 103), 1e4 and 1e6 (above it), two seeds each; then each run evaluated to 4x its length with
# every RoPE scaling and the retrieval probe by distance, and the report with its Predictions
# (docs/rope_theta_cpu_study/report.md is its output). Prepare the data first (the standard library's .py files,
# tests left out, as bytes; the validation split stays real text):
#   python prepare_text.py $(find $(python -c "import sysconfig; print(sysconfig.get_path('stdlib'))") \
#       -name "*.py" -not -path "*/site-packages/*" -not -path "*/test/*" -not -path "*/tests/*" \
#       -not -path "*/idlelib/*" | sort) --tokenizer bytes --retrieval_share 0.5 --retrieval_max_distance 256 \
#       --out data/python_stdlib_retrieval
# Sized for: 2 CPU cores, 6 runs of 4000 steps of 2048 tokens: 20-34 min a run on one thread of an AVX2-only CPU
# beside other work (2.5 h of training, two runs at a time: 2026-12-07), then ~2 min of evaluation a run
# Command: python study.py run configs/rope_theta_cpu_study.py && python study.py report configs/rope_theta_cpu_study.py
# Parameters: 0.217M
# Logbook result: LOGBOOK.md 2026-12-07: bases tie inside L, loss past L grows with the base, no retrieval learned
configs = ["configs/demo.py"]
settings = dict(
    data_dir="data/python_stdlib_retrieval", pos_emb="rope", n_layer=4, n_head=2, n_embd=64,
    micro_batch_size=8, total_batch_tokens=8 * 256, max_iters=4000, lr_decay_iters=4000, warmup_iters=50,
    eval_interval=500, eval_iters=10, log_interval=50, checkpoint_interval=1000, sample_interval=0, compile=False,
)  # fmt: skip
grid = {"block_size": [256], "rope_theta": [500.0, 1e4, 1e6]}
seeds = [1337, 1338]
run_name = "ctx{block_size}_theta{rope_theta}"
table = ["rope_theta", "block_size"]
evaluation = {
    "windows": 16,
    "windows_from": "docs",
    "lengths": "1x,2x,4x",
    "rope_scaling": ["none", "linear", "dynamic", "yarn"],
    "probe_trials": 8,
    "retrieval_trials": 32,
}
evaluation_name = "long_context"
title = "RoPE theta at 256 tokens, with retrieval to learn (CPU-sized)"
