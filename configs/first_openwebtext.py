# The logbook's second run: the same 2-layer, 2-head, 384-wide GPT (untied, block 256, batch 64, lr 6e-5)
# on OpenWebText.
# Sized for: one T4/L4; prepare the data first: python prepare_openwebtext.py
# Command: python train.py configs/first_openwebtext.py
# Parameters: 42.28M (logbook: 42.31M)
# Logbook result: no benchmark figure reported for this run.
out_dir = "out/first_openwebtext"
data_dir = "data/openwebtext"
n_layer = 2
n_head = 2
n_embd = 384
block_size = 256
vocab_size = 50304
tie_embeddings = False
micro_batch_size = 64
total_batch_tokens = 64 * 256
learning_rate = 6e-5
min_lr = 6e-6
warmup_iters = 100
max_iters = 20000
lr_decay_iters = 20000
eval_interval = 500
checkpoint_interval = 1000
