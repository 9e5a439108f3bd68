# RoPE past the training length, on CPU: configs/python_stdlib.py's corpus and model (4 layers, 64 wide) with
# RoPE at 128 tokens of context, trained with Muon + wsd (the repository's best recipe for it), then read to 4x
# that length by evaluate.py with each RoPE scaling. Variants (flags after the command below):
#   --pos_emb=learned --out_dir=out/longctx/learned128          the learned-position control;
#   --init_from=resume --out_dir=out/longctx/rope512_yarn --block_size=512 --rope_scaling=yarn
#   --rope_scaling_factor=4 --micro_batch_size=1 --max_iters=360 --lr_decay_iters=360 --eval_interval=20
#   --checkpoint_interval=360                                   60 more steps at 4x the context (copy ckpt.pt there).
# Sized for: 2 CPU cores, ~45 minutes on a machine shared by four (300 steps of 4 x 128 tokens, 154k tokens, about
# 9 s a step); uses a GPU when there is one.
# Command: python train.py configs/demo.py configs/python_stdlib.py configs/python_stdlib_rope128.py
# Parameters: 3.42M (3.22M of them the tied 50304 x 64 embedding)
# Logbook result: LOGBOOK.md 2026-12-01 (RoPE past block_size, RoPE scaling, evaluate.py)
out_dir = "out/longctx/rope128"
data_dir = "data/python_stdlib"  # GPT-2's tokens, as the logbook's runs read (python_stdlib.py moved to a BPE)
vocab_size = 50304
pos_emb = "rope"
block_size = 128
micro_batch_size = 4
total_batch_tokens = 4 * block_size
max_iters = 300
lr_decay_iters = max_iters
warmup_iters = 20
optimizer = "muon"
lr_schedule = "wsd"
muon_lr = 0.01  # the best Muon LR on this corpus (LOGBOOK.md 2026-11-28)
eval_interval = 50
eval_iters = 5
log_interval = 10
checkpoint_interval = max_iters
