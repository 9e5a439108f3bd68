import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT, TINY_GPT, run_command, small_checkpoint, tiny_gpt
from gptkit.checkpointing.checkpoint import save_checkpoint
from gptkit.errors import UserError
from gptkit.model_parts.rope import rope_tables
from gptkit.training.optim import build_adamw
from model import GPT, GPTConfig, MixtureOfExperts, apply_rope, load_model, parse_depths


def hf_logits(hf_model, idx):
    with torch.no_grad():
        return hf_model(idx).logits


def test_logits_equal_huggingface_gpt2(tiny_hf_gpt2):
    folder, hf_model = tiny_hf_gpt2
    model = GPT.from_pretrained(str(folder)).eval()
    idx = torch.randint(0, 257, (2, 64))
    with torch.no_grad():
        ours, _ = model(idx)
        _, our_loss = model(idx, targets=idx)  # with targets the model returns the loss alone, not the logits
        theirs = hf_model(idx, labels=idx)
    assert (ours - theirs.logits).abs().max().item() <= 1e-4
    # transformers shifts the labels itself: compare against our loss on the same shifted pairs
    _, shifted_loss = model(idx[:, :-1], targets=idx[:, 1:])
    assert shifted_loss.item() == pytest.approx(theirs.loss.item(), abs=1e-5)
    assert our_loss.item() > 0


def test_from_pretrained_with_rope_keeps_all_weights_but_positions(tmp_path):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    hf_model = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=50))
    hf_model.save_pretrained(tmp_path)
    model = GPT.from_pretrained(str(tmp_path), pos_emb="rope", block_size=256, vocab_size=64)
    assert "transformer.wpe.weight" not in model.state_dict()
    assert model.config.vocab_size == 64
    assert torch.equal(model.transformer.wte.weight[:50], hf_model.transformer.wte.weight)
    assert torch.equal(model.transformer.h[0].mlp.c_fc.weight, hf_model.transformer.h[0].mlp.c_fc.weight.t())


def test_from_pretrained_offline_without_copy_is_one_line_error(tmp_path):
    with pytest.raises(UserError, match="save_pretrained"):
        GPT.from_pretrained(str(tmp_path / "missing"))


TOGGLES = list(itertools.product(["learned", "rope"], [4, 2, 1], [0, 4]))


@pytest.mark.parametrize("pos_emb,n_kv_head,n_expert", TOGGLES)
def test_changing_a_token_changes_no_earlier_logit(pos_emb, n_kv_head, n_expert):
    model = tiny_gpt(pos_emb=pos_emb, n_kv_head=n_kv_head, n_expert=n_expert)
    idx = torch.randint(0, 101, (2, 20))
    changed = idx.clone()
    changed[:, 12] = (idx[:, 12] + 1) % 101
    with torch.no_grad():
        a, _ = model(idx)
        b, _ = model(changed)
    assert torch.equal(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])


def textbook_attention(attn, x, n_head, n_kv_head):
    """softmax(Q K^T / sqrt(d) + causal mask) V, one head at a time, with k/v heads shared by query groups."""
    B, T, C = x.shape
    hs = C // n_head
    qkv = x @ attn.c_attn.weight.t() + attn.c_attn.bias
    q, k, v = qkv.split([C, n_kv_head * hs, n_kv_head * hs], dim=-1)
    mask = torch.triu(torch.full((T, T), float("-inf")), diagonal=1)
    heads = []
    for h in range(n_head):
        kv = h // (n_head // n_kv_head)
        qh, kh, vh = q[..., h * hs : (h + 1) * hs], k[..., kv * hs : (kv + 1) * hs], v[..., kv * hs : (kv + 1) * hs]
        scores = qh @ kh.transpose(-1, -2) / math.sqrt(hs) + mask
        heads.append(torch.softmax(scores, dim=-1) @ vh)
    return torch.cat(heads, dim=-1) @ attn.c_proj.weight.t() + attn.c_proj.bias


@pytest.mark.parametrize("n_kv_head", [4, 2, 1])
def test_attention_equals_textbook_formula(n_kv_head):
    model = tiny_gpt(n_kv_head=n_kv_head)
    attn = model.transformer.h[0].attn
    x = torch.randn(2, 10, 32)
    with torch.no_grad():
        assert torch.allclose(attn(x), textbook_attention(attn, x, 4, n_kv_head), atol=1e-5)


def test_rope_scores_depend_only_on_relative_position():
    cos, sin = rope_tables(GPTConfig(n_embd=64, n_head=4, pos_emb="rope"), 64)  # head size 16
    q, k = torch.randn(1, 1, 8, 16), torch.randn(1, 1, 8, 16)
    for shift in (0, 5, 40):
        positions = slice(shift, shift + 8)
        rq, rk = apply_rope(q, cos[positions], sin[positions]), apply_rope(k, cos[positions], sin[positions])
        scores = rq @ rk.transpose(-1, -2)
        if shift == 0:
            reference = scores
        assert torch.allclose(scores, reference, atol=1e-4)
    # and rotation really happened: un-rotated scores differ
    assert not torch.allclose(q @ k.transpose(-1, -2), reference, atol=1e-3)


def test_moe_with_all_experts_active_and_identical_equals_dense_mlp():
    dense = tiny_gpt()
    moe = tiny_gpt(n_expert=4, n_expert_active=4)
    mlp, experts = dense.transformer.h[0].mlp, moe.transformer.h[0].mlp
    with torch.no_grad():
        experts.router.weight.normal_()  # any routing: the renormalised weights sum to 1
        experts.fc_weight.copy_(mlp.c_fc.weight.t().expand_as(experts.fc_weight))
        experts.fc_bias.copy_(mlp.c_fc.bias.expand_as(experts.fc_bias))
        experts.proj_weight.copy_(mlp.c_proj.weight.t().expand_as(experts.proj_weight))
        experts.proj_bias.copy_(mlp.c_proj.bias.expand_as(experts.proj_bias))
        x = torch.randn(2, 10, 32)
        assert torch.allclose(experts(x)[0], mlp(x)[0], atol=1e-5)


@pytest.mark.skipif(not hasattr(torch.nn.functional, "grouped_mm"), reason="torch without grouped_mm")
def test_moe_grouped_matmul_equals_per_expert_loop():
    torch.manual_seed(0)
    moe = MixtureOfExperts(GPTConfig(**TINY_GPT, n_expert=8, n_expert_active=2))
    x = torch.randn(3, 7, 32)
    outputs, grads = [], []
    for grouped in (True, False):
        moe.use_grouped_mm = grouped
        moe.zero_grad()
        y, aux_loss = moe(x)
        (y.square().sum() + aux_loss).backward()
        outputs.append(y.detach())
        grads.append([p.grad.clone() for p in moe.parameters()])
    assert torch.allclose(outputs[0], outputs[1], atol=1e-5)
    for grouped_grad, looped_grad in zip(*grads):
        assert torch.allclose(grouped_grad, looped_grad, atol=1e-5)


def test_moe_aux_loss_is_one_for_uniform_router():
    moe = MixtureOfExperts(GPTConfig(**TINY_GPT, n_expert=8, n_expert_active=2))
    with torch.no_grad():
        moe.router.weight.zero_()
        _, aux_loss = moe(torch.randn(3, 7, 32))
    assert aux_loss.item() == pytest.approx(1.0, abs=1e-6)


def test_moe_aux_loss_grows_when_routing_concentrates():
    moe = MixtureOfExperts(GPTConfig(**TINY_GPT, n_expert=8, n_expert_active=2))
    with torch.no_grad():
        moe.router.weight.zero_()
        moe.router.weight[0] = 1.0  # every token prefers expert 0 when its features sum positive
        _, aux_loss = moe(torch.randn(3, 7, 32).abs())
    assert aux_loss.item() > 1.2


def test_moe_aux_loss_joins_the_training_loss_only():
    model = tiny_gpt(n_expert=4, n_expert_active=2, moe_aux_loss_coef=0.5)
    idx, targets = torch.randint(0, 101, (2, 2, 16))
    with torch.no_grad():
        logits, _ = model(idx)
        _, eval_loss = model(idx, targets)
        cross_entropy = F.cross_entropy(logits.view(-1, 101), targets.view(-1))
        _, train_loss = model.train()(idx, targets)
    assert eval_loss.item() == pytest.approx(cross_entropy.item(), abs=1e-6)
    assert train_loss.item() == pytest.approx(cross_entropy.item() + 0.5 * model.last_aux_loss.item(), abs=1e-6)


def test_moe_gradients_reach_every_expert_that_received_tokens():
    model = tiny_gpt(n_expert=8, n_expert_active=2)
    model.train()
    idx = torch.randint(0, 101, (4, 32))
    _, loss = model(idx, targets=idx)
    loss.backward()
    moe = model.transformer.h[0].mlp
    x = model.transformer.h[0].ln_2  # routing of layer 0 recomputed to see which experts got tokens
    with torch.no_grad():
        h = model.transformer.wte(idx) + model.transformer.wpe(torch.arange(32))
        h = h + model.transformer.h[0].attn(model.transformer.h[0].ln_1(h))
        chosen = moe.router(x(h)).topk(2, dim=-1).indices.unique().tolist()
    assert chosen
    for e in range(8):
        received = e in chosen
        assert (moe.fc_weight.grad[e].abs().sum() > 0) == received
        assert (moe.proj_weight.grad[e].abs().sum() > 0) == received
    assert moe.router.weight.grad.abs().sum() > 0
    assert model.last_aux_loss is not None


@pytest.mark.parametrize("pos_emb,n_kv_head,n_expert", [("learned", 4, 0), ("rope", 4, 0), ("rope", 2, 4)])
def test_kv_cache_generation_equals_full_recompute(pos_emb, n_kv_head, n_expert):
    model = tiny_gpt(pos_emb=pos_emb, n_kv_head=n_kv_head, n_expert=n_expert)
    prompt = torch.randint(0, 101, (2, 5))
    # 40 new tokens run past block_size 32, where the cache gives way to re-reading the last 32 tokens
    cached = model.generate(prompt, 40, top_k=1, use_cache=True)
    recomputed = model.generate(prompt, 40, top_k=1, use_cache=False)
    assert torch.equal(cached, recomputed)
    assert cached.shape == (2, 45)


def test_kv_cache_sampling_equals_recompute_for_a_seed():
    model = tiny_gpt(pos_emb="rope")
    prompt = torch.randint(0, 101, (1, 3))
    a = model.generate(prompt, 20, temperature=0.8, top_k=20, generator=torch.Generator().manual_seed(1))
    b = model.generate(
        prompt, 20, temperature=0.8, top_k=20, use_cache=False, generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(a, b)


def test_loss_at_initialisation_is_close_to_uniform():
    model = tiny_gpt(vocab_size=1000, n_embd=64)
    idx, targets = torch.randint(0, 1000, (2, 4, 32))
    _, loss = model(idx, targets=targets)
    assert abs(loss.item() - math.log(1000)) < 0.05


def param_count_millions(**fields):
    with torch.device("meta"):
        return GPT(GPTConfig(**fields)).num_params()["total"] / 1e6


def test_parameter_counts_reproduce_the_logbook():
    assert param_count_millions(n_layer=2, n_head=2, n_embd=384, block_size=256, tie_embeddings=False) == (
        pytest.approx(42.28, abs=0.01)
    )
    assert param_count_millions(pos_emb="rope") == pytest.approx(123.7, abs=0.05)
    gqa = dict(pos_emb="rope", n_head=16, n_kv_head=4)
    assert param_count_millions(**gqa) == pytest.approx(113.1, abs=0.05)
    assert param_count_millions(**gqa, n_expert=8, n_expert_active=2) == pytest.approx(509, abs=5)


def test_active_parameters_and_flops_count_only_chosen_experts():
    with torch.device("meta"):
        dense = GPT(GPTConfig(pos_emb="rope", n_head=16, n_kv_head=4))
        moe = GPT(GPTConfig(pos_emb="rope", n_head=16, n_kv_head=4, n_expert=8, n_expert_active=2))
    expert = 2 * 768 * 3072 + 3072 + 768
    router = 768 * 8
    assert moe.num_params()["active"] == dense.num_params()["total"] + 12 * (expert + router)
    assert moe.flops_per_token() - dense.flops_per_token() == 6 * 12 * (expert + router)
    # dense GPT-2 124M: 6 * (parameters without the position table) + 12 * layers * width * context
    with torch.device("meta"):
        gpt2 = GPT(GPTConfig())
    expected = 6 * (gpt2.num_params()["total"] - 1024 * 768) + 12 * 12 * 768 * 1024
    assert gpt2.flops_per_token() == expected


@pytest.mark.parametrize(
    "fields,message",
    [
        (dict(n_embd=30, n_head=4), "divisible by n_head"),
        (dict(n_head=4, n_kv_head=3), "divisible by n_kv_head"),
        (dict(n_embd=36, n_head=4, pos_emb="rope"), "even head size"),
        (dict(n_expert=2, n_expert_active=3), "n_expert_active"),
        (dict(pos_emb="alibi"), "pos_emb"),
    ],
)
def test_impossible_shapes_are_one_line_errors(fields, message):
    with pytest.raises(UserError, match=message) as error:
        GPTConfig(**{**TINY_GPT, **fields})
    assert "\n" not in str(error.value)


def test_sequence_longer_than_block_size_is_rejected():
    with pytest.raises(UserError, match="block_size"):
        tiny_gpt()(torch.zeros(1, 33, dtype=torch.long))


def test_optimizer_decays_matrices_only():
    model = tiny_gpt(n_expert=4)
    optimizer = build_adamw(model.named_parameters(), 0.1, 1e-3, (0.9, 0.95), "cpu")
    decayed = {id(p) for p in optimizer.param_groups[0]["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decayed) == (p.dim() >= 2 and not name.endswith("bias")), name


# ----------------------------------------------------------------------------------------------------------
# GPT-2 warm start into grouped-query attention, and the settings a warm start or a checkpoint cannot honour


def test_gpt2_converted_to_as_many_kv_heads_as_heads_is_gpt2(tiny_hf_gpt2):
    folder, hf_model = tiny_hf_gpt2
    model = GPT.from_pretrained(str(folder), n_kv_head=4).eval()
    idx = torch.randint(0, 257, (2, 64))
    with torch.no_grad():
        ours, _ = model(idx)
    assert (ours - hf_logits(hf_model, idx)).abs().max().item() <= 1e-4


def group_means_of_gpt2(hf_attention, n_head, n_kv_head):
    """The key and value heads of GPT-2's fused Conv1D (in, q|k|v out) averaged over each group of query heads,
    one head at a time, as (weight rows in nn.Linear's (out, in) layout, bias)."""
    weight, bias = hf_attention.c_attn.weight, hf_attention.c_attn.bias
    width = weight.shape[0]
    head_size, group = width // n_head, n_head // n_kv_head
    rows, biases = [], []
    for part in (1, 2):  # keys, then values
        for kv_head in range(n_kv_head):
            heads = range(kv_head * group, (kv_head + 1) * group)
            columns = [slice(part * width + h * head_size, part * width + (h + 1) * head_size) for h in heads]
            rows.append(sum(weight[:, c] for c in columns).t() / group)
            biases.append(sum(bias[c] for c in columns) / group)
    return torch.cat(rows), torch.cat(biases)


@pytest.mark.parametrize("n_kv_head", [2, 1])
def test_gpt2_into_gqa_averages_each_groups_key_and_value_heads(tiny_hf_gpt2, n_kv_head):
    folder, hf_model = tiny_hf_gpt2
    model = GPT.from_pretrained(str(folder), n_kv_head=n_kv_head)
    assert model.config.n_head == 4 and model.config.n_kv_head == n_kv_head
    for block, hf_block in zip(model.transformer.h, hf_model.transformer.h):
        attn, hf_attn = block.attn, hf_block.attn
        kv_weight, kv_bias = group_means_of_gpt2(hf_attn, 4, n_kv_head)
        assert torch.allclose(attn.c_attn.weight[32:], kv_weight, atol=1e-6)
        assert torch.allclose(attn.c_attn.bias[32:], kv_bias, atol=1e-6)
        assert torch.equal(attn.c_attn.weight[:32], hf_attn.c_attn.weight[:, :32].t())  # queries as they were
        assert torch.equal(attn.c_attn.bias[:32], hf_attn.c_attn.bias[:32])
        assert torch.equal(attn.c_proj.weight, hf_attn.c_proj.weight.t())


def test_gqa_from_gpt2_whose_groups_share_their_heads_keeps_its_logits(tiny_hf_gpt2, tmp_path):
    # When the heads of each group are already equal their mean is that head: the converted model must compute
    # what GPT-2 computes, which holds only if key/value head j serves the query heads of group j.
    folder, hf_model = tiny_hf_gpt2
    transformers = pytest.importorskip("transformers")
    shared = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
    with torch.no_grad():
        for block in shared.transformer.h:
            for part in (1, 2):
                for head in (1, 3):  # groups {0, 1} and {2, 3} of 8-wide heads
                    first, second = part * 32 + (head - 1) * 8, part * 32 + head * 8
                    block.attn.c_attn.weight[:, second : second + 8] = block.attn.c_attn.weight[:, first : first + 8]
                    block.attn.c_attn.bias[second : second + 8] = block.attn.c_attn.bias[first : first + 8]
    shared.save_pretrained(tmp_path)
    model = GPT.from_pretrained(str(tmp_path), n_kv_head=2).eval()
    idx = torch.randint(0, 257, (2, 64))
    with torch.no_grad():
        ours, _ = model(idx)
    assert (ours - hf_logits(shared, idx)).abs().max().item() <= 1e-4
    assert (ours - hf_logits(hf_model, idx)).abs().max().item() > 1e-3  # the change did change the model


@pytest.mark.parametrize(
    "settings,message",
    [
        (dict(n_head=16), "n_head=16 (GPT-2: 4)"),
        (dict(n_layer=4), "n_layer=4 (GPT-2: 2)"),
        (dict(n_layer=4, n_embd=64, n_kv_head=2), "n_embd=64 (GPT-2: 32), n_layer=4 (GPT-2: 2)"),
        (dict(n_expert=4), "n_expert=4 (GPT-2: 0)"),
    ],
)
def test_gpt2_warm_start_refuses_a_shape_it_cannot_honour(tiny_hf_gpt2, settings, message):
    with pytest.raises(UserError, match="cannot be honoured") as error:
        GPT.from_pretrained(str(tiny_hf_gpt2[0]), **settings)
    assert str(error.value).endswith(message)


def test_checkpoint_refuses_other_model_settings_but_takes_dropout():
    model, state = small_checkpoint()
    with pytest.raises(UserError, match=r"differs from the settings given: n_layer=2 \(the checkpoint: 1\)$"):
        GPT.from_checkpoint(state, n_layer=2, n_embd=16)
    resumed = GPT.from_checkpoint(state, n_layer=1, dropout=0.1)
    assert resumed.config.dropout == 0.1
    assert all(torch.equal(a, b) for a, b in zip(resumed.state_dict().values(), model.state_dict().values()))


def test_weights_that_do_not_fit_the_config_are_a_one_line_error(tmp_path):
    _, state = small_checkpoint()
    state["model_config"]["n_embd"] = 32
    save_checkpoint(tmp_path / "ckpt.pt", state)
    with pytest.raises(UserError, match="do not fit") as error:
        load_model(tmp_path / "ckpt.pt")
    assert "\n" not in str(error.value)


def test_load_model_wants_exactly_one_source_named_as_argument_and_flag(tmp_path):
    for sources, given in [({}, "neither"), ({"checkpoint": tmp_path / "ckpt.pt", "hf": "gpt2"}, "both")]:
        with pytest.raises(UserError) as error:
            load_model(**sources)
        expected = f"give exactly one model source, checkpoint or hf (--checkpoint or --hf); got {given}"
        assert str(error.value) == expected


def test_model_table_lists_each_config():
    printed = run_command("model.py", ROOT / "configs" / "gpt2_gqa.py", ROOT / "configs" / "moe.py")
    gqa, moe = printed.splitlines()[2:4]
    assert "113.06M" in gqa and gqa.split()[-1] == "0.792"
    assert "509.82M" in moe and "169.80M" in moe


def test_depth_table_prints_what_the_dial_derives_at_each_depth():
    from gptkit.config import TrainConfig, load_config

    speedrun = ROOT / "configs" / "speedrun.py"
    printed = run_command("model.py", "--depths", "4,12,20", speedrun)
    rows = [line.split() for line in printed.splitlines()[2:]]
    assert [row[0] for row in rows] == ["4", "12", "20"]
    for row in rows:
        model_config, cfg = load_config([str(speedrun), f"--depth={row[0]}"], GPTConfig, TrainConfig)
        assert (int(row[1]), int(row[2])) == (model_config.n_embd, model_config.n_head)
        assert (int(row[6].replace(",", "")), int(row[7].replace(",", ""))) == (cfg.total_batch_tokens, cfg.max_iters)
        assert float(row[8]) == pytest.approx(cfg.muon_lr, abs=1e-4)
    with pytest.raises(UserError, match="^--depths takes whole numbers separated by commas, e.g. 4,8,12; got '4,x'$"):
        parse_depths("4,x")
