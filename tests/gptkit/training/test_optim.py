import copy

import pytest
import torch

from conftest import tiny_gpt
from gptkit.config import TrainConfig
from gptkit.errors import UserError
from gptkit.training.optim import MatrixMuon, OptimizerPair, build_optimizer, load_optimizer_state

TINY = dict(vocab_size=64, block_size=16, n_head=2, n_embd=16)


def ids(params):
    return sorted(id(p) for p in params)


def params_of(optimizer):
    return [p for group in optimizer.param_groups for p in group["params"]]


@pytest.mark.parametrize("settings", [{}, {"n_expert": 4, "tie_embeddings": False, "bias": False}])
def test_hidden_matrices_go_to_muon_and_everything_else_to_adamw(settings):
    model = tiny_gpt(**TINY, **settings).train()
    pair = build_optimizer(model.named_parameters(), TrainConfig(optimizer="muon"), "cpu")
    muon, adamw = params_of(pair.muon), params_of(pair.adamw)
    expected_muon = []
    for block in model.transformer.h:
        expected_muon += [block.attn.c_attn.weight, block.attn.c_proj.weight]
        if settings:
            expected_muon += [block.mlp.fc_weight, block.mlp.proj_weight]  # each a stack of expert matrices
        else:
            expected_muon += [block.mlp.c_fc.weight, block.mlp.c_proj.weight]
    assert ids(muon) == ids(expected_muon)
    assert not set(ids(muon)) & set(ids(adamw))
    assert ids(muon + adamw) == ids(model.parameters())  # each parameter once (a tied weight counts once)
    names = {id(p): name for name, p in model.named_parameters()}
    adamw_names = {names[id(p)] for p in adamw}
    assert {"transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight"} <= adamw_names
    if settings:
        assert {"lm_head.weight", "transformer.h.0.mlp.router.weight"} <= adamw_names


def test_adamw_keeps_its_param_groups():
    model = tiny_gpt(**TINY).train()
    cfg = TrainConfig(weight_decay=0.05, learning_rate=1e-3, beta1=0.8, beta2=0.9)
    optimizer = build_optimizer(model.named_parameters(), cfg, "cpu")
    assert isinstance(optimizer, torch.optim.AdamW) and not optimizer.defaults["fused"]
    decay, no_decay = optimizer.param_groups
    assert ids(decay["params"]) == ids(p for p in model.parameters() if p.dim() >= 2)
    assert ids(no_decay["params"]) == ids(p for p in model.parameters() if p.dim() < 2)
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.05, 0.0)
    assert decay["lr"] == 1e-3 and decay["betas"] == (0.8, 0.9)


def test_each_expert_gets_the_update_of_muon_on_its_own_matrix():
    torch.manual_seed(0)
    stack = torch.nn.Parameter(torch.randn(3, 8, 24))  # 3 experts' (in, out) matrices, as an MoE layer stores them
    square = torch.nn.Parameter(torch.randn(8, 8))
    settings = dict(lr=0.02, weight_decay=0.1, momentum=0.95, adjust_lr_fn="original")
    ours = MatrixMuon([stack, square], **settings)
    # the reference: torch's Muon on each expert's matrix as a parameter of its own, (out, in) like nn.Linear's
    experts = [torch.nn.Parameter(stack[e].detach().t().clone()) for e in range(3)]
    alone = torch.nn.Parameter(square.detach().clone())
    reference = torch.optim.Muon([*experts, alone], **settings)
    for _ in range(3):  # several steps, so the momentum buffers count too
        stack.grad, square.grad = torch.randn_like(stack), torch.randn_like(square)
        for e, expert in enumerate(experts):
            expert.grad = stack.grad[e].t().clone()
        alone.grad = square.grad.clone()
        ours.step()
        reference.step()
    for e, expert in enumerate(experts):
        torch.testing.assert_close(stack[e].detach().t(), expert.detach(), rtol=0, atol=0)
    torch.testing.assert_close(square.detach(), alone.detach(), rtol=0, atol=0)
    # a 2-D parameter's state is torch's own
    assert torch.equal(ours.state[square]["momentum_buffer"], reference.state[alone]["momentum_buffer"])


@pytest.mark.parametrize("adjust_lr_fn", ["original", "match_rms_adamw"])
def test_newton_schulz_in_fp32_is_torchs_muon_to_bf16_precision(adjust_lr_fn):
    torch.manual_seed(0)
    tall, wide, stack = torch.randn(48, 16), torch.randn(16, 40), torch.randn(2, 16, 24)  # both orientations
    ours_params = [torch.nn.Parameter(t.clone()) for t in (tall, wide, stack)]
    torch_params = [torch.nn.Parameter(t.clone()) for t in (tall, wide, stack)]
    settings = dict(lr=0.02, weight_decay=0.1, momentum=0.95, adjust_lr_fn=adjust_lr_fn)
    ours = MatrixMuon(ours_params, **settings, newton_schulz_in_fp32=True)
    reference = MatrixMuon(torch_params, **settings)  # torch's own step, in bf16
    for _ in range(3):
        for a, b in zip(ours_params, torch_params):
            a.grad = torch.randn_like(a)
            b.grad = a.grad.clone()
        ours.step()
        reference.step()
    for a, b, start in zip(ours_params, torch_params, (tall, wide, stack)):
        torch.testing.assert_close(ours.state[a]["momentum_buffer"], reference.state[b]["momentum_buffer"])
        ours_change, torch_change = a.detach() - start, b.detach() - start
        # bf16 keeps ~3 significant digits; a transposed, unscaled or undecayed update misses by far more
        assert (ours_change - torch_change).norm() < 0.02 * torch_change.norm()


def test_muon_orthogonalises_in_fp32_on_cpu_only():
    model = tiny_gpt(**TINY)
    cfg = TrainConfig(optimizer="muon")
    assert build_optimizer(model.named_parameters(), cfg, "cpu").muon.newton_schulz_in_fp32
    assert not build_optimizer(model.named_parameters(), cfg, "cuda").muon.newton_schulz_in_fp32


def one_step(optimizer, model, scaler=None, poison=False):
    torch.manual_seed(1)
    x = torch.randint(0, TINY["vocab_size"], (2, 8))
    _, loss = model(x, x)
    (scaler.scale(loss) if scaler else loss).backward()
    if poison:
        model.transformer.h[0].attn.c_attn.weight.grad[0, 0] = float("inf")
    if scaler:
        scaler.unscale_(optimizer)
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def test_the_gradient_scaler_unscales_and_guards_both_optimizers():
    plain, scaled, poisoned = tiny_gpt(**TINY).train(), tiny_gpt(**TINY).train(), tiny_gpt(**TINY).train()
    cfg = TrainConfig(optimizer="muon")
    optimizers = [build_optimizer(m.named_parameters(), cfg, "cpu") for m in (plain, scaled, poisoned)]
    one_step(optimizers[0], plain)
    one_step(optimizers[1], scaled, torch.amp.GradScaler("cpu", init_scale=1024.0))
    for a, b in zip(plain.parameters(), scaled.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)  # scaled and unscaled: the same step
    before = [p.detach().clone() for p in poisoned.parameters()]
    one_step(optimizers[2], poisoned, torch.amp.GradScaler("cpu", init_scale=1024.0), poison=True)
    for a, b in zip(before, poisoned.parameters()):
        assert torch.equal(a, b)  # an inf in Muon's gradients skips the AdamW step as well


def test_state_dict_round_trip_continues_identically():
    cfg = TrainConfig(optimizer="muon")
    model = tiny_gpt(**TINY, n_expert=2).train()
    optimizer = build_optimizer(model.named_parameters(), cfg, "cpu")
    one_step(optimizer, model)
    resumed = tiny_gpt(**TINY, n_expert=2).train()
    resumed.load_state_dict(model.state_dict())
    restored = build_optimizer(resumed.named_parameters(), cfg, "cpu")
    load_optimizer_state(restored, copy.deepcopy(optimizer.state_dict()), cfg)  # as if saved and loaded
    one_step(optimizer, model)
    one_step(restored, resumed)
    for a, b in zip(model.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_resuming_with_the_other_optimizer_is_refused_and_peaks_come_from_the_config():
    model = tiny_gpt(**TINY).train()
    adamw = build_optimizer(model.named_parameters(), TrainConfig(), "cpu")
    muon_cfg = TrainConfig(optimizer="muon", muon_lr=0.05, learning_rate=1e-3)
    muon = build_optimizer(model.named_parameters(), muon_cfg, "cpu")
    with pytest.raises(UserError, match="optimizer='adamw'"):
        load_optimizer_state(muon, adamw.state_dict(), muon_cfg)
    saved = muon.state_dict()
    later_cfg = TrainConfig(optimizer="muon", muon_lr=0.01, learning_rate=2e-3)
    later = build_optimizer(model.named_parameters(), later_cfg, "cpu")
    load_optimizer_state(later, saved, later_cfg)
    assert [g["peak_lr"] for g in later.param_groups] == [0.01, 2e-3, 2e-3]
    assert isinstance(later, OptimizerPair)


@pytest.mark.parametrize("key,value", [("optimizer", "sgd"), ("muon_adjust_lr", "sqrt"), ("lr_schedule", "linear")])
def test_unknown_choices_name_the_valid_ones(key, value):
    with pytest.raises(UserError, match=f"{key} must be one of"):
        TrainConfig(**{key: value})


# ----------------------------------------------------------------------------------------------------------
# AdamW's peak LR by role (embedding_lr, unembedding_lr, scalar_lr)

NEW_BLOCK = dict(
    norm="rmsnorm", qk_norm=True, residual_scalars=True, value_embeddings=True, tie_embeddings=False, n_kv_head=1
)
ROLE_LRS = dict(learning_rate=1e-3, embedding_lr=0.3, unembedding_lr=0.008, scalar_lr=0.005)


def expected_role(name, parameter, optimizer):
    """The role a parameter's name and shape say it has, written out from the module names."""
    if name.startswith(("transformer.wte", "transformer.wpe", "transformer.ve.")):
        return "embedding"
    if name == "lm_head.weight":
        return "unembedding"
    if parameter.dim() == 1 or name.endswith("bias"):  # gains, biases, residual scalars
        return "scalar"
    hidden = name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight", "fc_weight", "proj_weight"))
    return "muon" if optimizer == "muon" and hidden else "matrix"


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
@pytest.mark.parametrize("settings", [NEW_BLOCK, {**NEW_BLOCK, "n_expert": 2, "pos_emb": "rope"}, {"bias": True}])
def test_every_parameter_is_in_one_group_with_the_lr_of_its_role(optimizer, settings):
    model = tiny_gpt(**settings)
    lrs = {**ROLE_LRS, "unembedding_lr": None} if model.config.tie_embeddings else ROLE_LRS
    cfg = TrainConfig(optimizer=optimizer, muon_lr=0.02, weight_decay=0.1, **lrs)
    built = build_optimizer(model.named_parameters(), cfg, "cpu")
    peaks = dict(embedding=0.3, unembedding=0.008, scalar=0.005, matrix=1e-3, muon=0.02)  # tied: the embedding's
    group_of = {}
    for group in built.param_groups:
        for p in group["params"]:
            assert id(p) not in group_of, "a parameter in two groups"
            group_of[id(p)] = group
    assert sorted(group_of) == ids(model.parameters())
    for name, p in model.named_parameters():
        role = expected_role(name, p, optimizer)
        group = group_of[id(p)]
        assert group["peak_lr"] == peaks[role], name
        assert group.get("role", "muon") == role, name
        if role != "muon":
            assert group["weight_decay"] == (0.0 if role == "scalar" else 0.1), name


def test_an_unembedding_lr_for_a_tied_head_is_one_line():
    with pytest.raises(UserError, match="^unembedding_lr is set, but the output head is the token embedding"):
        build_optimizer(tiny_gpt().named_parameters(), TrainConfig(unembedding_lr=0.01), "cpu")


def test_role_groups_resume_with_their_state_and_the_configs_peaks():
    cfg = TrainConfig(optimizer="muon", **ROLE_LRS)
    model = tiny_gpt(**NEW_BLOCK)
    optimizer = build_optimizer(model.named_parameters(), cfg, "cpu")
    one_step(optimizer, model)
    resumed = tiny_gpt(**NEW_BLOCK)
    resumed.load_state_dict(model.state_dict())
    later_cfg = TrainConfig(optimizer="muon", **{**ROLE_LRS, "embedding_lr": 0.1})  # a resume may change a rate
    restored = build_optimizer(resumed.named_parameters(), later_cfg, "cpu")
    load_optimizer_state(restored, copy.deepcopy(optimizer.state_dict()), later_cfg)
    assert [g.get("role") for g in restored.param_groups] == [None, "embedding", "unembedding", "scalar", "matrix"]
    assert [g["peak_lr"] for g in restored.param_groups] == [0.02, 0.1, 0.008, 0.005, 1e-3]
    for group, saved in zip(restored.adamw.param_groups, optimizer.adamw.param_groups):
        for p, q in zip(group["params"], saved["params"]):
            assert torch.equal(restored.adamw.state[p]["exp_avg"], optimizer.adamw.state[q]["exp_avg"])
    fresh = tiny_gpt(**NEW_BLOCK)  # the same rates: the same next step as the uninterrupted optimizer
    fresh.load_state_dict(model.state_dict())
    same = build_optimizer(fresh.named_parameters(), cfg, "cpu")
    load_optimizer_state(same, copy.deepcopy(optimizer.state_dict()), cfg)
    one_step(optimizer, model)
    one_step(same, fresh)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), fresh.parameters()))
    plain = build_optimizer(tiny_gpt(**NEW_BLOCK).named_parameters(), TrainConfig(optimizer="muon"), "cpu")
    with pytest.raises(UserError, match="other param groups than this run's") as error:
        load_optimizer_state(plain, optimizer.state_dict(), TrainConfig(optimizer="muon"))
    assert "\n" not in str(error.value)
