"""gptkit/model_parts/rope.py and the model's RoPE past block_size: tables grown by the same formula, each scaling equal
to transformers' own rope initialisation functions, and the settings a checkpoint may continue with."""

import math
from dataclasses import replace

import pytest
import torch

from conftest import TINY_GPT, tiny_gpt
from gptkit.errors import UserError
from gptkit.model_parts.rope import continued_rope_settings, inverse_frequencies, rope_tables, scaling_settings
from model import GPT, GPTConfig, apply_rope

TINY = {**TINY_GPT, "pos_emb": "rope"}  # head size 8
SCALED = [("linear", 4.0), ("dynamic", 4.0), ("yarn", 4.0), ("yarn", 2.5)]


def textbook_tables(head_size, length, theta):
    """The plain RoPE tables as model.py computed them before it ran past block_size."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_size, 2, dtype=torch.float32) / head_size)
    angles = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def test_tables_past_block_size_begin_with_todays_rows_and_leave_short_logits_unchanged():
    model = tiny_gpt(pos_emb="rope", rope_theta=500.0)
    cos, sin = textbook_tables(8, 32, 500.0)
    assert torch.equal(model.rope_cos, cos) and torch.equal(model.rope_sin, sin)
    idx = torch.randint(0, 101, (2, 128))
    with torch.no_grad():
        before = [model(idx[:, :length])[0] for length in (1, 17, 32)]
        model(idx)  # 4x block_size: the tables grow
        assert model.rope_cos.size(0) >= 128
        after = [model(idx[:, :length])[0] for length in (1, 17, 32)]
    assert torch.equal(model.rope_cos[:32], cos) and torch.equal(model.rope_sin[:32], sin)
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    long_cos, long_sin = textbook_tables(8, 128, 500.0)
    assert torch.equal(model.rope_cos[:128], long_cos) and torch.equal(model.rope_sin[:128], long_sin)


@pytest.mark.parametrize("scaling,factor", [("none", 1.0), *SCALED])
def test_scores_past_block_size_depend_only_on_the_distance(scaling, factor):
    config = GPTConfig(**TINY, rope_scaling=scaling, rope_scaling_factor=factor)
    cos, sin = rope_tables(config, 4 * 32)  # one sequence of 128 tokens ("dynamic": its frequencies)
    q, k = torch.randn(1, 1, 1, 8, dtype=torch.float64), torch.randn(1, 1, 1, 8, dtype=torch.float64)

    def score(m, n):
        rotated_q = apply_rope(q, cos[m : m + 1].double(), sin[m : m + 1].double())
        return (rotated_q * apply_rope(k, cos[n : n + 1].double(), sin[n : n + 1].double())).sum().item()

    for m, n in [(5, 2), (31, 0), (20, 19)]:
        reference = score(m, n)
        for shift in (7, 40, 96):
            assert score(m + shift, n + shift) == pytest.approx(reference, rel=1e-4, abs=1e-4)
    assert score(30, 0) != pytest.approx(score(3, 0), abs=1e-3)  # and the rotation depends on that distance


# ----------------------------------------------------------------------------------------------------------
# Against transformers' rope initialisation functions


def transformers_frequencies(rope_parameters, head_size, n_head, max_position_embeddings, seq_len=None):
    """(inv_freq, attention factor) of transformers.modeling_rope_utils for a tiny Starcoder2 config."""
    transformers = pytest.importorskip("transformers")
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    config = transformers.Starcoder2Config(
        hidden_size=head_size * n_head,
        num_attention_heads=n_head,
        max_position_embeddings=max_position_embeddings,
        rope_parameters=dict(rope_parameters),
    )
    return ROPE_INIT_FUNCTIONS[rope_parameters["rope_type"]](config, "cpu", seq_len=seq_len)


CASES = [  # (head size, theta, factor, original length, block_size)
    (16, 10000.0, 4.0, 64, 64),
    (32, 500000.0, 8.0, 1024, 1024),
    (64, 10000.0, 2.0, 1024, 4096),  # trained on past the original length (a long-context extension)
    (8, 100.0, 16.0, 32, 32),
]


@pytest.mark.parametrize("head_size,theta,factor,original,block_size", CASES)
def test_linear_and_yarn_frequencies_equal_transformers(head_size, theta, factor, original, block_size):
    shape = dict(n_layer=1, n_head=2, n_embd=2 * head_size, pos_emb="rope", rope_theta=theta, block_size=block_size)
    shape.update(rope_original_block_size=original, rope_scaling_factor=factor)
    for scaling, extra in [
        ("linear", {}),
        ("yarn", dict(original_max_position_embeddings=original)),
        ("yarn", dict(original_max_position_embeddings=original, beta_fast=16, beta_slow=2)),
    ]:
        betas = dict(
            rope_yarn_beta_fast=float(extra.get("beta_fast", 32)), rope_yarn_beta_slow=extra.get("beta_slow", 1)
        )
        ours, our_factor = inverse_frequencies(GPTConfig(**shape, **betas, rope_scaling=scaling), block_size)
        parameters = dict(rope_type=scaling, rope_theta=theta, factor=factor, **extra)
        theirs, their_factor = transformers_frequencies(parameters, head_size, 2, block_size)
        assert torch.allclose(ours, theirs, rtol=1e-6, atol=0), scaling
        assert our_factor == pytest.approx(their_factor, abs=1e-6)
    assert our_factor == pytest.approx(0.1 * math.log(factor) + 1)


@pytest.mark.parametrize("head_size,theta,factor,original,block_size", CASES)
def test_dynamic_is_plain_rope_up_to_the_original_length_then_transformers_dynamic(
    head_size, theta, factor, original, block_size
):
    shape = dict(n_layer=1, n_head=2, n_embd=2 * head_size, pos_emb="rope", rope_theta=theta, block_size=block_size)
    dynamic = GPTConfig(**shape, rope_scaling="dynamic", rope_scaling_factor=factor, rope_original_block_size=original)
    plain = GPTConfig(**shape)
    for length in (1, original // 2, original):
        assert all(torch.equal(a, b) for a, b in zip(rope_tables(dynamic, length), rope_tables(plain, length)))
    parameters = dict(rope_type="dynamic", rope_theta=theta, factor=factor)
    for length in (original + 1, 2 * original, 4 * original + 3):
        ours, _ = inverse_frequencies(dynamic, length)
        theirs, _ = transformers_frequencies(parameters, head_size, 2, original, seq_len=length)
        assert torch.allclose(ours, theirs, rtol=1e-6, atol=0)
        assert not torch.allclose(ours, inverse_frequencies(plain, length)[0])


def test_linear_reads_position_p_as_plain_ropes_p_over_factor():
    linear = GPTConfig(**TINY, rope_scaling="linear", rope_scaling_factor=4.0)
    cos, sin = rope_tables(linear, 128)
    plain_inv_freq, _ = inverse_frequencies(GPTConfig(**TINY), 128)
    angles = torch.outer(torch.arange(128, dtype=torch.float32) / 4.0, plain_inv_freq)
    assert torch.allclose(cos, angles.cos(), atol=1e-5) and torch.allclose(sin, angles.sin(), atol=1e-5)


def test_dynamic_model_logits_equal_plain_up_to_the_original_length():
    plain, dynamic = tiny_gpt(pos_emb="rope"), tiny_gpt(pos_emb="rope", rope_scaling="dynamic", rope_scaling_factor=4.0)
    idx = torch.randint(0, 101, (2, 96))
    with torch.no_grad():
        assert torch.equal(plain(idx[:, :32])[0], dynamic(idx[:, :32])[0])
        assert not torch.allclose(plain(idx)[0][:, 40:], dynamic(idx)[0][:, 40:])


def test_dynamic_tables_grown_past_block_size_stay_plain_up_to_an_original_length_beyond_it():
    shape = dict(block_size=16, rope_scaling_factor=4.0, rope_original_block_size=40)  # trained at 40, now at 16
    plain, dynamic = tiny_gpt(pos_emb="rope", block_size=16), tiny_gpt(pos_emb="rope", **shape, rope_scaling="dynamic")
    idx = torch.randint(0, 101, (1, 60))
    with torch.no_grad():
        for length in (20, 33, 40):  # the tables grow 16 -> 32 -> 40, never past the original length
            assert torch.equal(plain(idx[:, :length])[0], dynamic(idx[:, :length])[0]), length
        assert not torch.allclose(plain(idx)[0][:, 45:], dynamic(idx)[0][:, 45:])


# ----------------------------------------------------------------------------------------------------------
# Generation past block_size, settings for a trained model, continuing a checkpoint


@pytest.mark.parametrize("scaling,factor", [("none", 1.0), ("linear", 4.0), ("yarn", 4.0)])
def test_kv_cache_past_block_size_equals_recomputing_the_whole_text(scaling, factor):
    model = tiny_gpt(pos_emb="rope", rope_scaling=scaling, rope_scaling_factor=factor, n_kv_head=2)
    prompt = torch.randint(0, 101, (2, 20))
    seeded = dict(temperature=1.0, top_k=None)
    cached = model.generate(prompt, 60, **seeded, generator=torch.Generator().manual_seed(1))  # to 2.5x block_size
    recomputed = model.generate(prompt, 60, **seeded, use_cache=False, generator=torch.Generator().manual_seed(1))
    assert torch.equal(cached, recomputed)
    with torch.no_grad():  # and the whole text was read: its last block alone predicts otherwise
        assert not torch.allclose(model(cached)[0][:, -1], model(cached[:, -32:])[0][:, -1], atol=1e-3)


def test_scaling_settings_for_a_trained_model_keep_the_weights_and_are_checked():
    model = tiny_gpt(pos_emb="rope")
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    model.use_rope_settings(rope_scaling="yarn", rope_scaling_factor=4.0)
    assert model.config.rope_scaling == "yarn"
    assert torch.equal(model.rope_cos, rope_tables(model.config, 32)[0])
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    with pytest.raises(UserError, match="rope_scaling must be one of none, linear, dynamic, yarn, got 'ntk'"):
        model.use_rope_settings(rope_scaling="ntk")


@pytest.mark.parametrize(
    "fields,message",
    [
        (dict(rope_scaling="longrope"), "rope_scaling must be one of none, linear, dynamic, yarn, got 'longrope'"),
        (dict(rope_scaling="yarn", rope_scaling_factor=0.0), "rope_scaling_factor must be >= 1"),
        (dict(rope_scaling="linear", rope_scaling_factor=0.5), "rope_scaling_factor must be >= 1"),
        (dict(rope_scaling_factor=-2.0), "rope_scaling_factor must be >= 1"),
        (dict(rope_scaling_factor=4.0), "applies to a rope_scaling, and rope_scaling is 'none'"),
        (dict(rope_scaling="yarn", rope_scaling_factor=2.0, pos_emb="learned"), "needs pos_emb='rope'"),
        (dict(rope_original_block_size=0), "rope_original_block_size must be positive"),
        (dict(rope_yarn_beta_fast=1.0, rope_yarn_beta_slow=2.0), "rope_yarn_beta_fast (1.0) must be >"),
    ],
)
def test_impossible_scaling_settings_are_one_line_errors(fields, message):
    with pytest.raises(UserError, match="impossible model shape") as error:
        GPTConfig(**{**TINY, **fields})
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_checkpoint_continues_at_a_longer_block_size_keeping_its_original_length():
    saved = {**TINY, "rope_scaling": "none", "rope_original_block_size": None}
    yarn = dict(block_size=128, rope_scaling="yarn", rope_scaling_factor=4.0)
    assert continued_rope_settings(saved, yarn, "the checkpoint")["rope_original_block_size"] == 32
    given = continued_rope_settings(saved, {**yarn, "rope_original_block_size": 16}, "the checkpoint")
    assert given["rope_original_block_size"] == 16
    assert "rope_original_block_size" not in continued_rope_settings(saved, {"block_size": 128}, "the checkpoint")
    extended = {**saved, **yarn, "rope_original_block_size": 32}  # continued once more, longer still
    again = continued_rope_settings(extended, {"block_size": 256}, "the checkpoint")
    assert "rope_original_block_size" not in again  # the checkpoint's own 32 stays

    model = tiny_gpt(pos_emb="rope")
    checkpoint = {"model": model.state_dict(), "model_config": {**TINY, "n_kv_head": 4}}
    continued = GPT.from_checkpoint(checkpoint, **yarn)
    assert continued.config.block_size == 128 and continued.config.rope_original_block_size == 32
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in continued.state_dict().items())
    learned = {"model_config": {**TINY, "pos_emb": "learned", "n_kv_head": 4}}
    with pytest.raises(UserError, match=r"learned positions for 32 tokens: block_size=128 cannot be honoured"):
        GPT.from_checkpoint(learned, block_size=128)


def test_scaling_settings_choose_each_methods_factor():
    """What evaluate.py and sample.py run a trained model with: "none" is plain RoPE even on a scaled model, and a
    method without a factor on an unscaled model stretches the training length to the longest sequence."""
    scaled = GPTConfig(
        block_size=32, n_layer=1, n_head=2, n_embd=16, pos_emb="rope", rope_scaling="yarn", rope_scaling_factor=4.0
    )
    assert scaling_settings(scaled, ["none"], None, 128)["none"]["rope_scaling_factor"] == 1.0
    assert scaling_settings(scaled, ["linear"], None, 64)["linear"]["rope_scaling_factor"] == 4.0
    plain = replace(scaled, rope_scaling="none", rope_scaling_factor=1.0)
    assert scaling_settings(plain, ["yarn"], None, 96)["yarn"]["rope_scaling_factor"] == 3.0
    assert scaling_settings(plain, ["yarn"], 2.0, 96)["yarn"]["rope_scaling_factor"] == 2.0
    with pytest.raises(UserError, match="applies to a --rope_scaling method other than none"):
        scaling_settings(plain, ["none"], 2.0, 96)
