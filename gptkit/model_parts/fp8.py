"""
fp8 = True: the Linear layers train in float8 through torchao (dynamic tensorwise scaling: each matmul input
is scaled by its current absolute maximum), on GPUs with float8 matrix units (compute capability 8.9+: L4,
RTX 4090, H100, H200). The output layer stays in bf16 as torchao recommends, and so does every layer whose
shape float8 matmuls cannot take (both sizes must be multiples of 16: the MoE router). MoE experts are not
Linear layers and stay in bf16.

Invariant (tests/gptkit/model_parts/test_fp8.py): elsewhere the flag is refused with one line before anything is
built or written, and torchao is imported only when the flag is on.
"""

import torch

from gptkit.errors import UserError

FP8_CAPABILITY = (8, 9)
KEPT_IN_BF16 = ("lm_head",)  # the last layer; the first (the token embedding) is no Linear


def check_fp8(run):
    """A one-line UserError unless this run's device can train in float8."""
    if run.device_type != "cuda":
        raise UserError(
            f"fp8 = True needs an NVIDIA GPU with float8 (compute capability 8.9+); this run is on "
            f"{run.device_type}: drop --fp8"
        )
    capability = torch.cuda.get_device_capability(run.device)
    if capability < FP8_CAPABILITY:
        raise UserError(
            f"fp8 = True needs compute capability 8.9+ (L4, H100, H200); {run.device_name} has "
            f"{capability[0]}.{capability[1]}: drop --fp8"
        )


def trains_in_fp8(module, name):
    """Whether convert_to_fp8 swaps this module: a Linear other than the output layer, both sizes multiples
    of 16."""
    if not isinstance(module, torch.nn.Linear) or name.split(".")[-1] in KEPT_IN_BF16:
        return False
    return module.in_features % 16 == 0 and module.out_features % 16 == 0


def convert_to_fp8(model, run):
    """Swap model's eligible Linear layers for torchao's Float8Linear in place; returns their names."""
    check_fp8(run)
    try:
        from torchao.float8 import Float8LinearConfig, convert_to_float8_training
    except ImportError:
        raise UserError("fp8 = True needs torchao: pip install -r requirements-gpu.txt") from None
    converted = [name for name, module in model.named_modules() if trains_in_fp8(module, name)]
    config = Float8LinearConfig.from_recipe_name("tensorwise")  # dynamic scaling, cuBLAS float8 matmuls
    convert_to_float8_training(model, module_filter_fn=trains_in_fp8, config=config)
    return converted
