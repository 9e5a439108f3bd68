# The offline demo: a small byte-level GPT on the Python documentation that ships with Python
# (pydoc_data.topics, prepared into data/python_docs on first use).
# Sized for: 2 CPU cores, ~1.5 minutes; uses a GPU when there is one.
# Command: python train.py configs/demo.py   (make demo also samples from it)
# Parameters: 0.84M
# Logbook result: not part of the logbook; our 2-core CPU figures are in LOGBOOK.md
out_dir = "out/demo"
data_dir = "data/python_docs"
vocab_size = 257  # bytes + end-of-text
block_size = 128
n_layer = 4
n_head = 4
n_embd = 128
dropout = 0.0
total_batch_tokens = 16 * 128  # 16 sequences of 128 bytes per step, no accumulation
micro_batch_size = 16
max_iters = 450
learning_rate = 2e-3
min_lr = 2e-4
warmup_iters = 50
lr_decay_iters = 450
eval_interval = 150
eval_iters = 10
log_interval = 25
checkpoint_interval = 450
compile = False  # compiling takes longer than this whole run on a CPU
