# The logbook's first run: a 2-layer, 2-head, 384-wide GPT with GPT-2's vocabulary on a local text file
# (a Spanish Bible). Untied embeddings, lr 6e-5, block 256, batch 64.
# Sized for: one small GPU (T4/L4) or a CPU; prepare the text first:
#   python prepare_text.py biblia.txt --out data/biblia
# Command: python train.py configs/first_bible.py
# Parameters: 42.28M (logbook: 42.31M)
# Logbook result: the first loss curves and samples of the project; no benchmark figure reported.
out_dir = "out/first_bible"
data_dir = "data/biblia"
n_layer = 2
n_head = 2
n_embd = 384
block_size = 256
vocab_size = 50304
tie_embeddings = False
dropout = 0.0
micro_batch_size = 64
total_batch_tokens = 64 * 256  # no accumulation
learning_rate = 6e-5
min_lr = 6e-6
warmup_iters = 100
max_iters = 5000
lr_decay_iters = 5000
eval_interval = 250
log_interval = 10
checkpoint_interval = 500
sample_interval = 500
