# The demo's model (4 layers, 4 heads) on Python's standard library in a BPE of 8192 tokens trained on it
# (~3.0M tokens), narrowed to 64 wide and 64 tokens of context so that a CPU runs comparisons in minutes. Until
# 2026-12-07 it read GPT-2's tokens (data/python_stdlib, 50304 x 64 = 3.22M of its 3.42M parameters); at equal
# wall-clock the trained tokenizer's model ends 0.66 bits per byte lower (configs/tokenizer_study.py, LOGBOOK.md).
# configs/muon_stdlib_study.py keeps GPT-2's tokens, as its logbook figures were. Prepare the data first (the .py
# files of the standard library, tests left out; the tokenizer is trained on them first):
#   python prepare_text.py $(find $(python -c "import sysconfig; print(sysconfig.get_path('stdlib'))") \
#       -name "*.py" -not -path "*/site-packages/*" -not -path "*/test/*" -not -path "*/tests/*" \
#       -not -path "*/idlelib/*" | sort) --tokenizer bpe --vocab_size 8192 --out data/python_stdlib_bpe8192
# (--out data/python_stdlib without the --tokenizer flags for GPT-2's tokens, with --vocab_size=50304)
# Sized for: 1 CPU core, ~1 minute (200 steps of 512 tokens); uses a GPU when there is one.
# Command: python train.py configs/demo.py configs/python_stdlib.py
# Parameters: 0.73M
# Logbook result: GPT-2's tokenizer against BPEs at equal wall-clock, LOGBOOK.md 2026-12-07 (tokenizer_study.py)
out_dir = "out/python_stdlib"
data_dir = "data/python_stdlib_bpe8192"
vocab_size = 8192  # the tokenizer's own size, end-of-text included (the demo: bytes)
block_size = 64
n_embd = 64
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
