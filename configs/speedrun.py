# The block the speedruns converged on (docs/block.md), sized by one number, depth (the depth dial:
# gptkit/model_parts/depth_dial.py, karpathy/nanochat's rules), on FineWeb-edu 10B. Depth 12 is GPT-2 124M's
# shape (12 layers, 768 wide; here 6 heads of 128): 12 tokens per scaling parameter, 2,828 steps of 0.5M tokens
# (1.5B tokens), Muon at 0.02, AdamW's embedding / head / scalars at 0.3 / 0.008 / 0.005.
# The block: rotary positions, RMSNorm without gains (also on the embeddings), QK-norm, ReLU², logit soft-capping
# at 15, zero-initialised output projections, per-layer residual scalars, value embeddings, untied embeddings;
# Muon + warmup-stable-decay with nanochat's warmup (40 steps) and decay (the last 65%, to 5% of each peak).
# `python model.py --depths 4,8,12,20,26 configs/speedrun.py` prints what each depth derives.
# Sized for: 8x H100 80 GB (micro-batch 64 x 1024 tokens per GPU, no accumulation at depth 12); prepare the data
# first: python prepare_fineweb.py
# Command: torchrun --standalone --nproc_per_node=8 train.py configs/speedrun.py   (--depth=20 re-derives the rest)
# Parameters: 394.00M (depth 12: a token multiplies 123.6M; the rest are lookups, the 38.6M token embedding and
# 231.8M of value embeddings, six tables of 50304 x 768)
# Logbook result: not run yet; the block's CPU ablation is configs/block_ablation_study.py.
depth = 12
out_dir = "out/speedrun"
data_dir = "data/fineweb_edu10B"
block_size = 1024
pos_emb = "rope"
bias = False
tie_embeddings = False
norm = "rmsnorm"
norm_weights = False
qk_norm = True
mlp_activation = "relu2"
logit_softcap = 15.0
zero_init_proj = True
embedding_norm = True
residual_scalars = True
value_embeddings = True
micro_batch_size = 64
optimizer = "muon"
lr_schedule = "wsd"
decay_fraction = 0.65
eval_interval = 250
eval_iters = 20
checkpoint_interval = 1000
hellaswag_interval = 1000
