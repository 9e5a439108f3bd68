# GPT-2 124M (12 layers, 768 wide, rotary positions) on FineWeb-edu 10B with the faster recipe of the public
# NanoGPT speedrun (github.com/KellerJordan/modded-nanogpt): Muon for the hidden matrices, AdamW for the rest,
# a warmup-stable-decay schedule, and half of GPT-2's 10B-token budget (5B tokens, 9,537 steps of 0.5M).
# Expected, as reported by the speedrun's record table (not yet measured by us): 3.28 val loss on the FineWeb
# validation set (llm.c's AdamW GPT-2 needs 45 min and 10B tokens on 8xH100 for it; the records that add Muon
# to a GPT-2-shaped model need 24.9 min (10/04/24) and 22.3 min (10/11/24)). Our loss is measured on FineWeb-edu,
# a different validation set, and our trainer has no FP8 or FlexAttention: time and loss are ours to measure.
# Sized for: 8x H100 80 GB (micro-batch 64 x 1024 tokens per GPU, no accumulation); prepare the data first:
# python prepare_fineweb.py
# Command: torchrun --standalone --nproc_per_node=8 train.py configs/speedrun_124m.py
# Parameters: 123.69M (GPT-2 124M without the learned position table)
# Logbook result: not run yet; the recipe's gain on our own data is LOGBOOK.md 2026-11-28 (CPU, small models).
out_dir = "out/speedrun_124m"
data_dir = "data/fineweb_edu10B"
pos_emb = "rope"
micro_batch_size = 64
total_batch_tokens = 8 * 64 * 1024  # 524,288 tokens per step on 8 GPUs
max_iters = 9537  # 5B tokens
optimizer = "muon"
muon_lr = 0.02
learning_rate = 1.8e-3  # AdamW's part: embeddings, LayerNorms, biases (3x GPT-2's 6e-4; our choice, untuned)
min_lr = 1.8e-4
lr_schedule = "wsd"
warmup_iters = 200
decay_fraction = 0.2
lr_decay_iters = 9537
eval_interval = 250
eval_iters = 20
checkpoint_interval = 1000
hellaswag_interval = 1000
