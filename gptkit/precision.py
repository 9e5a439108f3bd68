"""Mixed precision: which float type a device computes in, and the autocast context for it."""

import contextlib

import torch


def pick_dtype(choice, device_type):
    """ "auto": bfloat16 on GPUs that have it, float16 on those that do not (T4, V100), float32 elsewhere."""
    if choice != "auto":
        return choice
    if device_type != "cuda":
        return "float32"
    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


def autocast_context(device_type, dtype):
    """Autocast to dtype for the matmuls; a no-op for float32."""
    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=getattr(torch, dtype))


def matmul_dtype(x):
    """The dtype a matmul on x runs in: autocast's where autocast is on for x's device, else x's own."""
    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
