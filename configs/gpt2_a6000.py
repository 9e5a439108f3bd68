# GPT-2 124M from scratch on OpenWebText on one 48 GB RTX A6000: micro-batch 12, accumulation 5 (61,440 tokens
# per step), cosine 6e-4 -> 6e-5.
# Sized for: one RTX A6000; prepare the data first: python prepare_openwebtext.py
# Command: python train.py configs/gpt2_a6000.py
# Parameters: 124.48M (logbook: 124M)
# Logbook result: no benchmark figure reported for this run.
out_dir = "out/gpt2_a6000"
data_dir = "data/openwebtext"
micro_batch_size = 12
total_batch_tokens = 12 * 1024 * 5
learning_rate = 6e-4
min_lr = 6e-5
warmup_iters = 2000
max_iters = 100000
lr_decay_iters = 100000
eval_interval = 1000
checkpoint_interval = 1000
