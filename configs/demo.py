# The offline demo: a small byte-level GPT on the Python documentation that ships with Python
# (pydoc_data.topics, prepared into data/python_docs on first use), trained with the repository's best recipe
# for it: Muon + warmup-stable-decay at the LRs the LOGBOOK's study tuned on this model and corpus.
# Sized for: 2 CPU cores, ~1.5 minutes; uses a GPU when there is one.
# Command: python train.py configs/demo.py   (make demo also samples from it)
# Parameters: 0.84M
# Logbook result: val loss 1.44 nats/byte after 375 steps (AdamW + cosine, the demo until 2026-12-01: 2.08 after
# 450), LOGBOOK.md 2026-12-01
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
optimizer = "muon"  # Muon for the attention and MLP matrices, AdamW at learning_rate for the rest
muon_lr = 0.02  # the best of 0.01, 0.02, 0.04 here (LOGBOOK.md, Muon + wsd)
learning_rate = 2e-3  # the best AdamW LR here, for the AdamW part
min_lr = 2e-4
lr_schedule = "wsd"  # the peak after the warmup, then a linear decay over the last fifth (decay_fraction)
max_iters = 375  # a Muon step costs ~1.2x an AdamW one on a CPU: 375 take about the time 450 of AdamW took
warmup_iters = 50
lr_decay_iters = max_iters  # unused by wsd; kept equal for an AdamW + cosine comparison (--lr_schedule=cosine)
eval_interval = 125
eval_iters = 10
log_interval = 25
checkpoint_interval = max_iters
compile = False  # compiling takes longer than this whole run on a CPU
