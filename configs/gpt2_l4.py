# GPT-2 124M on OpenWebText on one 24 GB L4: micro-batch 12, gradient accumulation 40 (491,520 tokens per
# step), the cosine schedule 6e-4 -> 6e-5 with 2k warmup, bf16 and torch.compile.
# Sized for: one NVIDIA L4 (24 GB); prepare the data first: python prepare_openwebtext.py
# Command: python train.py configs/gpt2_l4.py
# Parameters: 124.48M (logbook: 124M)
# Logbook result: step time fell from 23 s to 1.8 s to 0.8 s as compile, mixed precision and flash attention
# came in (figures as reported; the batch per step differed between those runs).
out_dir = "out/gpt2_l4"
data_dir = "data/openwebtext"
micro_batch_size = 12
total_batch_tokens = 12 * 1024 * 40
learning_rate = 6e-4
min_lr = 6e-5
warmup_iters = 2000
max_iters = 20000
lr_decay_iters = 20000
eval_interval = 500
checkpoint_interval = 500  # a Colab/Lightning session can end at any time: keep checkpoints close
