"""
The optimizer of a training run: AdamW for every parameter, or Muon for the hidden weight matrices and AdamW
for the rest (embeddings, output head, norm gains, biases, residual scalars, MoE router).

AdamW's peak LR is learning_rate for every parameter unless the config names a rate for a role (as nanochat
sets them, and the depth dial derives them): embedding_lr for the lookup tables (token embedding, learned
positions, value embeddings), unembedding_lr for an untied output head, scalar_lr for every parameter of
fewer than two dimensions (norm gains, biases, residual scalars); the other matrices keep learning_rate.
Weight decay applies to the matrices and tables, never to the scalars.

Invariants the tests check: every trainable parameter is in exactly one optimizer and one group, with the
peak LR the config names for its role; without role LRs AdamW has the same two param groups (decay on >= 2-D
weights) as the optimizer this repository always had; a resume takes up the groups' state and the config's
peaks; an MoE layer's stacked experts each get exactly the update torch's Muon gives that expert's matrix on
its own.
"""

import contextlib
import inspect
import math

import torch

from gptkit.errors import UserError

# The hidden weight matrices Muon orthogonalises: attention and MLP projections (nn.Linear weights, stored
# (out, in)) and the stacked expert weights of an MoE layer (stored (expert, in, out)).
MUON_MATRICES = ("c_attn.weight", "c_proj.weight", "c_fc.weight")
MUON_EXPERT_STACKS = ("fc_weight", "proj_weight")


def goes_to_muon(name, parameter):
    if name.endswith(MUON_EXPERT_STACKS):
        return parameter.dim() == 3
    return name.endswith(MUON_MATRICES) and parameter.dim() == 2


# AdamW's roles besides the other matrices (which keep learning_rate) and the config key of each one's peak LR
ROLE_LRS = {"embedding": "embedding_lr", "unembedding": "unembedding_lr", "scalar": "scalar_lr"}
EMBEDDING_TABLES = ("transformer.wte.", "transformer.wpe.", "transformer.ve.")


def role_of(name, parameter):
    if name.startswith(EMBEDDING_TABLES):
        return "embedding"
    if name == "lm_head.weight":  # listed only when untied: a tied head is the token embedding
        return "unembedding"
    return "scalar" if parameter.dim() < 2 or name.endswith("bias") else "matrix"  # an MoE's biases are 2-D


def build_adamw(named_parameters, weight_decay, learning_rate, betas, device_type, role_lrs=None):
    """AdamW with weight decay on matrices (and embeddings) only; biases and norm gains are not decayed.
    role_lrs: {role: peak LR} of the roles with their own (ROLE_LRS); without any, the two groups this repository
    always had (decay, no decay), else a group per role, the other matrices at learning_rate."""
    if role_lrs:
        groups = role_groups(named_parameters, weight_decay, learning_rate, role_lrs)
    else:
        decay, no_decay = [], []
        for name, p in named_parameters:
            (decay if p.dim() >= 2 and not name.endswith("bias") else no_decay).append(p)
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        groups = [{**group, "peak_lr": learning_rate} for group in groups]  # the schedule scales each from its peak
    fused = device_type == "cuda" and "fused" in inspect.signature(torch.optim.AdamW).parameters
    return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, fused=fused)


def role_groups(named_parameters, weight_decay, learning_rate, role_lrs):
    """A param group per role that has parameters, each with its peak LR; the scalars are not decayed."""
    by_role = {role: [] for role in (*ROLE_LRS, "matrix")}
    for name, p in named_parameters:
        by_role[role_of(name, p)].append(p)
    if "unembedding" in role_lrs and not by_role["unembedding"]:
        raise UserError(
            "unembedding_lr is set, but the output head is the token embedding (tie_embeddings=True): set "
            "tie_embeddings=False, or leave unembedding_lr unset"
        )
    return [
        {
            "params": params,
            "role": role,
            "peak_lr": role_lrs.get(role, learning_rate),
            "weight_decay": 0.0 if role == "scalar" else weight_decay,
        }
        for role, params in by_role.items()
        if params
    ]


def build_optimizer(named_parameters, cfg, device_type):
    """The optimizer cfg.optimizer names, over the trainable ones of named_parameters (a model's
    named_parameters(): a weight shared by two modules, like tied embeddings, is listed once)."""
    named = [(name, p) for name, p in named_parameters if p.requires_grad]
    role_lrs = {role: getattr(cfg, key) for role, key in ROLE_LRS.items() if getattr(cfg, key) is not None}
    adamw_settings = (cfg.weight_decay, cfg.learning_rate, (cfg.beta1, cfg.beta2), device_type, role_lrs)
    if cfg.optimizer == "adamw":
        return build_adamw(named, *adamw_settings)
    hidden = [p for name, p in named if goes_to_muon(name, p)]
    muon = MatrixMuon(
        [{"params": hidden, "peak_lr": cfg.muon_lr}],
        lr=cfg.muon_lr,
        weight_decay=cfg.muon_weight_decay,
        momentum=cfg.muon_momentum,
        adjust_lr_fn=cfg.muon_adjust_lr,
        newton_schulz_in_fp32=device_type == "cpu",
    )
    adamw = build_adamw([(name, p) for name, p in named if not goes_to_muon(name, p)], *adamw_settings)
    return OptimizerPair(muon=muon, adamw=adamw)


def load_optimizer_state(optimizer, state, cfg):
    """Take up a checkpoint's optimizer state. The peaks of the LR schedule stay the config's, as the schedule
    itself does, so a resumed run may change learning_rate, muon_lr or a role's LR (other hyperparameters are
    the checkpoint's, as torch restores them); it may not switch role LRs on or off, which regroups AdamW."""
    saved = "muon" if set(state) == {"muon", "adamw"} else "adamw"
    if saved != cfg.optimizer:
        raise UserError(f"the checkpoint was trained with optimizer={saved!r}; resume with --optimizer={saved}")
    with config_peaks_kept(optimizer):
        try:
            optimizer.load_state_dict(state)
        except ValueError as e:  # torch: another number of groups, or groups of other sizes
            raise UserError(
                f"the checkpoint's optimizer has other param groups than this run's ({e}): resume with the "
                "embedding_lr, unembedding_lr and scalar_lr it was trained with, each set or unset as then"
            ) from None


@contextlib.contextmanager
def config_peaks_kept(optimizer):
    """Whatever loads optimizer state inside this (a ckpt.pt, a sharded checkpoint) leaves each group's peak LR
    the config's, so a resumed run follows the schedule it is given, not the one it was saved with."""
    peaks = [group["peak_lr"] for group in optimizer.param_groups]
    yield
    for group, peak in zip(optimizer.param_groups, peaks):
        group["peak_lr"] = peak


class MatrixMuon(torch.optim.Optimizer):
    """torch.optim.Muon for 2-D matrices and for stacks of (in, out) matrices (an MoE layer's experts).

    torch's Muon takes 2-D parameters only. Here each matrix of a stack is handed to torch's Muon as a view
    of its own, transposed to (out, in) as nn.Linear stores its weight, so that Muon's shape-dependent LR
    adjustment treats an expert like the dense MLP's layer. The momentum buffer keeps the parameter's shape,
    so the state dict of a 2-D parameter is torch's own.

    newton_schulz_in_fp32 (what build_optimizer sets on a CPU): torch's Muon orthogonalises in bf16, which a CPU
    without bf16 units emulates ~20x slower than fp32 (1.4 s of a ~2.3 s step at 4 x 128 on this repository's
    2-core test machine, LOGBOOK 2026-12-07); there the same update is computed with the iteration in fp32, as
    nanochat does wherever its compute dtype is fp32. It equals torch's update to bf16's precision.
    """

    def __init__(self, params, lr, weight_decay, momentum, adjust_lr_fn, newton_schulz_in_fp32=False):
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, adjust_lr_fn=adjust_lr_fn)
        super().__init__(params, defaults)
        self.newton_schulz_in_fp32 = newton_schulz_in_fp32

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            views, grads, buffers = [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if "momentum_buffer" not in self.state[p]:
                    self.state[p]["momentum_buffer"] = torch.zeros_like(p)
                for tensor, views_of in ((p, views), (p.grad, grads), (self.state[p]["momentum_buffer"], buffers)):
                    views_of.extend(matrices(tensor.detach()))
            if not views:
                continue
            # A fresh torch Muon over views of this step's matrices, given the stored momentum as its state:
            # it updates the parameters and the buffers in place through the views.
            hyper = {key: group[key] for key in ("lr", "weight_decay", "momentum", "adjust_lr_fn")}
            muon = torch.optim.Muon(views, **hyper)
            if self.newton_schulz_in_fp32:
                muon_step_in_fp32(muon.param_groups[0], grads, buffers)
                continue
            for view, grad, buffer in zip(views, grads, buffers):
                view.grad = grad
                muon.state[view]["momentum_buffer"] = buffer
            muon.step()
        return loss


def muon_step_in_fp32(group, grads, buffers):
    """The step of torch.optim.Muon (its group's hyperparameters: momentum, Nesterov, the quintic Newton-Schulz
    iteration, the shape-dependent LR, decoupled weight decay) over group's params, with the iteration in fp32."""
    a, b, c = group["ns_coefficients"]
    for param, grad, buffer in zip(group["params"], grads, buffers):
        buffer.lerp_(grad, 1 - group["momentum"])
        update = grad.lerp(buffer, group["momentum"]) if group["nesterov"] else buffer
        tall = update.size(0) > update.size(1)
        x = update.float().T if tall else update.float()  # wide, so that the Gram matrix is the small side
        x = x / x.norm().clamp(min=group["eps"])
        for _ in range(group["ns_steps"]):
            gram = x @ x.T
            x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
        x = x.T if tall else x
        rows, cols = param.shape
        if group["adjust_lr_fn"] == "match_rms_adamw":
            lr = group["lr"] * 0.2 * math.sqrt(max(rows, cols))
        else:  # "original"
            lr = group["lr"] * math.sqrt(max(1, rows / cols))
        param.mul_(1 - group["lr"] * group["weight_decay"])
        param.add_(x.to(param.dtype), alpha=-lr)


def matrices(tensor):
    """A 2-D tensor itself, or each (in, out) matrix of a 3-D stack as an (out, in) view."""
    return [tensor] if tensor.dim() == 2 else [m.t() for m in tensor.unbind(0)]


class OptimizerPair:
    """Muon and AdamW stepped as one optimizer, so the training loop, the gradient scaler (which unscales and
    checks every group of param_groups) and checkpoints treat them as one."""

    def __init__(self, muon, adamw):
        self.muon, self.adamw = muon, adamw

    @property
    def param_groups(self):
        return self.muon.param_groups + self.adamw.param_groups

    def step(self):
        self.muon.step()
        self.adamw.step()

    def zero_grad(self, set_to_none=True):
        self.muon.zero_grad(set_to_none)
        self.adamw.zero_grad(set_to_none)

    def state_dict(self):
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state):
        self.muon.load_state_dict(state["muon"])
        self.adamw.load_state_dict(state["adamw"])
