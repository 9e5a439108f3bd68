# The dense comparison for the MoE run: a RoPE + GQA model of the same ~0.5B total parameters as configs/moe.py
# (32 layers, 1152 wide, 18 query / 6 key-value heads). The logbook does not record the dense model's shape;
# this one matches the MoE's total parameter count.
# Sized for: 8x H100 80 GB (micro-batch 16 x 1024 per GPU, accumulation 4)
# Command: torchrun --standalone --nproc_per_node=8 train.py configs/dense_500m.py
# Parameters: 511.37M (logbook: ~500M)
# Logbook result: not reported.
out_dir = "out/dense_500m"
data_dir = "data/fineweb_edu10B"
pos_emb = "rope"
n_layer = 32
n_embd = 1152
n_head = 18
n_kv_head = 6
micro_batch_size = 16
total_batch_tokens = 524288
max_iters = 19073
lr_decay_iters = 19073
learning_rate = 3e-4
min_lr = 3e-5
eval_interval = 250
checkpoint_interval = 1000
hellaswag_interval = 1000
