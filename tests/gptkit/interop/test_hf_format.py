"""gptkit/interop/hf_format.py: every model family exported to transformers computes model.py's logits and greedy
tokens, and reads back (through gptkit/interop/pretrained.py) to the same config and weights."""

import itertools
import json
import pickle
from dataclasses import asdict

import pytest
import torch

from conftest import EVERY_TOGGLE, tiny_gpt
from gptkit.errors import UserError
from gptkit.interop import hf_format
from gptkit.interop.hf_format import ARCHITECTURES, family_of, from_transformers, write_folder
from gptkit.interop.pretrained import EXPORTED, read_folder_config, read_folder_weights, read_pretrained
from gptkit.model_parts.rope import rope_tables
from model import GPT, GPTConfig, KVCache, apply_rope

transformers = pytest.importorskip("transformers")

# (pos_emb, n_kv_head, n_expert): learned MHA, RoPE MHA, RoPE GQA, RoPE GQA + MoE, and the two learned-position
# shapes transformers has no architecture for (GQA, MoE), which go to the custom code as well
SHAPES = [("learned", 4, 0), ("rope", 4, 0), ("rope", 2, 0), ("rope", 2, 4), ("learned", 2, 0), ("learned", 4, 4)]
CASES = [(*shape, tie, bias) for shape, tie, bias in itertools.product(SHAPES, [True, False], [True, False])]
EXPECTED_CLASS = {"gpt2": "GPT2LMHeadModel", "starcoder2": "Starcoder2ForCausalLM", "gptkit": "GPTKitForCausalLM"}


def random_model(pos_emb="rope", n_kv_head=2, n_expert=0, tie_embeddings=True, bias=True):
    """A tiny model whose every weight (biases and LayerNorm gains too) is random, so a wrong mapping shows."""
    toggles = dict(pos_emb=pos_emb, n_kv_head=n_kv_head, n_expert=n_expert, tie_embeddings=tie_embeddings, bias=bias)
    return tiny_gpt(noise=0.1, block_size=48, vocab_size=300, rope_theta=500.0, **toggles)


def export(model, folder, dtype="float32"):
    return write_folder(folder, asdict(model.config), model.state_dict(), "bytes", dtype)


def load_transformers(folder):
    return transformers.AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True, dtype=torch.float32).eval()


@pytest.mark.parametrize("pos_emb,n_kv_head,n_expert,tie,bias", CASES)
def test_transformers_model_gives_our_logits_and_greedy_tokens(tmp_path, pos_emb, n_kv_head, n_expert, tie, bias):
    ours = random_model(pos_emb, n_kv_head, n_expert, tie, bias)
    family = export(ours, tmp_path)
    theirs = load_transformers(tmp_path)
    assert type(theirs).__name__ == EXPECTED_CLASS[family]
    assert (family == "gptkit") == (n_expert > 0 or (pos_emb == "learned" and n_kv_head < 4))

    idx = torch.randint(0, 300, (3, 40))
    with torch.no_grad():
        our_logits, _ = ours(idx)
        their_logits = theirs(idx).logits
    assert (our_logits - their_logits).abs().max().item() <= 1e-4

    lengths = []  # tokens per forward call: the cache means the prompt once, then one token at a time

    def record_length(module, args, kwargs):
        lengths.append(kwargs["input_ids"].shape[1])

    theirs.register_forward_pre_hook(record_length, with_kwargs=True)
    prompt = idx[:, :8]
    our_tokens = ours.generate(prompt, max_new_tokens=24, temperature=0)
    # every token is real: without a mask, transformers would take the end-of-text tokens in it for padding
    options = dict(attention_mask=torch.ones_like(prompt), max_new_tokens=24, do_sample=False, eos_token_id=None)
    their_tokens = theirs.generate(prompt, **options)
    assert torch.equal(our_tokens, their_tokens)
    assert lengths == [8] + [1] * 23


@pytest.mark.parametrize("pos_emb,n_kv_head,n_expert", [("learned", 2, 0), ("rope", 2, 4)])
def test_custom_code_generates_a_left_padded_batch_as_each_prompt_alone(tmp_path, pos_emb, n_kv_head, n_expert):
    ours = random_model(pos_emb, n_kv_head, n_expert)
    export(ours, tmp_path)
    theirs = load_transformers(tmp_path)
    prompts = [torch.randint(0, 256, (1, 9)), torch.randint(0, 256, (1, 5))]
    batch = torch.zeros(2, 9, dtype=torch.long)
    mask = torch.zeros(2, 9, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        batch[row, -prompt.size(1) :], mask[row, -prompt.size(1) :] = prompt, 1
    generated = theirs.generate(batch, attention_mask=mask, max_new_tokens=12, do_sample=False, eos_token_id=None)
    for row, prompt in enumerate(prompts):
        assert torch.equal(generated[row, 9:], ours.generate(prompt, 12, temperature=0)[0, prompt.size(1) :])


@pytest.mark.parametrize("pos_emb,n_kv_head,n_expert,tie,bias", CASES[::3])
def test_folder_reads_back_to_the_same_config_and_weights(tmp_path, pos_emb, n_kv_head, n_expert, tie, bias):
    ours = random_model(pos_emb, n_kv_head, n_expert, tie, bias)
    export(ours, tmp_path)
    weights = read_pretrained(tmp_path)
    assert weights.kind == EXPORTED  # ours: loads with its own shape, not as a GPT-2 warm start
    assert GPTConfig(**weights.model_config) == ours.config
    expected = ours.state_dict()
    assert weights.state_dict.keys() == expected.keys()
    assert all(torch.equal(weights.state_dict[name], expected[name]) for name in expected)


def test_bias_free_model_exports_zero_biases_to_architectures_that_have_them(tmp_path):
    ours = random_model("rope", 2, 0, bias=False)
    assert export(ours, tmp_path) == "starcoder2"
    tensors = read_folder_weights(tmp_path)
    biases = [name for name in tensors if name.endswith("bias")]
    assert len(biases) == 2 * 8 + 1  # per layer: q, k, v, o, c_fc, c_proj, two LayerNorms; the final LayerNorm
    assert all(not tensors[name].any() for name in biases)


def test_our_rotary_pairs_are_those_transformers_rotates(tmp_path):
    """Both rotate dimension i with dimension i + head_size/2 (not neighbouring pairs 2i, 2i + 1)."""
    from transformers.models.starcoder2 import modeling_starcoder2 as starcoder2

    config = transformers.Starcoder2Config(hidden_size=64, num_attention_heads=4, max_position_embeddings=32)
    config.rope_parameters = {"rope_type": "default", "rope_theta": 500.0}
    positions = torch.arange(32)[None]
    q = torch.randn(1, 4, 32, 16)
    cos, sin = starcoder2.Starcoder2RotaryEmbedding(config)(q, positions)
    theirs, _ = starcoder2.apply_rotary_pos_emb(q, q, cos, sin)
    tables = rope_tables(GPTConfig(n_embd=64, n_head=4, pos_emb="rope", rope_theta=500.0), 32)  # head size 16
    ours = apply_rope(q, *tables)
    assert (ours - theirs).abs().max().item() <= 1e-5
    interleaved = q.unflatten(-1, (8, 2)).transpose(-1, -2).flatten(-2)  # pairs (2i, 2i+1) moved to (i, i+8)
    assert (apply_rope(interleaved, *tables) - theirs).abs().max().item() > 0.1


def test_bfloat16_export_holds_the_rounded_weights(tmp_path):
    ours = random_model("rope", 2, 4)
    export(ours, tmp_path, dtype="bfloat16")
    assert read_folder_config(tmp_path)["dtype"] == "bfloat16"
    tensors = read_folder_weights(tmp_path)
    assert {t.dtype for t in tensors.values()} == {torch.bfloat16}
    loaded = GPT.from_pretrained(str(tmp_path)).eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.copy_(p.to(torch.bfloat16))
        idx = torch.randint(0, 300, (2, 16))
        assert torch.equal(loaded(idx)[0], ours(idx)[0])


def test_pickled_weights_load_only_when_safe(tmp_path):
    ours = random_model("learned", 4, 0)
    export(ours, tmp_path)
    tensors = read_folder_weights(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(tensors, tmp_path / "pytorch_model.bin")  # plain tensors: torch.load(weights_only=True) reads it
    idx = torch.randint(0, 300, (1, 16))
    with torch.no_grad():
        assert torch.equal(GPT.from_pretrained(str(tmp_path)).eval()(idx)[0], ours(idx)[0])

    marker = tmp_path / "code_ran"

    class Payload:  # unpickling it would create the marker file
        def __reduce__(self):
            return (marker.touch, ())

    with open(tmp_path / "pytorch_model.bin", "wb") as f:
        pickle.dump({"transformer.wte.weight": Payload()}, f, protocol=2)
    with pytest.raises(UserError) as error:
        GPT.from_pretrained(str(tmp_path))
    assert str(error.value) == f"the folder's weights ({tmp_path}) are not a safe checkpoint; prefer safetensors"
    assert not marker.exists()


def test_exported_folder_refuses_a_different_shape_but_takes_training_settings(tmp_path):
    export(random_model("rope", 2, 4), tmp_path)
    with pytest.raises(UserError, match=r"n_layer=4 \(the folder: 2\)") as error:
        GPT.from_pretrained(str(tmp_path), n_layer=4, dropout=0.1)
    assert "\n" not in str(error.value)
    assert GPT.from_pretrained(str(tmp_path), n_layer=2, dropout=0.1).config.dropout == 0.1


def test_foreign_settings_model_py_cannot_compute_are_named(tmp_path):
    export(random_model("rope", 2, 0), tmp_path)
    content = read_folder_config(tmp_path)
    content.update(sliding_window=16, hidden_act="silu")
    (tmp_path / "config.json").write_text(json.dumps(content))
    with pytest.raises(UserError, match="cannot compute: hidden_act, sliding_window"):
        GPT.from_pretrained(str(tmp_path))
    content["model_type"] = "mistral"
    (tmp_path / "config.json").write_text(json.dumps(content))
    with pytest.raises(UserError, match="'mistral'"):
        GPT.from_pretrained(str(tmp_path))


# ----------------------------------------------------------------------------------------------------------
# The block toggles (issue 28): each combination to the architecture that computes it, or to the custom code

RMS_SWIGLU = dict(norm="rmsnorm", mlp_activation="swiglu", bias=False)
BLOCK_CASES = [  # (toggles, family)
    (dict(mlp_activation="relu2"), "starcoder2"),
    (dict(pos_emb="learned", n_kv_head=6, mlp_activation="relu2", norm_weights=False), "gpt2"),
    (RMS_SWIGLU, "llama"),
    (dict(RMS_SWIGLU, bias=True, tie_embeddings=False, mlp_width=40), "llama"),
    ({**RMS_SWIGLU, "qk_norm": True}, "qwen3"),
    ({**RMS_SWIGLU, "qk_norm": True, "norm_weights": False}, "qwen3"),
    (dict(norm="rmsnorm", mlp_activation="relu2"), "arcee"),
    (dict(norm="rmsnorm", norm_weights=False, bias=False), "arcee"),
    ({**RMS_SWIGLU, "qk_norm": True, "bias": True}, "gptkit"),  # Qwen3's MLP has no biases
    (dict(qk_norm=True), "gptkit"),  # QK-norm with LayerNorm
    (dict(logit_softcap=30.0), "gptkit"),
    (EVERY_TOGGLE, "gptkit"),
    ({**EVERY_TOGGLE, "pos_emb": "learned"}, "gptkit"),
    ({**RMS_SWIGLU, "qk_norm": True, "n_expert": 4, "value_embeddings": True}, "gptkit"),
]


def block_model(toggles):
    """A tiny model (head size 8, SwiGLU's width whole) whose every weight is random."""
    torch.manual_seed(0)
    shape = dict(block_size=48, vocab_size=300, n_layer=3, n_head=6, n_kv_head=2, n_embd=48, rope_theta=500.0)
    model = GPT(GPTConfig(**{**shape, "pos_emb": "rope", **toggles})).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("toggles,family", BLOCK_CASES, ids=lambda v: ",".join(v) if isinstance(v, dict) else v)
def test_each_block_goes_to_the_architecture_that_computes_it(tmp_path, toggles, family):
    ours = block_model(toggles)
    assert export(ours, tmp_path) == family
    theirs = load_transformers(tmp_path)
    assert type(theirs).__name__ == ARCHITECTURES[family]
    idx = torch.randint(0, 300, (2, 40))
    with torch.no_grad():
        assert (ours(idx)[0] - theirs(idx).logits).abs().max().item() <= 1e-4
    prompt = idx[:, :6]
    options = dict(attention_mask=torch.ones_like(prompt), max_new_tokens=10, do_sample=False, eos_token_id=None)
    assert torch.equal(theirs.generate(prompt, **options), ours.generate(prompt, 10, temperature=0))
    fields, state_dict = from_transformers(read_folder_config(tmp_path), read_folder_weights(tmp_path))
    assert GPTConfig(**fields) == ours.config
    assert state_dict.keys() == ours.state_dict().keys()
    assert all(torch.equal(state_dict[name], tensor) for name, tensor in ours.state_dict().items())


def test_a_folder_whose_norm_gains_were_trained_reads_back_with_gains(tmp_path):
    """A model without norm gains exports gains of one; once training in transformers has moved them, the folder
    is a model with gains (as a bias-free model's folder with trained biases is one with biases)."""
    ours = block_model({**RMS_SWIGLU, "norm_weights": False})
    export(ours, tmp_path)
    tensors = read_folder_weights(tmp_path)
    assert torch.equal(tensors["model.norm.weight"], torch.ones(48))
    tensors["model.norm.weight"] = torch.full((48,), 2.0)
    fields, state_dict = from_transformers(read_folder_config(tmp_path), tensors)
    assert fields["norm_weights"] and torch.equal(state_dict["transformer.ln_f.weight"], torch.full((48,), 2.0))
    assert GPT(GPTConfig(**fields)).load_state_dict(state_dict)


def test_rms_norm_epsilon_is_model_pys():
    import model

    assert hf_format.RMS_NORM_EPS == model.RMS_NORM_EPS


def test_family_follows_the_toggles():
    base = asdict(GPTConfig(n_layer=1, n_head=4, n_embd=32))
    assert family_of(base) == "gpt2"
    assert family_of({**base, "pos_emb": "rope", "n_kv_head": 1}) == "starcoder2"
    assert family_of({**base, "n_kv_head": 2}) == "gptkit"
    assert family_of({**base, "pos_emb": "rope", "n_expert": 4}) == "gptkit"


# ----------------------------------------------------------------------------------------------------------
# RoPE scaling: written as transformers reads it (rope_parameters), read back as it was

ROPE_SCALINGS = [  # (settings, block_size): block 48 evaluated past it, or trained on past an original 24
    (dict(rope_scaling="none"), 48),
    (dict(rope_scaling="linear", rope_scaling_factor=4.0), 48),
    (dict(rope_scaling="dynamic", rope_scaling_factor=4.0), 48),
    (dict(rope_scaling="yarn", rope_scaling_factor=4.0), 48),
    (dict(rope_scaling="dynamic", rope_scaling_factor=2.0, rope_original_block_size=24), 48),
    (dict(rope_scaling="yarn", rope_scaling_factor=2.0, rope_original_block_size=24, rope_yarn_beta_fast=16.0), 48),
]


@pytest.mark.parametrize("settings,block_size", ROPE_SCALINGS)
def test_rope_scaling_exports_with_our_logits_past_block_size_and_reads_back(tmp_path, settings, block_size):
    ours = random_model("rope", 2).use_rope_settings(**settings)
    assert export(ours, tmp_path) == "starcoder2"
    idx = torch.randint(0, 300, (2, 4 * block_size))
    for length in (2 * block_size, 4 * block_size):
        theirs = load_transformers(tmp_path)  # fresh: transformers' dynamic keeps the longest length it has seen
        with torch.no_grad():
            our_logits, their_logits = ours(idx[:, :length])[0], theirs(idx[:, :length]).logits
        assert (our_logits - their_logits).abs().max().item() <= 1e-4, length
    fields, _ = from_transformers(read_folder_config(tmp_path), read_folder_weights(tmp_path))
    assert GPTConfig(**fields) == ours.config
    read_back = GPT.from_pretrained(str(tmp_path)).eval()
    with torch.no_grad():
        assert torch.equal(read_back(idx)[0], ours(idx)[0])


@pytest.mark.parametrize("settings,block_size", ROPE_SCALINGS[1:4])
def test_kv_cache_past_block_size_gives_transformers_logits_token_by_token(tmp_path, settings, block_size):
    """With the cache, "dynamic" rotates each new token for the length so far and keeps the cached keys as they
    were: transformers' cache does the same, so the logits agree step by step, not those of a recomputation."""
    ours = random_model("rope", 2).use_rope_settings(**settings)
    export(ours, tmp_path)
    theirs = load_transformers(tmp_path)
    idx = torch.randint(0, 300, (1, 3 * block_size))
    our_cache = KVCache(ours.config, 1, "cpu", torch.float32, idx.size(1))
    their_cache = transformers.DynamicCache(config=theirs.config)
    with torch.no_grad():
        for tokens in [idx[:, :8]] + [idx[:, t : t + 1] for t in range(8, idx.size(1))]:  # a prompt, then one by one
            our_logits = ours(tokens, cache=our_cache)[0]
            their_logits = theirs(tokens, cache=their_cache, use_cache=True).logits
            assert (our_logits - their_logits).abs().max().item() <= 1e-4
        recomputed = ours(idx)[0][:, -1]
    if settings["rope_scaling"] == "dynamic":  # the cached keys kept the rotation of shorter lengths
        assert (recomputed - our_logits[:, -1]).abs().max().item() > 1e-3
    else:
        assert (recomputed - our_logits[:, -1]).abs().max().item() <= 1e-4


def test_rope_types_and_options_model_py_does_not_compute_are_named(tmp_path):
    export(random_model("rope", 2).use_rope_settings(rope_scaling="yarn", rope_scaling_factor=4.0), tmp_path)
    content = read_folder_config(tmp_path)
    for parameters, message in [
        ({**content["rope_parameters"], "rope_type": "longrope"}, "RoPE type 'longrope' is not implemented"),
        ({**content["rope_parameters"], "attention_factor": 2.0}, "cannot compute: attention_factor"),
        ({**content["rope_parameters"], "truncate": False}, "cannot compute: truncate"),
    ]:
        (tmp_path / "config.json").write_text(json.dumps({**content, "rope_parameters": parameters}))
        with pytest.raises(UserError, match=message) as error:
            GPT.from_pretrained(str(tmp_path))
        assert "\n" not in str(error.value)


def test_the_custom_code_runs_rope_past_block_size_with_our_logits(tmp_path):
    ours = random_model("rope", 2, 4)
    export(ours, tmp_path)
    idx = torch.randint(0, 300, (2, 2 * 48))
    with torch.no_grad():
        assert (ours(idx)[0] - load_transformers(tmp_path)(idx).logits).abs().max().item() <= 1e-4


def test_scaling_of_a_model_for_the_custom_code_is_refused_before_anything_is_written(tmp_path):
    moe = random_model("rope", 2, 4).use_rope_settings(rope_scaling="yarn", rope_scaling_factor=2.0)
    with pytest.raises(UserError, match="exports to Starcoder2 folders"):
        export(moe, tmp_path / "out")
    assert not (tmp_path / "out").exists()
