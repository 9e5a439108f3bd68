# The RoPE theta study: the 113M RoPE + GQA model at one context length and theta. The study trains it at
# 1024, 4096 and 8192 context with theta 1e4, 1e5, 5e5, 2e6 and 1e7: configs/rope_theta_study.py (python study.py
# run configs/rope_theta_study.py) runs all 15 with flags (--block_size, --rope_theta, ...) on top of this file.
# Sized for: 8x H100 80 GB; 0.5M tokens per step at every context length
# Command: torchrun --standalone --nproc_per_node=8 train.py configs/rope_theta.py --block_size=4096 --rope_theta=5e5
# Parameters: 113.06M (logbook: 113M)
# Logbook result: figures of the study not reported in the logbook.
out_dir = "out/rope_theta"
data_dir = "data/fineweb_edu10B"
pos_emb = "rope"
n_head = 16
n_kv_head = 4
block_size = 1024
rope_theta = 10000.0
micro_batch_size = 64  # 64 x 1024 = 16 x 4096 = 8 x 8192 tokens per GPU
total_batch_tokens = 524288
max_iters = 19073
lr_decay_iters = 19073
eval_interval = 250
checkpoint_interval = 1000
