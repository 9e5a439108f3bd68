# Issue 28's ablation on this CPU: the GPT-2 block against each toggle of the speedruns' block alone and against
# all of them (configs/speedrun.py's block, docs/block.md), every run on Muon + wsd at the standard-library model's
# best LRs (configs/muon_stdlib_study.py: muon_lr 0.01, AdamW's part 2e-3), on the standard library in a BPE of
# 8192 tokens trained on it (bits per byte; configs/tokenizer_study.py prepares data/python_stdlib_bpe8192), at two
# sizes of that model: 4 x 64, context 64, 512 tokens a step (configs/python_stdlib.py), then 4 x 128, context 256,
# 2,048 tokens a step (the side-by-side with nanochat); all runs of the first size come first. The same
# seed, data and tokens per step for every run of a size; the report's "steps to reach" counts against the GPT-2
# block at 64 wide. Compare at equal wall-clock from each run's metrics.jsonl (step_ms per logged step;
# docs/block.md).
# Sized for: 2 CPU cores, ~1 minute a run at 64 wide, ~5 at 128 wide on one thread (14 runs at 64 wide, 23 at 128)
# Command: python study.py run configs/block_ablation_study.py
# Parameters: 0.73M to 5.02M (value embeddings and an untied head add lookups and a matrix of the vocabulary's size)
# Logbook result: 2026-12-07, one seed: every toggle alone within 0.02 bits per byte of the GPT-2 block at 128
# wide, all of them 0.031 below it; the full block needs its untied head, embedding norm and QK-norm (without each:
# +0.052, +0.035, +0.008), and those with ReLU² on LayerNorm ("paying") end 0.043 below the GPT-2 block
configs = ["configs/demo.py", "configs/python_stdlib.py"]
settings = dict(
    data_dir="data/python_stdlib_bpe8192", vocab_size=8192, eval_iters=20,
    optimizer="muon", lr_schedule="wsd", muon_lr=0.01, learning_rate=2e-3, min_lr=2e-4, decay_fraction=0.2,
    max_iters=200, lr_decay_iters=200, warmup_iters=20, micro_batch_size=8, seed=1337,
)  # fmt: skip
_SIZES = [64, 128]
_SWIGLU_WIDTH = {64: 168, 128: 344}  # 8 n_embd / 3, to a multiple of 8: as many weights as GeLU's 4 n_embd
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


def _ablation(size):
    """(name, grid part) of every run at one width: the GPT-2 block, all the toggles, each toggle alone."""
    return [
        ("gpt2", {}),
        ("all", _SPEEDRUN_BLOCK),
        ("rmsnorm", {"norm": ["rmsnorm"]}),
        ("rmsnorm_nogain", {"norm": ["rmsnorm"], "norm_weights": [False]}),
        ("qknorm", {"qk_norm": [True]}),
        ("relu2", {"mlp_activation": ["relu2"]}),
        ("swiglu", {"mlp_activation": ["swiglu"], "mlp_width": [_SWIGLU_WIDTH[size]]}),
        ("softcap", {"logit_softcap": [15.0]}),
        ("zeroinit", {"zero_init_proj": [True]}),
        ("embnorm", {"embedding_norm": [True]}),
        ("resid", {"residual_scalars": [True]}),
        ("ve", {"value_embeddings": [True]}),
        ("untied", {"tie_embeddings": [False]}),
    ]


# Then, at 128 wide, where every toggle alone ends within 0.02 of the GPT-2 block and all of them 0.03 below it:
# the full block without each toggle in turn (back to the GPT-2 block's value). Two more seeds of both ends:
# configs/block_seeds_study.py.
_WITHOUT = {
    "rmsnorm": {"norm": ["layernorm"], "norm_weights": [True]},
    "qknorm": {"qk_norm": [False]},
    "relu2": {"mlp_activation": ["gelu"]},
    "softcap": {"logit_softcap": [0.0]},
    "zeroinit": {"zero_init_proj": [False]},
    "embnorm": {"embedding_norm": [False]},
    "resid": {"residual_scalars": [False]},
    "ve": {"value_embeddings": [False]},
    "untied": {"tie_embeddings": [True]},
}
# Last, at both sizes, the toggles the full block cannot do without (the runs above), on LayerNorm with its gains.
_PAYING = {"qk_norm": [True], "mlp_activation": ["relu2"], "embedding_norm": [True], "tie_embeddings": [False]}
grid = [{"n_embd": [size], **part} for size in _SIZES for _, part in _ablation(size)]
grid += [{"n_embd": [128], **_SPEEDRUN_BLOCK, **part} for part in _WITHOUT.values()]
grid += [{"n_embd": [size], **_PAYING} for size in _SIZES]
run_name = [f"d{size}_{name}" for size in _SIZES for name, _ in _ablation(size)]
run_name += [f"d128_all_without_{name}" for name in _WITHOUT]
run_name += [f"d{size}_paying" for size in _SIZES]
derived = {
    "block_size": lambda n_embd: 64 if n_embd == 64 else 256,
    "total_batch_tokens": lambda n_embd: 8 * (64 if n_embd == 64 else 256),
}
# "steps to reach": the GPT-2 block's final val loss at 64 wide (one baseline a study; at 128 wide, read the curves)
reach_baseline = dict(n_embd=64, norm="layernorm", norm_weights=True, qk_norm=False, mlp_activation="gelu")
reach_baseline.update(logit_softcap=0.0, zero_init_proj=False, embedding_norm=False, residual_scalars=False)
reach_baseline.update(value_embeddings=False, tie_embeddings=True)
