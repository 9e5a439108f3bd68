"""gptkit/interop/hf_legacy_config.py: every export's config.json read the way older readers read it gives our settings.

transformers 4.x reads RoPE from the top-level `rope_theta` and `rope_scaling` alone; transformers 5 still
reads that spelling when `rope_parameters` is absent (its backward-compatible path), so a config built from
the older keys only, by transformers itself, must give the RoPE frequencies the current keys give.
llama.cpp's converter reads a GPT-2 config's n_ctx, n_embd, n_head, n_layer and layer_norm_epsilon.
(check_runtimes.py loads the folders in transformers 4.57 itself and runs the converter on them.)"""

import copy
import json
from dataclasses import asdict

import pytest
import torch

from gptkit.interop.hf_format import LAYER_NORM_EPS, write_folder
from gptkit.interop.hf_legacy_config import add_legacy_spellings
from model import GPT, GPTConfig

transformers = pytest.importorskip("transformers")

OLDER_KEYS = ("rope_theta", "rope_scaling")


def exported_config(tmp_path, **toggles):
    config = GPTConfig(block_size=256, vocab_size=300, n_layer=2, n_head=4, n_embd=64, **toggles)
    write_folder(tmp_path, asdict(config), GPT(config).state_dict(), "bytes")
    return config, json.loads((tmp_path / "config.json").read_text())


def starcoder2_config(content, drop):
    """transformers' own Starcoder2Config of config.json's content without the keys in drop."""
    kept = {key: value for key, value in copy.deepcopy(content).items() if key not in drop}
    return transformers.Starcoder2Config.from_dict(kept)


def rope_frequencies(config):
    """(inverse frequencies, attention factor) of transformers' Starcoder2 rotary embedding for a config."""
    from transformers.models.starcoder2.modeling_starcoder2 import Starcoder2RotaryEmbedding

    rotary = Starcoder2RotaryEmbedding(config)
    return rotary.inv_freq, rotary.attention_scaling


def test_gpt2_export_has_what_llama_cpp_converter_reads(tmp_path):
    config, content = exported_config(tmp_path)
    assert content["model_type"] == "gpt2"
    llama_cpp_reads = {key: content[key] for key in ("n_ctx", "n_embd", "n_head", "n_layer", "layer_norm_epsilon")}
    assert llama_cpp_reads == dict(
        n_ctx=config.block_size, n_embd=64, n_head=4, n_layer=2, layer_norm_epsilon=LAYER_NORM_EPS
    )
    assert content["n_positions"] == config.block_size and not any(key in content for key in OLDER_KEYS)


def test_starcoder2_export_has_theta_where_transformers_4_reads_it(tmp_path):
    _, content = exported_config(tmp_path, pos_emb="rope", n_kv_head=2, rope_theta=500.0)
    assert content["model_type"] == "starcoder2"
    assert content["rope_theta"] == content["rope_parameters"]["rope_theta"] == 500.0
    assert "rope_scaling" not in content  # no scaling: 4.x reads a missing rope_scaling as none
    older = starcoder2_config(content, drop=("rope_parameters",))
    assert older.rope_parameters == {"rope_type": "default", "rope_theta": 500.0}
    assert torch.equal(rope_frequencies(older)[0], rope_frequencies(starcoder2_config(content, OLDER_KEYS))[0])


def test_gptkit_export_keeps_its_own_theta(tmp_path):
    _, content = exported_config(tmp_path, pos_emb="rope", n_kv_head=2, n_expert=4, rope_theta=500.0)
    assert content["model_type"] == "gptkit" and content["rope_theta"] == 500.0  # its own config class's key


@pytest.mark.parametrize(
    "rope_parameters",
    [
        {"rope_type": "linear", "factor": 4.0},
        {"rope_type": "dynamic", "factor": 4.0},
        {
            "rope_type": "yarn",
            "factor": 4.0,
            "original_max_position_embeddings": 64,
            "beta_fast": 16.0,
            "beta_slow": 2.0,
        },
    ],
)
def test_rope_scaling_is_mirrored_for_older_readers(tmp_path, rope_parameters):
    """Whatever RoPE scaling sits in rope_parameters (hand-made here) reaches 4.x's rope_scaling, with both
    spellings of its type, and gives the same frequencies and attention factor."""
    _, content = exported_config(tmp_path, pos_emb="rope", n_kv_head=2, rope_theta=500.0)
    content = add_legacy_spellings({**content, "rope_parameters": {**rope_parameters, "rope_theta": 500.0}})
    kind = rope_parameters["rope_type"]
    assert content["rope_scaling"] == {**rope_parameters, "type": kind} and content["rope_theta"] == 500.0
    older, current = starcoder2_config(content, ("rope_parameters",)), starcoder2_config(content, OLDER_KEYS)
    assert older.rope_parameters["rope_type"] == current.rope_parameters["rope_type"] == kind
    (older_frequencies, older_factor), (frequencies, factor) = rope_frequencies(older), rope_frequencies(current)
    assert torch.equal(older_frequencies, frequencies) and older_factor == factor
