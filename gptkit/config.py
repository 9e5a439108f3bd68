"""
Plain-Python config files and --key=value flags, checked against dataclasses; and TrainConfig, the training
settings, which checks its own values.

A config file is trusted Python that assigns names (`n_layer = 12`). Files are read in order, then flags;
later ones override earlier ones. Every name must be a field of one of the given dataclasses and have that
field's type, otherwise loading stops at once with a one-line error that names the valid keys. Values are
checked by the dataclasses themselves (`__post_init__`), so every command that builds one fails the same way.

Where model settings are read (a config class with an n_layer field among the classes), the depth dial's keys
are keys too (`depth`, gptkit/model_parts/depth_dial.py): once every file and flag is read, the settings it
derives from the depth are added, each unless set explicitly. So `--depth=20` after a config file re-derives
the width, batch, learning rates and steps, while a key a file or flag sets keeps its value.
"""

import ast
import dataclasses
import traceback
import types
import typing
from dataclasses import dataclass
from pathlib import Path

from gptkit.errors import UserError
from gptkit.model_parts.depth_dial import DepthDial, with_depth_dial
from gptkit.model_parts.losses import IMPLEMENTATIONS as CROSS_ENTROPY

INIT_FROM = ("scratch", "resume", "auto")
PARALLELISMS = ("ddp", "fsdp")
COMPUTE_DTYPES = ("auto", "float32", "bfloat16", "float16")  # what the matmuls compute in
DEVICES = ("auto", "cuda", "cpu", "mps")
WANDB_MODES = ("online", "offline")
OPTIMIZERS = ("adamw", "muon")
LR_SCHEDULES = ("cosine", "wsd")
MUON_ADJUST_LR = ("original", "match_rms_adamw")
ON_NONFINITE = ("stop", "rollback")


def read_config_file(path):
    """The names a config file assigns (private names, modules, functions and classes left out)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} not found")
    namespace = {}
    try:
        exec(compile(path.read_text(), str(path), "exec"), namespace)
    except Exception as e:  # the file is the user's code: its error is reported as the line that raised it
        message = (e.msg if isinstance(e, SyntaxError) else str(e)).strip().split("\n")[0]
        raise UserError(f"{path} line {config_error_line(e, path)}: {type(e).__name__}: {message}") from None
    return {
        key: value
        for key, value in namespace.items()
        if not key.startswith("_") and not isinstance(value, (types.ModuleType, types.FunctionType, type))
    }


def config_error_line(error, path):
    """The line of the config file where error arose: a SyntaxError carries it, a runtime error's traceback
    holds it in the deepest frame that belongs to the file."""
    if isinstance(error, SyntaxError):
        return error.lineno
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == str(path)]
    return frames[-1].lineno if frames else "?"


def parse_flag(flag, field_types):
    """'--key=value' -> (key, value): the text itself for a str field (--wandb_run_name=123 stays a name),
    otherwise a Python literal where it parses as one (1e-4, True, None), else the text."""
    if not flag.startswith("--") or "=" not in flag:
        raise UserError(f"expected a config file or --key=value, got {flag!r}")
    key, text = flag[2:].split("=", 1)
    if field_types.get(key) is str:
        return key, text
    try:
        return key, ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return key, text


def check_type(key, value, expected):
    """value converted to the field type `expected` (an int is a fine float), or a UserError."""
    allowed = typing.get_args(expected) if typing.get_origin(expected) in (typing.Union, types.UnionType) else ()
    for option in allowed or (expected,):
        if option is type(None) and value is None:
            return None
        if option is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if option is not type(None) and type(value) is option:
            return value
    names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed or (expected,))
    raise UserError(f"config key {key!r} must be {names}, got {value!r} ({type(value).__name__})")


def read_settings(sources, *config_classes):
    """{key: value} of every key the sources set, type-checked against the fields of config_classes; with a
    depth, and the settings the depth dial derives from it for the keys not set."""
    field_types = {}
    for cls in config_classes:
        field_types.update(typing.get_type_hints(cls))
    model_class = next((cls for cls in config_classes if "n_layer" in typing.get_type_hints(cls)), None)
    if model_class is not None:
        field_types.update(typing.get_type_hints(DepthDial))
    settings = {}
    for source in sources:
        if source.startswith("--"):
            key, value = parse_flag(source, field_types)
            items, origin = {key: value}, "flag"
        else:
            items, origin = read_config_file(source), source
        for key, value in items.items():
            if key not in field_types:
                valid = ", ".join(sorted(field_types))
                raise UserError(f"unknown config key {key!r} ({origin}); valid keys: {valid}")
            settings[key] = check_type(key, value, field_types[key])
    return with_depth_dial(settings, model_class) if model_class is not None else settings


def build_configs(settings, *config_classes):
    """Instances of config_classes, each taking the settings that are its fields (the rest keep defaults)."""
    instances = []
    for cls in config_classes:
        names = {f.name for f in dataclasses.fields(cls)}
        instances.append(cls(**{k: v for k, v in settings.items() if k in names}))
    return tuple(instances)


def load_config(sources, *config_classes):
    """Instances of config_classes filled from sources: config file paths and '--key=value' flags."""
    return build_configs(read_settings(sources, *config_classes), *config_classes)


@dataclass
class TrainConfig:
    # input and output
    out_dir: str = "out"
    data_dir: str = "data/python_docs"  # folder of *_train_*.bin and *_val_*.bin shards
    # "scratch", "resume" (out_dir/ckpt.pt, or out_dir/ckpt for fsdp), "auto" (resume if out_dir holds a checkpoint,
    # else scratch), GPT-2 weights ("gpt2" ...), or a transformers folder: GPT-2's, or one export_hf.py wrote (its
    # own shape: model settings that differ are refused, as for a checkpoint)
    init_from: str = "scratch"
    # batch: total_batch_tokens = micro_batch_size * block_size * processes * gradient accumulation steps
    total_batch_tokens: int = 524288  # ~0.5M tokens per optimizer step, as GPT-2 / GPT-3 small
    micro_batch_size: int | str = 16  # sequences per forward pass and process, or "auto": the most that fit
    # optimizer: "adamw" for every weight, or "muon" for the hidden matrices (attention, MLP, experts) and AdamW
    # with the settings below for the rest (embeddings, output head, LayerNorms, biases, router)
    optimizer: str = "adamw"
    max_iters: int = 19073  # optimizer steps (10B tokens at 0.5M per step)
    learning_rate: float = 6e-4  # AdamW's peak
    min_lr: float = 6e-5  # AdamW's floor; Muon's is muon_lr * min_lr / learning_rate
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # 0 turns clipping off
    muon_lr: float = 0.02  # Muon's peak, for muon_adjust_lr="original" (Keller Jordan's Muon default)
    muon_momentum: float = 0.95
    muon_weight_decay: float = 0.0  # decoupled, scaled by the LR: each step multiplies by 1 - lr * decay
    muon_adjust_lr: str = "original"  # torch.optim.Muon's adjust_lr_fn: "original" or "match_rms_adamw"
    # AdamW's peaks by role (gptkit/training/optim.py); None: learning_rate. The token embedding (with learned
    # positions and value embeddings), the untied output head, and the scalars (norm gains, biases, residual scalars)
    embedding_lr: float | None = None
    unembedding_lr: float | None = None
    scalar_lr: float | None = None
    # schedule, after a linear warmup: "cosine" decays to min_lr at lr_decay_iters, then stays; "wsd" stays at
    # the peak, then decays linearly over the last decay_fraction of max_iters to min_lr
    lr_schedule: str = "cosine"
    warmup_iters: int = 2000
    lr_decay_iters: int = 19073
    decay_fraction: float = 0.2
    # evaluation, sampling, logging, checkpoints (0 turns an interval off)
    eval_interval: int = 250
    eval_iters: int = 20  # validation batches per process
    log_interval: int = 10
    checkpoint_interval: int = 250
    sample_interval: int = 0
    sample_tokens: int = 200
    hellaswag_interval: int = 0
    hellaswag_limit: int = 0  # examples per evaluation, 0: all 10042
    hellaswag_data: str = ""  # a local HellaSwag validation jsonl; empty: download once into data/hellaswag
    core_interval: int = 0  # the CORE score (gptkit/evaluation/core.py)
    core_max_per_task: int = 0  # examples per task and evaluation, 0: all (nanochat's training uses 500)
    core_bundle: str = ""  # an unzipped DCLM eval bundle; empty: download once into ~/.cache/gptkit/eval_bundle
    wandb_log: bool = False
    wandb_project: str = "gpt"
    wandb_run_name: str = ""
    wandb_mode: str = "online"  # "online" or "offline" (run files kept in out_dir/wandb for `wandb sync`)
    # system
    device: str = "auto"  # "auto", "cuda", "cpu", "mps"
    dtype: str = "auto"  # "auto" (bfloat16 where the GPU has it, float16 + gradient scaler where not, CPU float32)
    compile: bool = True  # torch.compile the model (under FSDP each block on its own)
    parallelism: str = "ddp"  # several processes: "ddp" (a model copy each) or "fsdp" (sharded: training/parallel.py)
    activation_checkpointing: bool = False  # recompute each block in the backward pass instead of keeping activations
    cross_entropy: str = "chunked"  # the loss without the whole batch's logits; "full", or "liger" (CUDA)
    fp8: bool = False  # Linear layers in float8 via torchao (GPUs of compute capability 8.9+)
    seed: int = 1337
    # a bad step (non-finite loss or gradient norm, or a loss spike) either "stop"s the run, keeping its last good
    # checkpoint, or "rollback": reload that checkpoint, skip the batches read since, go on
    # (gptkit/checkpointing/checkpoint_guard.py)
    on_nonfinite: str = "stop"
    loss_spike_factor: float = 0.0  # a spike: a loss over this times the running average of earlier ones; 0: off
    max_rollbacks: int = 3  # rollbacks in one process' run; the next bad step stops it

    def __post_init__(self):
        problems = []
        intervals = ("eval_interval", "log_interval", "checkpoint_interval", "sample_interval", "hellaswag_interval")
        intervals += ("core_interval",)
        counts = ("eval_iters", "sample_tokens", "hellaswag_limit", "warmup_iters", "lr_decay_iters", "max_iters")
        counts += ("core_max_per_task",)
        for key in intervals + counts:
            if getattr(self, key) < 0:
                problems.append(f"{key} must be >= 0, got {getattr(self, key)}")
        if self.eval_interval and not self.eval_iters:
            problems.append("eval_iters must be >= 1 when eval_interval is on")
        if self.total_batch_tokens < 1:
            problems.append(f"total_batch_tokens must be >= 1, got {self.total_batch_tokens}")
        if isinstance(self.micro_batch_size, str) and self.micro_batch_size != "auto":
            problems.append(f"micro_batch_size must be a number or 'auto', got {self.micro_batch_size!r}")
        elif isinstance(self.micro_batch_size, int) and self.micro_batch_size < 1:
            problems.append(f"micro_batch_size must be >= 1 or 'auto', got {self.micro_batch_size}")
        rates = ("learning_rate", "min_lr", "weight_decay", "grad_clip", "muon_lr", "muon_weight_decay")
        for key in rates + ("embedding_lr", "unembedding_lr", "scalar_lr"):
            if getattr(self, key) is not None and getattr(self, key) < 0:
                problems.append(f"{key} must be >= 0, got {getattr(self, key)}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            problems.append(f"beta1 and beta2 must be in [0, 1), got {self.beta1} and {self.beta2}")
        if not 0 <= self.muon_momentum < 1:
            problems.append(f"muon_momentum must be in [0, 1), got {self.muon_momentum}")
        if not 0 <= self.decay_fraction <= 1:
            problems.append(f"decay_fraction must be in [0, 1], got {self.decay_fraction}")
        decay_start = self.max_iters - round(self.decay_fraction * self.max_iters)
        if self.lr_schedule == "wsd" and self.warmup_iters > decay_start:
            problems.append(f"warmup_iters ({self.warmup_iters}) exceeds the start of the wsd decay ({decay_start})")
        if self.lr_schedule == "cosine" and self.warmup_iters > self.lr_decay_iters:
            problems.append(f"warmup_iters ({self.warmup_iters}) exceeds lr_decay_iters ({self.lr_decay_iters})")
        named = self.init_from in INIT_FROM or self.init_from.startswith("gpt2")
        if not named and not (self.init_from and Path(self.init_from).is_dir()):
            valid = ", ".join(INIT_FROM)
            problems.append(f"init_from must be {valid}, a GPT-2 name or a folder, got {self.init_from!r}")
        choices = {"dtype": COMPUTE_DTYPES, "device": DEVICES, "wandb_mode": WANDB_MODES, "parallelism": PARALLELISMS}
        choices.update(optimizer=OPTIMIZERS, lr_schedule=LR_SCHEDULES, muon_adjust_lr=MUON_ADJUST_LR)
        choices.update(cross_entropy=CROSS_ENTROPY)
        for key, valid in choices.items():
            if getattr(self, key) not in valid and not (key == "device" and self.device.startswith("cuda:")):
                problems.append(f"{key} must be one of {', '.join(valid)}, got {getattr(self, key)!r}")
        if self.parallelism == "fsdp" and self.dtype == "float16":
            problems.append("parallelism 'fsdp' computes in bfloat16 or float32, not float16 (use 'ddp' for that)")
        if self.parallelism == "fsdp" and self.cross_entropy == "liger":  # untried: fp32 hidden states, bf16 weights
            problems.append("cross_entropy 'liger' runs with parallelism 'ddp' only for now")
        if self.parallelism == "fsdp" and self.optimizer == "muon":  # Muon orthogonalises whole matrices, not shards
            problems.append("optimizer 'muon' runs with parallelism 'ddp' only for now")
        if self.on_nonfinite not in ON_NONFINITE:
            problems.append(f"on_nonfinite must be one of {', '.join(ON_NONFINITE)}, got {self.on_nonfinite!r}")
        if self.loss_spike_factor != 0 and not self.loss_spike_factor > 1:
            problems.append(f"loss_spike_factor must be 0 (off) or above 1, got {self.loss_spike_factor}")
        if self.max_rollbacks < 0:
            problems.append(f"max_rollbacks must be >= 0, got {self.max_rollbacks}")
        if problems:
            raise UserError("bad training settings: " + "; ".join(problems))
