# Warm start from OpenAI GPT-2 124M with its learned position table swapped for RoPE: every other weight is
# GPT-2's, and the model learns to read rotary positions while training on OpenWebText with the L4 recipe of
# configs/gpt2_l4.py. Needs the GPT-2 weights from the Hugging Face hub (or a local transformers folder as init_from).
# Sized for: one L4 (24 GB), micro-batch 12, accumulation 40
# Command: python train.py configs/gpt2_l4.py configs/gpt2_rope_warmstart.py
# Parameters: 123.69M (logbook: 123M)
# Logbook result: the "pretrained GPT-2 but with RoPE" run; no benchmark figure reported.
out_dir = "out/gpt2_rope_warmstart"
init_from = "gpt2"
pos_emb = "rope"
