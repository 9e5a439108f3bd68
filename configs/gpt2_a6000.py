# GPT-2 124M from scratch on OpenWebText on one 48 GB RTX A6000: the recipe of configs/gpt2_l4.py with
# accumulation 5 instead of 40 (micro-batch 12, 61,440 tokens per step) and a longer run.
# Sized for: one RTX A6000; prepare the data first: python prepare_openwebtext.py
# Command: python train.py configs/gpt2_l4.py configs/gpt2_a6000.py
# Parameters: 124.48M (logbook: 124M)
# Logbook result: no benchmark figure reported for this run.
out_dir = "out/gpt2_a6000"
total_batch_tokens = 12 * 1024 * 5
max_iters = 100000
lr_decay_iters = 100000
eval_interval = 1000
checkpoint_interval = 1000
