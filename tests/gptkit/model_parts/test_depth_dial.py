"""gptkit/model_parts/depth_dial.py and its reading by the config loader: what a depth derives equals the rules
written out again here, on the parameters counted in the built model; explicit keys win and the rules after them
read them; a depth that gives no model, no whole batch or no step is one line."""

import math

import pytest
import torch

from conftest import ROOT
from gptkit.config import TrainConfig, load_config, read_settings
from gptkit.errors import UserError
from gptkit.model_parts.depth_dial import scaling_parameters
from model import GPT, GPTConfig

SPEEDRUN = str(ROOT / "configs" / "speedrun.py")


def counted_scaling_parameters(config):
    """The built model's attention and MLP matrices (an MoE layer's router and active experts) and output head."""
    with torch.device("meta"):
        model = GPT(config)
    count = model.lm_head.weight.numel()
    for name, p in model.transformer.h.named_parameters():
        if name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight", "router.weight")):
            count += p.numel()
        elif name.endswith(("fc_weight", "proj_weight")):  # (experts, in, out): the active ones
            count += p.numel() // config.n_expert * config.n_expert_active
    return count


@pytest.mark.parametrize(
    "settings",
    [
        {},
        dict(pos_emb="rope", n_kv_head=2, mlp_activation="swiglu", tie_embeddings=False),
        dict(n_expert=4, n_expert_active=2, mlp_activation="relu2", value_embeddings=True, bias=False),
    ],
)
def test_scaling_parameters_are_the_models_matrices_and_head(settings):
    config = GPTConfig(block_size=64, vocab_size=1000, n_layer=3, n_head=4, n_embd=96, **settings)
    assert scaling_parameters(config) == counted_scaling_parameters(config)


@pytest.mark.parametrize("depth", [4, 12, 20, 26])
def test_speedrun_depths_follow_nanochats_rules(depth):
    model_config, cfg = load_config([SPEEDRUN, f"--depth={depth}"], GPTConfig, TrainConfig)
    width = math.ceil(depth * 64 / 128) * 128
    assert (model_config.n_layer, model_config.n_embd, model_config.n_head) == (depth, width, width // 128)
    reference = GPTConfig(**{**vars(model_config), "n_layer": 12, "n_embd": 768, "n_head": 6, "n_kv_head": None})
    tokens = 12 * counted_scaling_parameters(model_config)
    reference_tokens = 12 * counted_scaling_parameters(reference)
    batch = 2 ** round(math.log2(2**19 * (tokens / reference_tokens) ** 0.383))
    lr_scale, width_scale = math.sqrt(batch / 2**19), math.sqrt(768 / width)
    assert cfg.total_batch_tokens == batch
    assert cfg.max_iters == cfg.lr_decay_iters == int(tokens // batch)
    assert cfg.warmup_iters == min(40, cfg.max_iters // 10)
    assert cfg.muon_lr == pytest.approx(0.02 * lr_scale)
    assert cfg.embedding_lr == pytest.approx(0.3 * lr_scale * width_scale)
    assert cfg.unembedding_lr == pytest.approx(0.008 * lr_scale * width_scale) == pytest.approx(cfg.learning_rate)
    assert cfg.scalar_lr == pytest.approx(0.005 * lr_scale)
    assert cfg.min_lr == pytest.approx(0.05 * cfg.learning_rate)
    if depth == 12:  # the reference itself: GPT-2 small's shape, nanochat's numbers unscaled
        assert (batch, cfg.muon_lr, cfg.embedding_lr, cfg.unembedding_lr) == (2**19, 0.02, 0.3, 0.008)


def test_a_depth_flag_re_derives_what_the_file_derived_and_explicit_keys_win():
    at_12 = read_settings([SPEEDRUN], GPTConfig, TrainConfig)
    at_20 = read_settings([SPEEDRUN, "--depth=20"], GPTConfig, TrainConfig)
    assert (at_12["n_layer"], at_12["n_embd"], at_20["n_layer"], at_20["n_embd"]) == (12, 768, 20, 1280)
    assert at_20["max_iters"] > at_12["max_iters"] and at_20["total_batch_tokens"] == 2 * at_12["total_batch_tokens"]
    assert at_20["data_dir"] == at_12["data_dir"] == "data/fineweb_edu10B"  # the file's own keys stay
    # an explicit width: the heads and the parameter count follow it; an explicit batch: the LR scale and steps
    wide = read_settings([SPEEDRUN, "--depth=20", "--n_embd=1024"], GPTConfig, TrainConfig)
    assert (wide["n_layer"], wide["n_embd"], wide["n_head"]) == (20, 1024, 8)
    tokens = {name: s["max_iters"] * s["total_batch_tokens"] for name, s in (("wide", wide), ("at_20", at_20))}
    assert tokens["wide"] < tokens["at_20"]  # fewer parameters, fewer tokens
    batch = read_settings([SPEEDRUN, "--total_batch_tokens=131072", "--max_iters=7"], GPTConfig, TrainConfig)
    assert batch["muon_lr"] == pytest.approx(0.02 * math.sqrt(131072 / 2**19)) and batch["max_iters"] == 7
    assert read_settings(["--n_layer=3"], GPTConfig, TrainConfig) == {"n_layer": 3}  # no depth: no dial


def test_a_tied_model_gives_its_shared_matrix_the_output_heads_rate():
    settings = read_settings(["--depth=12"], GPTConfig, TrainConfig)
    assert "unembedding_lr" not in settings and settings["embedding_lr"] == pytest.approx(0.008)


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--depth=0"], "bad depth dial: depth must be >= 1, got 0"),
        (["--aspect_ratio=32"], "aspect_ratio set without depth: the depth dial's settings need a depth"),
        (["--depth=4", "--tokens_per_parameter=0"], "tokens_per_parameter must be positive, got 0"),
        (["--depth=4", "--n_head=5"], "impossible model shape: n_embd (256) must be divisible by n_head (5)"),
        (["--depth=2", "--block_size=1048576"], "less than one sequence of block_size 1048576"),
        (["--depth=2", "--tokens_per_parameter=1e-9"], "less than one step: set max_iters"),
    ],
)
def test_a_depth_that_gives_no_model_or_run_is_one_line(flags, message):
    with pytest.raises(UserError) as error:
        load_config(flags, GPTConfig, TrainConfig)
    assert message in str(error.value) and "\n" not in str(error.value)
