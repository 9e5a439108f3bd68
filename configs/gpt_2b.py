# The largest model of the logbook: ~2.3B parameters (28 layers, 2560 wide, 20 heads, RoPE) on FineWeb-edu.
# Sized for: 8x H100 80 GB (micro-batch 4 x 1024 per GPU, accumulation 16); multi-node with torchrun --nnodes.
# DDP (the default, as run in the logbook): 37 GB of weights, gradients and AdamW state on every GPU, 58 GB in all
# by the memory plan. FSDP (--parallelism=fsdp): that state sharded to 4.7 GB per GPU, 32 GB in all by the plan;
# --micro_batch_size=8 (48 GB, accumulation 8), or 16 with --activation_checkpointing=True (33 GB, accumulation 4).
# Plan: python model.py configs/gpt_2b.py --gpus 8 --gpu_memory 80. Checkpoints: DDP out_dir/ckpt.pt, FSDP ckpt/.
# Command: torchrun --standalone --nproc_per_node=8 train.py configs/gpt_2b.py
# Parameters: 2331.72M (logbook: 2.3B)
# Logbook result: not reported.
out_dir = "out/gpt_2b"
data_dir = "data/fineweb_edu10B"
pos_emb = "rope"
n_layer = 28
n_embd = 2560
n_head = 20
micro_batch_size = 4
total_batch_tokens = 524288
learning_rate = 2e-4
min_lr = 2e-5
max_iters = 19073
lr_decay_iters = 19073
eval_interval = 250
checkpoint_interval = 500
