# The logbook's second run: the first run's 2-layer, 2-head, 384-wide GPT (untied, block 256, batch 64,
# lr 6e-5) on OpenWebText instead of the local text. This file changes only the data of configs/first_bible.py.
# Sized for: one T4/L4; prepare the data first: python prepare_openwebtext.py
# Command: python train.py configs/first_bible.py configs/first_openwebtext.py
# Parameters: 42.28M (logbook: 42.31M)
# Logbook result: no benchmark figure reported for this run.
out_dir = "out/first_openwebtext"
data_dir = "data/openwebtext"
max_iters = 20000
lr_decay_iters = 20000
sample_interval = 0
