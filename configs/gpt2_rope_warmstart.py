# Warm start from OpenAI GPT-2 124M with its learned position table swapped for RoPE: every other weight is
# GPT-2's, and the model learns to read rotary positions while fine-tuning on OpenWebText.
# Sized for: one L4 (24 GB), micro-batch 12, accumulation 40; needs the GPT-2 weights from the Hugging Face hub
# (or a local transformers folder as init_from).
# Command: python train.py configs/gpt2_rope_warmstart.py
# Parameters: 123.69M (logbook: 123M)
# Logbook result: the "pretrained GPT-2 but with RoPE" run; no benchmark figure reported.
out_dir = "out/gpt2_rope_warmstart"
data_dir = "data/openwebtext"
init_from = "gpt2"
pos_emb = "rope"
micro_batch_size = 12
total_batch_tokens = 12 * 1024 * 40
learning_rate = 6e-4
min_lr = 6e-5
warmup_iters = 2000
max_iters = 20000
lr_decay_iters = 20000
eval_interval = 500
checkpoint_interval = 500
