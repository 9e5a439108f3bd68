# AdamW + cosine against Muon + wsd on GPT-2 tokens of Python's standard library (configs/python_stdlib.py, which
# says how to prepare the data): the same study as configs/muon_study.py on a second corpus (LOGBOOK.md, 2026-11-28).
# Sized for: 2 CPU cores, ~1-2 minutes per run (8 runs of 200 steps)
# Command: python study.py run configs/muon_stdlib_study.py
# Parameters: 3.42M
# Logbook result: LOGBOOK.md 2026-11-28 (Muon + warmup-stable-decay): Muon reaches AdamW's 4.864 in 0.47x the steps
configs = ["configs/demo.py", "configs/python_stdlib.py"]
settings = dict(data_dir="data/python_stdlib", vocab_size=50304)  # GPT-2's tokens, as the logbook's runs read
grid = [
    {"optimizer": ["adamw"], "lr_schedule": ["cosine"], "learning_rate": [1e-3, 2e-3, 4e-3]},
    {"optimizer": ["adamw"], "lr_schedule": ["wsd"], "learning_rate": [2e-3]},  # the schedule alone
    # Muon's AdamW part (embeddings, head, norms, biases) keeps the best AdamW + cosine LR, 2e-3
    {"optimizer": ["muon"], "lr_schedule": ["wsd"], "learning_rate": [2e-3], "muon_lr": [0.005, 0.01, 0.02, 0.04]},
]
derived = {"min_lr": lambda learning_rate: learning_rate / 10}
run_name = ["adamw_cosine_lr{learning_rate}", "adamw_wsd_lr{learning_rate}", "muon_wsd_lr{muon_lr}"]
reach_baseline = {"optimizer": "adamw", "lr_schedule": "cosine"}
