# RoPE + grouped-query attention (16 query heads, 4 key/value heads, 768 wide, 12 layers) on FineWeb-edu 10B:
# one epoch of ~10B tokens at 0.5M tokens per step, cosine 6e-4 -> 6e-5, HellaSwag every 1000 steps.
# Sized for: 8x H100 80 GB (micro-batch 64 x 1024 tokens per GPU, no accumulation)
# prepare the data first: python prepare_fineweb.py
# Command: torchrun --standalone --nproc_per_node=8 train.py configs/gpt2_gqa.py
# Parameters: 113.06M (logbook: 113M)
# Logbook result: HellaSwag acc_norm 32.03% (OpenAI GPT-2 124M: 29.55%)
out_dir = "out/gpt2_gqa"
data_dir = "data/fineweb_edu10B"
pos_emb = "rope"
rope_theta = 10000.0
n_head = 16
n_kv_head = 4
micro_batch_size = 64
total_batch_tokens = 524288
max_iters = 19073
lr_decay_iters = 19073
warmup_iters = 2000
eval_interval = 250
checkpoint_interval = 1000
hellaswag_interval = 1000
