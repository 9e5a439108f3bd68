# The two ends of configs/block_ablation_study.py at 4 x 128 (the GPT-2 block and the speedruns' block) and the
# toggles that paid there (chosen from its seed-1337 runs), each with two more seeds: how far apart seeds of one
# block end, against the 0.03-0.04 bits per byte between the blocks. The same settings as the ablation's, from its
# file.
# Sized for: 2 CPU cores, ~5 minutes a run (6 runs)
# Command: python study.py run configs/block_seeds_study.py
# Parameters: 1.87M to 5.02M (the GPT-2 block, the speedruns' block)
# Logbook result: 2026-12-07, GPT-2 block 2.0526, 2.0624; full block 2.0194, 2.0301; paying 2.0039, 2.0173
from configs.block_ablation_study import _PAYING, _SPEEDRUN_BLOCK, configs, derived, settings  # noqa: F401 (its keys)

settings = {key: value for key, value in settings.items() if key != "seed"}
seeds = [1338, 1339]
grid = [{"n_embd": [128]}, {"n_embd": [128], **_SPEEDRUN_BLOCK}, {"n_embd": [128], **_PAYING}]
run_name = ["d128_gpt2", "d128_all", "d128_paying"]
