"""
The run this process belongs to: its device, the float type it computes in and, when launched by torchrun,
its place in the distributed run.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; without them this is a single process. The process group uses
NCCL on CUDA and gloo on CPU (multi-process CPU runs are what the tests use to check DDP).

Under torchrun every round of workers (the first, and each restart) sets its process group up under a name no
earlier round used, agreed on by all its processes, so a restarted round never reads what a killed one left in
torchrun's store.
"""

import gc
import os
import time
import uuid
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.distributed.constants import default_pg_timeout

from gptkit.errors import UserError
from gptkit.precision import autocast_context, pick_dtype


@dataclass
class Run:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: str = "cpu"
    dtype: str = "float32"  # what the matmuls compute in: float32, bfloat16 or float16

    @property
    def is_master(self):  # rank 0 logs, evaluates samples and writes checkpoints
        return self.rank == 0

    @property
    def device_type(self):
        return self.device.split(":")[0]

    @property
    def device_name(self):
        """The GPU's name ("NVIDIA H100 80GB HBM3"), or the device type elsewhere; MFU looks its peak up by it."""
        return torch.cuda.get_device_name(self.device) if self.device_type == "cuda" else self.device_type

    def autocast(self):
        """A fresh autocast context for this run's dtype (a no-op for float32)."""
        return autocast_context(self.device_type, self.dtype)


def pick_device(choice="auto"):
    if choice == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {choice!r} asked for, but this machine's torch sees no CUDA GPU; use --device=cpu")
    if choice == "mps" and not torch.backends.mps.is_available():
        raise UserError("device 'mps' asked for, but this machine has no Apple GPU; use --device=cpu")
    return choice


def setup_run(device_choice="auto", dtype_choice="auto"):
    """This process' Run; joins the process group when launched by torchrun."""
    device = pick_device(device_choice)
    dtype = pick_dtype(dtype_choice, device.split(":")[0])
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 for the float32 matmuls that remain
        torch.backends.cudnn.allow_tf32 = True
    if "RANK" not in os.environ:
        return Run(device=device, dtype=dtype)
    rank, local_rank, world_size = (int(os.environ[k]) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    if device.startswith("cuda"):
        if local_rank >= torch.cuda.device_count():
            raise UserError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPUs on this node")
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    join_process_group("nccl" if device.startswith("cuda") else "gloo", rank, world_size)
    return Run(rank, local_rank, world_size, device, dtype)


def join_process_group(backend, rank, world_size):
    """init_process_group, with this round's keys apart from any earlier round's.

    torchrun's agent hosts the store the workers meet in (TORCHELASTIC_USE_AGENT_STORE=True) and keeps it for the
    whole job, restarts included, while the process group writes its keys (each gloo process' address, NCCL's
    unique id) under the same names in every round. After a worker was killed, a restarted process could read the
    address its killed predecessor left there before the new one overwrote it: "Gloo connectFullMesh failed ...
    Connection refused", or, when that port had been taken since, a wait that never ends (LOGBOOK, issue 18)."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":  # rank 0 starts a new store: nothing left over
        dist.init_process_group(backend=backend)
        return
    address, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    store = dist.TCPStore(address, port, is_master=False, timeout=default_pg_timeout)
    name = round_name(store, rank, world_size)
    dist.init_process_group(backend=backend, store=dist.PrefixStore(name, store), rank=rank, world_size=world_size)


ROUND_KEY = "gptkit/round"  # the name rank 0 gave the latest round


def round_name(store, rank, world_size):
    """A name that all processes of this round get and no earlier round used.

    Rank 0 makes one up and writes it; every other process takes its seat in the round it reads, and keeps the
    name once its own seat holds its own mark and rank 0 has opened the round (which rank 0 does when every seat
    is taken). A name read before rank 0 wrote this round's is a killed round's: either its seat was taken by the
    killed process, or the round never opens (its rank 0 is gone: torchrun starts a round only after every
    process of the last one has exited). Either way the process reads again until the name is new. Waits at most
    the store's timeout."""
    if rank == 0:
        name = f"gptkit/{uuid.uuid4().hex}"
        store.set(ROUND_KEY, name)
        store.wait([f"{name}/seat/{r}" for r in range(1, world_size)])
        store.set(f"{name}/open/{world_size}", "")  # the world size too: a round of another size is not this one
        return name
    mark = uuid.uuid4().hex
    deadline = time.monotonic() + store.timeout.total_seconds()
    while time.monotonic() < deadline:
        name = store.get(ROUND_KEY).decode()
        seat = store.compare_set(f"{name}/seat/{rank}", "", mark).decode()  # takes the seat only if it is free
        if seat == mark and store.check([f"{name}/open/{world_size}"]):
            return name
        time.sleep(0.1)
    raise TimeoutError(f"rank {rank}: rank 0 opened no round of {world_size} processes in {store.timeout}")


def all_reduce_sum(tensor, world_size):
    """The sum of tensor over all processes, in place (tensor itself in a single process)."""
    if world_size > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_mean(tensor, world_size):
    """The mean of tensor over all processes, in place (tensor itself in a single process)."""
    if world_size > 1:
        all_reduce_sum(tensor, world_size)
        tensor /= world_size
    return tensor


def all_gather_objects(value, world_size):
    """[every process' value] in rank order (picklable values, e.g. a data loader's position)."""
    if world_size == 1:
        return [value]
    values = [None] * world_size
    dist.all_gather_object(values, value)
    return values


def all_reduce_max(value, world_size, device):
    """The largest of a number over all processes, e.g. 'some process was asked to stop'."""
    if world_size == 1:
        return value
    tensor = torch.tensor(float(value), device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor.item()


def on_master(run, action, failure):
    """action() on the master process. If it raises a UserError, every process raises one (the master its own,
    the others `failure`), so all stop together instead of waiting for the master in the next collective."""
    result, error = None, None
    if run.is_master:
        try:
            result = action()
        except UserError as e:
            error = e
    if all_reduce_max(error is not None, run.world_size, run.device) > 0:
        raise error or UserError(failure)
    return result


def rank_share(count, run):
    """The indices of count items this process takes, the processes taking turns. Every process takes as many: an
    index past count - 1 stands for a repeat of the last item, done but not counted, as a sharded model needs
    every process in each forward pass."""
    rounds = -(-count // run.world_size)
    return range(run.rank, rounds * run.world_size, run.world_size)


def barrier(world_size):
    if world_size > 1:
        dist.barrier()


def shutdown(world_size):
    """Leaves the process group, all processes together: each waits at a barrier until the others are done (none
    tears down gloo's connections while another still uses them, e.g. the master writing the last checkpoint),
    then the group is destroyed while the interpreter is still whole (gloo's threads must not outlive it)."""
    if world_size > 1 and dist.is_initialized():
        gc.collect()  # what still holds the group (a DDP model freed by the caller sits in a reference cycle)
        dist.barrier()
        dist.destroy_process_group()
