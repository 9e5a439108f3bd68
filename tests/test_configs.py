import re
from pathlib import Path

import pytest
import torch

from conftest import ROOT, run_script
from gptkit.config import TrainConfig, load_config
from gptkit.training.metrics import read_metrics
from model import GPT, GPTConfig
from plot import plot_runs

# every training config; the study files (configs/*_study.py, each a grid of runs) are checked in tests/test_study.py
CONFIGS = sorted(path for path in (ROOT / "configs").glob("*.py") if not path.stem.endswith("_study"))


def test_there_is_a_config_for_every_logbook_run():
    names = {path.stem for path in CONFIGS}
    assert {
        "demo",
        "first_bible",
        "first_openwebtext",
        "gpt2_l4",
        "gpt2_rope_warmstart",
        "gpt2_a6000",
        "gpt2_gqa",
        "moe",
        "dense_500m",
        "gpt_2b",
        "rope_theta",
        "t4",
        "l4",
    } <= names


def configs_of_command(path):
    """The config files that the header's Command line combines (the file alone if it names none)."""
    command = re.search(r"^# Command: (.*)$", path.read_text(), re.M)
    named = re.findall(r"configs/\w+\.py", command.group(1)) if command else []
    return [str(ROOT / name) for name in named] or [str(path)]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_builds_its_model_with_the_stated_parameter_count(path):
    header = re.search(r"^# Parameters: ([\d.]+)M", path.read_text(), re.M)
    assert header, f"{path.name} has no '# Parameters: ...M' header line"
    sources = configs_of_command(path)
    assert str(path) in sources, f"{path.name}'s Command line does not use it"
    model_config, train_config = load_config(sources, GPTConfig, TrainConfig)
    with torch.device("meta"):
        model = GPT(model_config)
    assert model.num_params()["total"] == pytest.approx(float(header.group(1)) * 1e6, rel=0.01)
    sequences = train_config.total_batch_tokens / model_config.block_size
    assert sequences == int(sequences) and int(sequences) % train_config.micro_batch_size == 0


def test_rope_theta_study_covers_three_contexts_and_five_thetas():
    from gptkit.study.spec import read_study

    runs = read_study(ROOT / "configs" / "rope_theta_study.py", [], GPTConfig, TrainConfig).runs
    grid = [(run.model_config.block_size, run.model_config.rope_theta) for run in runs]
    assert grid == [(context, theta) for context in (1024, 4096, 8192) for theta in (1e4, 1e5, 5e5, 2e6, 1e7)]


@pytest.mark.integration
def test_demo_trains_with_muon_and_wsd_and_its_loss_goes_down(tmp_path):
    out_dir = tmp_path / "demo"
    # data_dir differs from the embedded default, so prepare the corpus the way train.py would
    from prepare_text import prepare_embedded

    prepare_embedded(tmp_path / "python_docs")
    short = ("--max_iters=20", "--warmup_iters=5", "--log_interval=5", "--eval_interval=20")
    muon = ("--optimizer=muon", "--lr_schedule=wsd")  # the demo's recipe, named: the check holds if demo.py's changes
    demo = ROOT / "configs" / "demo.py"
    result = run_script(
        "train.py", demo, *muon, *short, f"--out_dir={out_dir}", f"--data_dir={tmp_path / 'python_docs'}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    losses = [r["loss"] for r in read_metrics(out_dir / "metrics.jsonl") if "loss" in r]
    assert len(losses) == 4 and losses[-1] < losses[0] - 0.5
    png = plot_runs([out_dir], tmp_path / "loss.png")
    assert Path(png).stat().st_size > 10_000


def test_python_stdlib_pins_the_recipes_it_compares_whatever_demo_trains_with(tmp_path):
    # The Muon study (configs/muon_stdlib_study.py) builds on demo.py; its figures must not move when the demo's
    # recipe does (muon_lr aside: the study's Muon runs pass their own).
    demo = ROOT / "configs" / "demo.py"
    other_recipe = tmp_path / "demo.py"
    other_recipe.write_text(
        demo.read_text()
        + '\noptimizer = "adamw" if optimizer == "muon" else "muon"'
        + '\nlr_schedule = "cosine" if lr_schedule == "wsd" else "wsd"'
        + "\nlearning_rate *= 3\nmin_lr *= 3\nmax_iters += 100\nlr_decay_iters += 100\nwarmup_iters += 7\n"
    )
    stdlib = str(ROOT / "configs" / "python_stdlib.py")
    assert load_config([str(other_recipe), stdlib], GPTConfig, TrainConfig) == load_config(
        [str(demo), stdlib], GPTConfig, TrainConfig
    )


def test_block_ablation_runs_the_gpt2_block_each_toggle_alone_and_all_at_two_sizes():
    """configs/block_ablation_study.py: per size, one run of the GPT-2 block, one per toggle of configs/speedrun.py's
    block on its own (SwiGLU beside ReLU², gains off as a second RMSNorm run), and one with the whole block; at the
    larger size also the whole block without each toggle in turn (without RMSNorm: LayerNorm with its gains), and the
    toggles it needs together."""
    from dataclasses import asdict

    from gptkit.study.spec import read_study

    speedrun, _ = load_config([str(ROOT / "configs" / "speedrun.py")], GPTConfig, TrainConfig)
    block = ("norm", "norm_weights", "qk_norm", "mlp_activation", "logit_softcap", "zero_init_proj", "embedding_norm")
    block += ("residual_scalars", "value_embeddings", "tie_embeddings")
    gpt2, whole = asdict(GPTConfig()), {key: getattr(speedrun, key) for key in block}
    runs = read_study(ROOT / "configs" / "block_ablation_study.py", [], GPTConfig, TrainConfig).runs
    changed = {}
    for run in runs:
        config, train = run.model_config, run.train_config
        assert (train.optimizer, train.lr_schedule, train.max_iters, train.seed) == ("muon", "wsd", 200, 1337)
        assert train.total_batch_tokens == 8 * config.block_size
        toggles = tuple(sorted(key for key in block if getattr(config, key) != gpt2[key]))
        changed.setdefault(config.n_embd, []).append(toggles)
    alone = [(key,) for key in block if key != "norm_weights"] + [("norm", "norm_weights"), ("mlp_activation",)]
    expected = sorted([(), tuple(sorted(whole))] + alone)
    leave_out = [key for key in block if key != "norm_weights"]  # without RMSNorm: LayerNorm with its gains
    without = [tuple(sorted(set(whole) - {key, "norm_weights" if key == "norm" else key})) for key in leave_out]
    paying = ("embedding_norm", "mlp_activation", "qk_norm", "tie_embeddings")  # what the full block needs
    assert sorted(changed) == [64, 128] and sorted(changed[64]) == sorted(expected + [paying])
    assert sorted(changed[128]) == sorted(expected + without + [paying])
    every_toggle = next(run for run in runs if len(run.grid_values) > 5).model_config
    assert {key: getattr(every_toggle, key) for key in block} == whole
