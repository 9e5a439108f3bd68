# RoPE past the training length, on CPU: configs/python_stdlib.py's corpus with a RoPE model at 128 tokens of
# context, 128 wide, trained with Muon + wsd (the repository's best recipe for it), then read to 4x that length
# by evaluate.py with each RoPE scaling; --pos_emb=learned --out_dir=out/longctx/learned128 is the
# learned-position control.
# Sized for: 2 CPU cores, ~25 minutes on a quiet machine (500 steps of 16 x 128 tokens, 1.0M tokens); uses a GPU
# when there is one.
# Command: python train.py configs/demo.py configs/python_stdlib.py configs/python_stdlib_rope128.py
# Parameters: 7.23M (6.44M of them the tied 50304 x 128 embedding)
# Logbook result: LOGBOOK.md 2026-12-01 (RoPE past block_size, RoPE scaling, evaluate.py)
out_dir = "out/longctx/rope128"
pos_emb = "rope"
block_size = 128
n_embd = 128  # python_stdlib.py's 64 learns too little of its context in this budget to show where it ends
micro_batch_size = 16
total_batch_tokens = 16 * block_size
max_iters = 500
lr_decay_iters = max_iters
warmup_iters = 20
optimizer = "muon"
lr_schedule = "wsd"
muon_lr = 0.01  # the best Muon LR on this corpus (LOGBOOK.md 2026-11-28)
eval_interval = 100
eval_iters = 5
log_interval = 20
checkpoint_interval = 500
