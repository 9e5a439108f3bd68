# A tiny GPT-2-tokenized model on Python's standard library (~5.3M tokens), for optimizer comparisons on a CPU.
# Prepare the data first (the .py files of the standard library, tests left out):
#   python prepare_text.py $(find $(python -c "import sysconfig; print(sysconfig.get_path('stdlib'))") \
#       -name "*.py" -not -path "*/site-packages/*" -not -path "*/test/*" -not -path "*/tests/*" \
#       -not -path "*/idlelib/*" | sort) --out data/python_stdlib
# Sized for: 2 CPU cores, ~3 minutes (200 steps of 512 tokens); uses a GPU when there is one.
# Command: python train.py configs/python_stdlib.py
# Parameters: 3.42M
# Logbook result: AdamW + cosine vs Muon + wsd, LOGBOOK.md 2026-11-28 (configs/muon_study.sh)
out_dir = "out/python_stdlib"
data_dir = "data/python_stdlib"
block_size = 64
n_layer = 4
n_head = 4
n_embd = 64
dropout = 0.0
total_batch_tokens = 8 * 64  # 8 sequences of 64 tokens per step, no accumulation
micro_batch_size = 8
max_iters = 200
learning_rate = 4e-3
min_lr = 4e-4
warmup_iters = 20
lr_decay_iters = 200
eval_interval = 20
eval_iters = 5
log_interval = 5
checkpoint_interval = 0
compile = False
