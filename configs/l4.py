# Preset for one 24 GB L4 or A10: bfloat16 autocast, micro-batch 12 x 1024, accumulation 40 (491,520 tokens).
# Add it after a run config, e.g. the 113M GQA model of the 8xH100 run on a single L4:
# Command: python train.py configs/gpt2_gqa.py configs/l4.py
# Parameters: 113.06M (logbook: 113M)
# Logbook result: see configs/gpt2_l4.py.
dtype = "bfloat16"
micro_batch_size = 12
total_batch_tokens = 12 * 1024 * 40
compile = True
