# AdamW + cosine against Muon + wsd on the demo's model and corpus (bytes of the Python docs): the same model, seed
# and tokens per step for every run; an LR sweep of each, AdamW + wsd as the schedule's control, and for every run
# the steps it needs to reach the best AdamW + cosine run's final validation loss (LOGBOOK.md, 2026-11-28).
# The demo's recipe of that day is pinned here, so a change of configs/demo.py leaves these runs as they were.
# Sized for: 2 CPU cores, ~1 minute per run (8 runs of 200 steps)
# Command: python study.py run configs/muon_study.py
# Parameters: 0.84M
# Logbook result: LOGBOOK.md 2026-11-28 (Muon + warmup-stable-decay): Muon reaches AdamW's 2.486 in 0.50x the steps
configs = ["configs/demo.py"]
settings = dict(
    data_dir="data/python_docs", vocab_size=257, block_size=128, n_layer=4, n_head=4, n_embd=128, dropout=0.0,
    total_batch_tokens=16 * 128, micro_batch_size=16, max_iters=200, lr_decay_iters=200, seed=1337,
    warmup_iters=20, decay_fraction=0.2, weight_decay=0.1,  # both schedules; AdamW's weight decay
    muon_momentum=0.95, muon_weight_decay=0.0, muon_adjust_lr="original",
    eval_interval=20, eval_iters=5, log_interval=5, checkpoint_interval=0, sample_interval=0, compile=False,
)  # fmt: skip
grid = [
    {"optimizer": ["adamw"], "lr_schedule": ["cosine"], "learning_rate": [2e-3, 4e-3, 8e-3]},
    {"optimizer": ["adamw"], "lr_schedule": ["wsd"], "learning_rate": [2e-3]},  # the schedule alone
    # Muon's AdamW part (embeddings, head, norms, biases) keeps the best AdamW + cosine LR, 2e-3
    {"optimizer": ["muon"], "lr_schedule": ["wsd"], "learning_rate": [2e-3], "muon_lr": [0.01, 0.02, 0.04, 0.08]},
]
derived = {"min_lr": lambda learning_rate: learning_rate / 10}
run_name = ["adamw_cosine_lr{learning_rate}", "adamw_wsd_lr{learning_rate}", "muon_wsd_lr{muon_lr}"]
reach_baseline = {"optimizer": "adamw", "lr_schedule": "cosine"}
