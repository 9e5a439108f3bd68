# Issue 28's ablation on this CPU: the GPT-2 block against each toggle of the speedruns' block alone and against
# all of them (configs/speedrun.py's block, docs/block.md), every run on Muon + wsd at the standard-library model's
# best LRs (configs/muon_stdlib_study.py: muon_lr 0.01, AdamW's part 2e-3), at two sizes of that model: 4 x 64,
# context 64, 512 tokens a step (configs/python_stdlib.py), and 4 x 128, context 256, 2,048 tokens a step (the
# issue's side-by-side with nanochat). The same seed, data and tokens per step for every run of a size; the
# report's "steps to reach" counts against the GPT-2 block at 64 wide. Compare at equal wall-clock from each run's
# metrics.jsonl (step_ms per logged step; docs/block.md). Prepare the data as configs/python_stdlib.py says.
# Add seeds (`"seed": [1337, 1338, 1339]` in a part) where two runs end close.
# Sized for: 2 CPU cores, ~3 minutes a run at 64 wide, ~15 at 128 wide (13 runs of 200 steps at each size)
# Command: python study.py run configs/block_ablation_study.py
# Parameters: 3.42M to 26.58M (value embeddings and an untied head add lookups and a matrix of the vocabulary's size)
# Logbook result: not run yet (issue 28, item 4: after the tokenizer issue, in bits per byte)
configs = ["configs/demo.py", "configs/python_stdlib.py"]
settings = dict(
    optimizer="muon", lr_schedule="wsd", muon_lr=0.01, learning_rate=2e-3, min_lr=2e-4, decay_fraction=0.2,
    max_iters=200, lr_decay_iters=200, warmup_iters=20, micro_batch_size=8, seed=1337,
)  # fmt: skip
_SIZES = [64, 128]
_SPEEDRUN_BLOCK = {  # configs/speedrun.py's block, each value as a one-value grid list
    "norm": ["rmsnorm"],
    "norm_weights": [False],
    "qk_norm": [True],
    "mlp_activation": ["relu2"],
    "logit_softcap": [15.0],
    "zero_init_proj": [True],
    "embedding_norm": [True],
    "residual_scalars": [True],
    "value_embeddings": [True],
    "tie_embeddings": [False],
}
grid = [
    {"n_embd": _SIZES},  # the GPT-2 block
    {"n_embd": _SIZES, "norm": ["rmsnorm"]},
    {"n_embd": _SIZES, "norm": ["rmsnorm"], "norm_weights": [False]},
    {"n_embd": _SIZES, "qk_norm": [True]},
    {"n_embd": _SIZES, "mlp_activation": ["relu2"]},
    {"n_embd": [64], "mlp_activation": ["swiglu"], "mlp_width": [168]},  # 8 n_embd / 3, to a multiple of 8
    {"n_embd": [128], "mlp_activation": ["swiglu"], "mlp_width": [344]},
    {"n_embd": _SIZES, "logit_softcap": [15.0]},
    {"n_embd": _SIZES, "zero_init_proj": [True]},
    {"n_embd": _SIZES, "embedding_norm": [True]},
    {"n_embd": _SIZES, "residual_scalars": [True]},
    {"n_embd": _SIZES, "value_embeddings": [True]},
    {"n_embd": _SIZES, "tie_embeddings": [False]},
    {"n_embd": _SIZES, **_SPEEDRUN_BLOCK},
]
derived = {
    "block_size": lambda n_embd: 64 if n_embd == 64 else 256,
    "total_batch_tokens": lambda n_embd: 8 * (64 if n_embd == 64 else 256),
}
run_name = [
    "d{n_embd}_gpt2",
    "d{n_embd}_rmsnorm",
    "d{n_embd}_rmsnorm_nogain",
    "d{n_embd}_qknorm",
    "d{n_embd}_relu2",
    "d{n_embd}_swiglu",
    "d{n_embd}_swiglu",
    "d{n_embd}_softcap",
    "d{n_embd}_zeroinit",
    "d{n_embd}_embnorm",
    "d{n_embd}_resid",
    "d{n_embd}_ve",
    "d{n_embd}_untied",
    "d{n_embd}_all",
]
# "steps to reach": the GPT-2 block's final val loss at 64 wide (one baseline a study; at 128 wide, read the curves)
reach_baseline = dict(n_embd=64, norm="layernorm", norm_weights=True, qk_norm=False, mlp_activation="gelu")
reach_baseline.update(logit_softcap=0.0, zero_init_proj=False, embedding_norm=False, residual_scalars=False)
reach_baseline.update(value_embeddings=False, tie_embeddings=True)
