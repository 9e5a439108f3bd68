"""
How the model is spread over the run's processes, and the three things a training step asks of that spread.

    ddp    every process holds the whole model and AdamW state; gradients are averaged (DistributedDataParallel)
    fsdp   FSDP2: each block and the root (embeddings, final norm, head) is sharded across the processes and
           gathered only for its own forward and backward; weights, gradients and AdamW state stay in float32
           shards, the gathered copies compute in bfloat16 when the run does, gradients are reduced in float32

A single process trains the model itself (compiled if asked) under either. Whatever the choice, a training
step computes the same losses and gradients: the tests compare FSDP with DDP to 1e-5 in float32, with gradient
accumulation and clipping, for a dense and an MoE model. activation_checkpointing recomputes each block in the
backward pass instead of keeping its activations, which changes memory and time but no number (tested: losses
and gradients equal).
"""

import contextlib

import torch
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel as DDP

from gptkit.errors import UserError


def wrap_model(model, cfg, run):
    """The module to train: model (a GPT) checkpointed, compiled and spread as cfg says. Under FSDP the GPT
    itself is sharded in place and returned; otherwise the returned module wraps it and `model` stays the plain
    GPT, whose state_dict is the checkpoint's."""
    if cfg.activation_checkpointing:
        blocks = model.transformer.h
        for i, block in enumerate(blocks):
            blocks[i] = checkpoint_wrapper(block)  # state_dict keys stay those of the plain block
    if cfg.parallelism == "fsdp" and run.world_size > 1:
        return shard_model(model, cfg.compile, run)
    if cfg.compile:
        model = torch.compile(model)
    if run.world_size > 1:
        # gradients as views into DDP's communication buckets: no second copy of them
        device_ids = [run.local_rank] if run.device_type == "cuda" else None
        model = DDP(model, device_ids=device_ids, gradient_as_bucket_view=True)
    return model


def shard_model(model, compile_blocks, run):
    """FSDP2 on every block, then on the root. Each block is compiled on its own (as torchtitan does): the
    sharding hooks run between compiled blocks, not inside one graph of the whole model."""
    if run.dtype == "float16":
        raise UserError(
            "parallelism 'fsdp' computes in bfloat16 or float32, and this GPU has no bfloat16: "
            "use parallelism='ddp' (float16 with a gradient scaler) or dtype='float32'"
        )
    policy = MixedPrecisionPolicy(
        param_dtype=torch.bfloat16 if run.dtype == "bfloat16" else None, reduce_dtype=torch.float32
    )
    for block in model.transformer.h:
        if compile_blocks:
            block.compile()  # in place: the module, its name and its state_dict keys stay the same
        fully_shard(block, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    return model


def gradient_sync(model, last_micro_step):
    """A context for one micro-step's forward and backward: processes average their gradients on the last
    micro-step of an optimizer step only (the others accumulate locally, saving the communication)."""
    if isinstance(model, FSDPModule):
        model.set_requires_gradient_sync(last_micro_step)  # holds unsharded float32 gradients until then
    elif isinstance(model, DDP) and not last_micro_step:
        return model.no_sync()
    return contextlib.nullcontext()


def is_sharded(model):
    """Whether every process must take part in each forward pass of model (sampling, HellaSwag): FSDP."""
    return isinstance(model, FSDPModule)


def clip_gradients(parameters, max_norm):
    """Clip the gradients to max_norm (inf: measure only); returns the norm over all of the model's gradients
    as a plain tensor. Sharded gradients give a DTensor norm that already combines every process' shards."""
    norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    return norm.full_tensor() if isinstance(norm, DTensor) else norm
