"""
Which device this process uses and, when launched by torchrun, its place in the distributed run.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; without them this is a single process. The process group uses
NCCL on CUDA and gloo on CPU (multi-process CPU runs are what the tests use to check DDP).
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from errors import UserError


@dataclass
class Distributed:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: str = "cpu"

    @property
    def is_master(self):  # rank 0 logs, evaluates samples and writes checkpoints
        return self.rank == 0

    @property
    def device_type(self):
        return self.device.split(":")[0]


def pick_device(choice="auto"):
    if choice != "auto":
        return choice
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def setup_distributed(device_choice="auto"):
    device = pick_device(device_choice)
    if "RANK" not in os.environ:
        return Distributed(device=device)
    rank, local_rank, world_size = (int(os.environ[k]) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    if device.startswith("cuda"):
        if local_rank >= torch.cuda.device_count():
            raise UserError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPUs on this node")
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return Distributed(rank, local_rank, world_size, device)


def all_reduce_mean(tensor, world_size):
    """The mean of tensor over all processes (tensor itself in a single process)."""
    if world_size > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= world_size
    return tensor


def all_reduce_max(value, world_size, device):
    """The largest of a number over all processes, e.g. 'some process was asked to stop'."""
    if world_size == 1:
        return value
    tensor = torch.tensor(float(value), device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor.item()


def barrier(world_size):
    if world_size > 1:
        dist.barrier()


def shutdown(world_size):
    if world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
