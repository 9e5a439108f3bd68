# The demo's model (4 layers, 4 heads) on GPT-2 tokens of Python's standard library (~5.3M tokens), narrowed
# to 64 wide and 64 tokens of context so that a CPU runs the optimizer comparisons of configs/muon_stdlib_study.py.
# Prepare the data first (the .py files of the standard library, tests left out):
#   python prepare_text.py $(find $(python -c "import sysconfig; print(sysconfig.get_path('stdlib'))") \
#       -name "*.py" -not -path "*/site-packages/*" -not -path "*/test/*" -not -path "*/tests/*" \
#       -not -path "*/idlelib/*" | sort) --out data/python_stdlib
# Sized for: 2 CPU cores, ~3 minutes (200 steps of 512 tokens); uses a GPU when there is one.
# Command: python train.py configs/demo.py configs/python_stdlib.py
# Parameters: 3.42M
# Logbook result: AdamW + cosine vs Muon + wsd, LOGBOOK.md 2026-11-28 (configs/muon_stdlib_study.py)
out_dir = "out/python_stdlib"
data_dir = "data/python_stdlib"
vocab_size = 50304  # GPT-2's tokens, padded (the demo: bytes)
block_size = 64
n_embd = 64  # the 50304 x 64 token embedding is most of the parameters and, as the output head, of the compute
total_batch_tokens = 8 * block_size  # 8 sequences per step, no accumulation
micro_batch_size = 8
optimizer = "adamw"  # the study's baseline, AdamW + cosine, whatever demo.py trains with (Muon + wsd)
lr_schedule = "cosine"
max_iters = 200
lr_decay_iters = max_iters
learning_rate = 2e-3  # the best of 1e-3, 2e-3, 4e-3 for AdamW + cosine (LOGBOOK.md)
min_lr = learning_rate / 10
warmup_iters = 20
eval_interval = 20  # often, to read off the step at which a run reaches a given validation loss
eval_iters = 5
log_interval = 5
checkpoint_interval = 0
