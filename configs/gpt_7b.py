# ~7B parameters: 32 layers, 4096 wide, 32 heads, RoPE, untied embeddings, 4096-token context, on FineWeb-edu.
# Sized for: 2 nodes x 8 H100 80 GB with FSDP + activation checkpointing: micro-batch 4 x 4096 per GPU,
# accumulation 4 (16 GPUs x 4 x 4096 x 4 = 1M tokens a step); planned at 61.6 GB per GPU of the 72 GB it allows
# (python model.py configs/gpt_7b.py --gpus 16 --gpu_memory 80); DDP would need 110 GB per GPU before activations.
# Command: torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d --rdzv-endpoint=HOST train.py configs/gpt_7b.py
# Parameters: 6856.25M
# Logbook result: not run yet (no GPU in the session that wrote it).
out_dir = "out/gpt_7b"
data_dir = "data/fineweb_edu10B"
pos_emb = "rope"
n_layer = 32
n_embd = 4096
n_head = 32
block_size = 4096
tie_embeddings = False
parallelism = "fsdp"
activation_checkpointing = True
init_from = "auto"
micro_batch_size = 4
total_batch_tokens = 1048576
learning_rate = 1.5e-4
min_lr = 1.5e-5
warmup_iters = 2000
max_iters = 9537
lr_decay_iters = 9537
eval_interval = 250
checkpoint_interval = 250
