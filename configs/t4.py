# Preset for one 16 GB T4 (free Colab/Kaggle): no bfloat16 there, so float16 autocast with a gradient scaler;
# GPT-2 124M at micro-batch 4 x 1024, accumulation to 0.5M tokens. Add it after a run config:
# Command: python train.py configs/gpt2_l4.py configs/t4.py
# Parameters: 124.48M (logbook: 124M)
# Logbook result: not reported.
dtype = "float16"
micro_batch_size = 4
total_batch_tokens = 4 * 1024 * 128
compile = True
