# Mixture of Experts: the 113M RoPE + GQA model with each MLP replaced by 8 experts, 2 active per token
# (top-2 routing, load-balancing loss 0.01), on FineWeb-edu 10B.
# Sized for: 8x H100 80 GB (micro-batch 32 x 1024 per GPU, accumulation 2)
# Command: torchrun --standalone --nproc_per_node=8 train.py configs/moe.py
# Parameters: 509.82M (logbook: ~500M; 169.8M active per token)
# Logbook result: HellaSwag acc_norm 39.54%
out_dir = "out/moe"
data_dir = "data/fineweb_edu10B"
pos_emb = "rope"
n_head = 16
n_kv_head = 4
n_expert = 8
n_expert_active = 2
moe_aux_loss_coef = 0.01
micro_batch_size = 32
total_batch_tokens = 524288
max_iters = 19073
lr_decay_iters = 19073
eval_interval = 250
checkpoint_interval = 1000
hellaswag_interval = 1000
