# Preset for one 24 GB L4 or A10: bfloat16 autocast, GPT-2 124M at micro-batch 12 x 1024, accumulation 40.
#   python train.py configs/gpt2_gqa.py configs/l4.py
# Parameters: 124.48M (logbook: 124M)
# Logbook result: see configs/gpt2_l4.py.
dtype = "bfloat16"
micro_batch_size = 12
total_batch_tokens = 12 * 1024 * 40
compile = True
