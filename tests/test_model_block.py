"""model.py's block toggles (issue 28): each one, and all together, computes what a direct reimplementation from
the textbook formulas computes on the same weights; off, the model is GPT-2's as model.py computed it before the
toggles existed; every bad value is one line."""

import math
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import conftest
from gptkit.errors import UserError
from gptkit.model_parts.fp8 import trains_in_fp8
from gptkit.model_parts.rope import rope_tables
from model import GPT, GPTConfig, KVCache, has_value_embedding

SHAPE = dict(block_size=32, vocab_size=101, n_layer=3, n_head=6, n_kv_head=2, n_embd=48)  # head size 8
EVERY_TOGGLE = {**conftest.EVERY_TOGGLE, "logit_softcap": 3.0}  # a cap the tiny model's logits reach
ONE_AT_A_TIME = [
    dict(norm="rmsnorm"),
    dict(norm="rmsnorm", norm_weights=False),
    dict(norm_weights=False),  # LayerNorm without gains or biases
    dict(qk_norm=True),
    dict(mlp_activation="relu2"),
    dict(mlp_activation="swiglu"),
    dict(mlp_activation="swiglu", mlp_width=40),
    dict(logit_softcap=2.0),
    dict(embedding_norm=True),
    dict(residual_scalars=True),
    dict(value_embeddings=True),
]
BLOCKS = ONE_AT_A_TIME + [EVERY_TOGGLE, {**EVERY_TOGGLE, "mlp_activation": "swiglu", "norm_weights": True}]


def random_model(pos_emb="rope", **toggles):
    """A tiny model whose every weight (gains, scalars and gates too) is random, so that a wrong formula shows."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(**SHAPE, pos_emb=pos_emb, rope_theta=500.0, **toggles)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return model


# ----------------------------------------------------------------------------------------------------------
# The reference: the formulas written out, one position-independent step at a time, on the model's weights


def norm(x, module, kind):
    """LayerNorm: (x - mean) / sqrt(var + eps); RMSNorm: x / sqrt(mean(x^2) + eps); then the gain and bias."""
    if kind == "layernorm":
        x = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-5)
    else:
        x = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
    weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
    return x * (1 if weight is None else weight) + (0 if bias is None else bias)


def linear(x, module):
    return x @ module.weight.t() + (0 if module.bias is None else module.bias)


def rotate(x, cos, sin):
    """Each pair (i, i + head_size/2) turned by its angle."""
    half = x.size(-1) // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def mlp(x, module, activation):
    h = linear(x, module.c_fc)
    if activation == "gelu":
        h = 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
    elif activation == "relu2":
        h = torch.clamp(h, min=0) ** 2
    else:
        gate, up = h.split(h.size(-1) // 2, dim=-1)
        h = gate * torch.sigmoid(gate) * up
    return linear(h, module.c_proj)


def attention(x, attn, c, cos_sin, value_embedding):
    B, T, C = x.shape
    hs, group = c.head_size, c.n_head // c.n_kv_head
    q, k, v = linear(x, attn.c_attn).split([C, c.n_kv_head * hs, c.n_kv_head * hs], dim=-1)
    q, k, v = q.view(B, T, c.n_head, hs), k.view(B, T, c.n_kv_head, hs), v.view(B, T, c.n_kv_head, hs)
    if value_embedding is not None:
        gate = 2 / (1 + torch.exp(-(x[..., : attn.ve_gate.in_features] @ attn.ve_gate.weight.t())))
        v = v + gate[..., None] * value_embedding.view(B, T, c.n_kv_head, hs)
    if c.qk_norm:
        q, k = norm(q, attn.q_norm, "rmsnorm"), norm(k, attn.k_norm, "rmsnorm")
    if cos_sin is not None:
        cos, sin = cos_sin[0][:, None], cos_sin[1][:, None]  # (T, 1, head_size/2) against (B, T, heads, hs)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
    out = torch.empty(B, T, c.n_head, hs)
    causal = torch.ones(T, T).tril().bool()
    for h in range(c.n_head):
        scores = q[:, :, h] @ k[:, :, h // group].transpose(1, 2) / math.sqrt(hs)
        out[:, :, h] = scores.masked_fill(~causal, float("-inf")).softmax(-1) @ v[:, :, h // group]
    return linear(out.reshape(B, T, C), attn.c_proj)


@torch.no_grad()
def reference_logits(model, idx):
    c, t = model.config, model.transformer
    T = idx.size(1)
    x = t.wte.weight[idx]
    cos_sin = rope_tables(c, T) if c.pos_emb == "rope" else None
    if c.pos_emb == "learned":
        x = x + t.wpe.weight[:T]
    if c.embedding_norm:
        x = norm(x, t.ln_e, c.norm)
    x0 = x
    for i, block in enumerate(t.h):
        if c.residual_scalars:
            x = model.resid_scales[i] * x + model.x0_scales[i] * x0
        value_embedding = t.ve[str(i)].weight[idx] if c.value_embeddings and str(i) in t.ve else None
        x = x + attention(norm(x, block.ln_1, c.norm), block.attn, c, cos_sin, value_embedding)
        x = x + mlp(norm(x, block.ln_2, c.norm), block.mlp, c.mlp_activation)
    logits = norm(x, t.ln_f, c.norm) @ model.lm_head.weight.t()
    cap = c.logit_softcap
    return cap * torch.tanh(logits / cap) if cap else logits


@pytest.mark.parametrize("toggles", BLOCKS, ids=lambda t: ",".join(f"{k}={v}" for k, v in t.items()))
@pytest.mark.parametrize("pos_emb", ["rope", "learned"])
def test_each_toggle_computes_the_formulas(pos_emb, toggles):
    model = random_model(pos_emb, **toggles)
    idx = torch.randint(0, 101, (2, 20))
    with torch.no_grad():
        ours, _ = model(idx)
    torch.testing.assert_close(ours, reference_logits(model, idx), rtol=0, atol=2e-5)
    if model.config.logit_softcap:
        assert ours.abs().max() < model.config.logit_softcap


# ----------------------------------------------------------------------------------------------------------
# Off: GPT-2's block as before; on: what each toggle promises about the model it builds


def test_off_gives_the_outputs_model_py_gave_before_the_toggles():
    """tests/data/gpt2_block_outputs.safetensors holds the logits and losses of three models (learned positions;
    RoPE + GQA, untied, no biases; RoPE + MQA + MoE) as model.py computed them before issue 28 (the script that
    wrote it ran main's model.py). Equal bit for bit on the machine that wrote them; 1e-6 leaves room for
    another CPU's kernels, and a changed initialisation or formula moves them by far more."""
    stored = load_file(Path(__file__).parent / "data" / "gpt2_block_outputs.safetensors")
    models = {
        "learned": {},
        "rope_gqa_untied_nobias": dict(pos_emb="rope", n_kv_head=2, tie_embeddings=False, bias=False),
        "rope_moe_mqa": dict(pos_emb="rope", n_expert=4, n_kv_head=1),
    }
    for name, toggles in models.items():
        torch.manual_seed(0)
        model = GPT(GPTConfig(block_size=32, vocab_size=101, n_layer=2, n_head=4, n_embd=32, **toggles)).eval()
        torch.manual_seed(1)
        idx = torch.randint(0, 101, (2, 16))
        with torch.no_grad():
            torch.testing.assert_close(model(idx)[0], stored[f"{name}.logits"], rtol=0, atol=1e-6)
            torch.testing.assert_close(model(idx, idx.roll(-1, 1))[1], stored[f"{name}.loss"][0], rtol=0, atol=1e-6)


def test_a_checkpoint_without_the_toggles_loads_as_gpt2s_block():
    model = random_model()
    saved = {k: v for k, v in asdict(model.config).items() if k in asdict(GPTConfig(n_layer=1)) and k in SHAPE}
    saved.update(pos_emb="rope", rope_theta=500.0)  # a model_config written before the toggles existed
    loaded = GPT.from_checkpoint({"model": model.state_dict(), "model_config": saved}).eval()
    assert loaded.config == model.config
    assert (loaded.config.norm, loaded.config.mlp_activation, loaded.config.logit_softcap) == ("layernorm", "gelu", 0)


def test_zero_initialised_projections_make_every_block_the_identity():
    torch.manual_seed(0)
    model = GPT(GPTConfig(**SHAPE, zero_init_proj=True, n_expert=2)).eval()
    projections = [p for name, p in model.named_parameters() if name.endswith(("c_proj.weight", "proj_weight"))]
    assert len(projections) == 2 * SHAPE["n_layer"] and all(not p.any() for p in projections)
    idx = torch.randint(0, 101, (2, 12))
    with torch.no_grad():
        embeddings = model.transformer.wte(idx) + model.transformer.wpe(torch.arange(12))
        expected = model.lm_head(model.transformer.ln_f(embeddings))
        torch.testing.assert_close(model(idx)[0], expected, rtol=0, atol=1e-6)


def test_residual_scalars_and_value_embedding_gates_start_neutral():
    """At initialisation a_i = 1, b_i = 0: the model without the scalars on the same weights; each value
    embedding's gate is 1 everywhere."""
    torch.manual_seed(0)
    plain = GPT(GPTConfig(**SHAPE)).eval()
    scaled = GPT(GPTConfig(**SHAPE, residual_scalars=True)).eval()
    scaled.load_state_dict(plain.state_dict(), strict=False)
    idx = torch.randint(0, 101, (2, 12))
    with torch.no_grad():
        assert torch.equal(scaled(idx)[0], plain(idx)[0])
    gated = GPT(GPTConfig(**SHAPE, value_embeddings=True))
    layers = [i for i, block in enumerate(gated.transformer.h) if hasattr(block.attn, "ve_gate")]
    assert layers == [0, 2] and sorted(gated.transformer.ve) == ["0", "2"]  # every other one, the last included
    assert [has_value_embedding(i, 4) for i in range(4)] == [False, True, False, True]
    assert all(not gated.transformer.h[i].attn.ve_gate.weight.any() for i in layers)


@pytest.mark.parametrize("activation", ["relu2", "swiglu"])
def test_experts_take_the_mlp_activation(activation):
    """An MoE layer whose experts are all the dense MLP's, every one active, is the dense MLP."""
    torch.manual_seed(0)
    config = GPTConfig(**SHAPE, mlp_activation=activation, n_expert=3, n_expert_active=3)
    dense = GPT(GPTConfig(**SHAPE, mlp_activation=activation)).transformer.h[0].mlp
    moe = GPT(config).transformer.h[0].mlp
    with torch.no_grad():
        moe.fc_weight.copy_(dense.c_fc.weight.t().expand_as(moe.fc_weight))
        moe.fc_bias.copy_(dense.c_fc.bias.expand_as(moe.fc_bias))
        moe.proj_weight.copy_(dense.c_proj.weight.t().expand_as(moe.proj_weight))
        moe.proj_bias.copy_(dense.c_proj.bias.expand_as(moe.proj_bias) / 3)  # each chosen expert's adds up
        x = torch.randn(2, 5, SHAPE["n_embd"])
        for grouped in (True, False):
            moe.use_grouped_mm = grouped
            torch.testing.assert_close(moe(x)[0], dense(x)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pos_emb", ["rope", "learned"])
def test_the_new_block_with_a_kv_cache_generates_as_recomputation_and_stays_causal(pos_emb):
    model = random_model(pos_emb, **EVERY_TOGGLE, n_expert=2)
    idx = torch.randint(0, 101, (2, 8))
    with_cache = model.generate(idx, 12, temperature=0, use_cache=True)
    assert torch.equal(with_cache, model.generate(idx, 12, temperature=0, use_cache=False))
    changed = with_cache.clone()
    changed[:, 10] = (changed[:, 10] + 1) % 101
    with torch.no_grad():
        a, b = model(with_cache)[0], model(changed)[0]
    assert torch.equal(a[:, :10], b[:, :10]) and not torch.allclose(a[:, 10:], b[:, 10:])
    cache = KVCache(model.config, 2, "cpu", torch.float32)
    with torch.no_grad():
        model(with_cache[:, :15], cache=cache)
        torch.testing.assert_close(model(with_cache[:, 15:16], cache=cache)[0][:, 0], a[:, 15], rtol=0, atol=1e-5)


def test_every_toggle_trains_the_loss_down():
    model = random_model(**EVERY_TOGGLE).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    idx = torch.randint(0, 101, (4, 24))
    losses = []
    for _ in range(30):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1.0
    assert all(p.grad is None for p in model.parameters())  # and every parameter was in the graph:
    _, loss = model(idx[:, :-1], idx[:, 1:])
    loss.backward()
    assert [name for name, p in model.named_parameters() if p.grad is None or not p.grad.any()] == []


def test_float8_takes_the_block_matrices_but_not_the_small_gates():
    model = random_model(**EVERY_TOGGLE)
    converted = sorted(name for name, module in model.named_modules() if trains_in_fp8(module, name))
    expected = sorted(f"transformer.h.{i}.{part}" for i in range(3) for part in ("attn.c_attn", "attn.c_proj"))
    assert converted == sorted(expected + [f"transformer.h.{i}.mlp.{p}" for i in range(3) for p in ("c_fc", "c_proj")])


def test_a_trained_models_toggles_are_part_of_its_weights_meaning():
    checkpoint = {"model": random_model(**EVERY_TOGGLE).state_dict(), "model_config": asdict(random_model().config)}
    checkpoint["model_config"].update(EVERY_TOGGLE)
    with pytest.raises(UserError, match=r"qk_norm=False \(the checkpoint: True\)"):
        GPT.from_checkpoint(checkpoint, qk_norm=False)
    assert not GPT.from_checkpoint(checkpoint, zero_init_proj=False).config.zero_init_proj  # initialisation only


# ----------------------------------------------------------------------------------------------------------
# Bad input, one line each


@pytest.mark.parametrize(
    "settings,message",
    [
        (dict(norm="batchnorm"), "norm must be one of layernorm, rmsnorm, got 'batchnorm'"),
        (dict(mlp_activation="tanh"), "mlp_activation must be one of gelu, relu2, swiglu, got 'tanh'"),
        (dict(logit_softcap=-15.0), "logit_softcap must be 0 (off) or a positive number, got -15.0"),
        (dict(logit_softcap=math.inf), "logit_softcap must be 0 (off) or a positive number, got inf"),
        (dict(mlp_activation="swiglu", n_embd=32, n_head=4), "8 * n_embd / 3 = 85.33 is not a whole number"),
        (dict(mlp_width=0), "mlp_width must be positive"),
        (dict(qk_norm=True, n_embd=48, n_head=4), "qk_norm needs a head size the flash attention kernels take"),
        (dict(qk_norm=True, n_embd=1024, n_head=2), "(a multiple of 8, at most 256), got n_embd / n_head = 512"),
    ],
)
def test_bad_block_settings_are_one_line(settings, message):
    with pytest.raises(UserError) as error:
        GPTConfig(**{**SHAPE, "n_kv_head": None, **settings})
    assert message in str(error.value) and "\n" not in str(error.value)
