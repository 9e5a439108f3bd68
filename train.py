"""
Train a GPT: one process (`python train.py`), or DDP under torchrun, on one node or many.

    python train.py configs/demo.py                                   # the offline demo, any machine
    python train.py configs/gpt2_l4.py --micro_batch_size=8           # config files, then --key=value flags
    torchrun --standalone --nproc_per_node=8 train.py configs/gpt2_gqa.py
    python train.py configs/gpt2_gqa.py --init_from=resume            # continue from out_dir/ckpt.pt

Every setting is a field of GPTConfig (model.py) or TrainConfig (below). SIGTERM or Ctrl-C saves a checkpoint
and exits, so a run that loses its GPU resumes where it stopped.
"""

import contextlib
import json
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from checkpoint import load_checkpoint, model_from_checkpoint, rng_state, save_checkpoint, set_rng_state
from config import load_config
from dataloader import ShardedBatches, validation_batches
from distributed import all_reduce_max, all_reduce_mean, barrier, setup_distributed, shutdown
from errors import UserError, run_main
from hellaswag import evaluate_hellaswag, hellaswag_file
from metrics import MetricsLog
from micro_batch import find_micro_batch_size
from model import GPT, GPTConfig, estimate_mfu
from precision import autocast_context, pick_dtype
from prepare_text import EMBEDDED_DATA_DIR, prepare_embedded
from shards import find_shards
from tokenizer import get_tokenizer


@dataclass
class TrainConfig:
    # input and output
    out_dir: str = "out"
    data_dir: str = "data/python_docs"  # folder of *_train_*.bin and *_val_*.bin shards
    init_from: str = "scratch"  # "scratch", "resume" (out_dir/ckpt.pt), or GPT-2 weights: "gpt2" ... or a folder
    # batch: total_batch_tokens = micro_batch_size * block_size * processes * gradient accumulation steps
    total_batch_tokens: int = 524288  # ~0.5M tokens per optimizer step, as GPT-2 / GPT-3 small
    micro_batch_size: int | str = 16  # sequences per forward pass and process, or "auto": the most that fit
    # optimizer and schedule: linear warmup, cosine decay to min_lr at lr_decay_iters, then constant
    max_iters: int = 19073  # optimizer steps (10B tokens at 0.5M per step)
    learning_rate: float = 6e-4
    min_lr: float = 6e-5
    warmup_iters: int = 2000
    lr_decay_iters: int = 19073
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # 0 turns clipping off
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
    wandb_log: bool = False
    wandb_project: str = "gpt"
    wandb_run_name: str = ""
    wandb_mode: str = "online"  # "online" or "offline" (run files kept in out_dir/wandb for `wandb sync`)
    # system
    device: str = "auto"  # "auto", "cuda", "cpu", "mps"
    dtype: str = "auto"  # "auto" (bfloat16 where the GPU has it, float16 + gradient scaler where not, CPU float32)
    compile: bool = True  # torch.compile the model
    seed: int = 1337


def learning_rate(step, cfg):
    """Linear warmup to cfg.learning_rate, cosine decay to cfg.min_lr at lr_decay_iters, constant after."""
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / cfg.warmup_iters
    if step >= cfg.lr_decay_iters:
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / (cfg.lr_decay_iters - cfg.warmup_iters)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.learning_rate - cfg.min_lr)


def check_train_config(cfg):
    if (
        cfg.init_from != "resume"
        and cfg.init_from != "scratch"
        and not cfg.init_from.startswith("gpt2")
        and not Path(cfg.init_from).is_dir()
    ):
        raise UserError(f"init_from must be 'scratch', 'resume', a GPT-2 name or folder, got {cfg.init_from!r}")
    if cfg.dtype not in ("auto", "float32", "bfloat16", "float16"):
        raise UserError(f"dtype must be auto, float32, bfloat16 or float16, got {cfg.dtype!r}")
    if isinstance(cfg.micro_batch_size, str) and cfg.micro_batch_size != "auto":
        raise UserError(f"micro_batch_size must be a number or 'auto', got {cfg.micro_batch_size!r}")
    if cfg.wandb_mode not in ("online", "offline"):
        raise UserError(f"wandb_mode must be 'online' or 'offline', got {cfg.wandb_mode!r}")
    if cfg.warmup_iters > cfg.lr_decay_iters:
        raise UserError(f"warmup_iters ({cfg.warmup_iters}) must not exceed lr_decay_iters ({cfg.lr_decay_iters})")


def gradient_accumulation_steps(cfg, micro_batch_size, block_size, world_size):
    tokens_per_micro_step = micro_batch_size * block_size * world_size
    if cfg.total_batch_tokens % tokens_per_micro_step:
        raise UserError(
            f"total_batch_tokens {cfg.total_batch_tokens} is not a multiple of micro_batch_size * block_size * "
            f"processes = {micro_batch_size} * {block_size} * {world_size} = {tokens_per_micro_step}"
        )
    return cfg.total_batch_tokens // tokens_per_micro_step


def build_model(model_config, cfg, checkpoint):
    if checkpoint is not None:
        return model_from_checkpoint(checkpoint)
    if cfg.init_from == "scratch":
        return GPT(model_config)
    # OpenAI GPT-2 weights; the config may swap in RoPE, pad the vocabulary, shorten the context, add dropout
    warm_start = ("pos_emb", "rope_theta", "vocab_size", "block_size", "dropout")
    return GPT.from_pretrained(cfg.init_from, **{k: getattr(model_config, k) for k in warm_start})


class StopRequest:
    """Turns SIGTERM (preemption, out of credits) and Ctrl-C into a flag the training loop checks each step."""

    def __init__(self):
        self.requested = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process at once


def main(argv):
    model_config, cfg = load_config(argv, GPTConfig, TrainConfig)
    check_train_config(cfg)
    run = setup_distributed(cfg.device)
    out_dir = Path(cfg.out_dir)
    checkpoint_path = out_dir / "ckpt.pt"
    checkpoint = load_checkpoint(checkpoint_path) if cfg.init_from == "resume" else None
    if run.is_master:
        out_dir.mkdir(parents=True, exist_ok=True)

    # model, on this process' device
    torch.manual_seed(cfg.seed)
    model = build_model(model_config, cfg, checkpoint)
    model_config = model.config
    model.to(run.device)
    dtype = pick_dtype(cfg.dtype, run.device_type)
    if run.device_type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 for the float32 matmuls that remain
        torch.backends.cudnn.allow_tf32 = True
    autocast = autocast_context(run.device_type, dtype)

    # batch geometry
    micro_batch_size = cfg.micro_batch_size
    if micro_batch_size == "auto":
        micro_batch_size = find_micro_batch_size(model, cfg, run, dtype)
    grad_accum_steps = gradient_accumulation_steps(cfg, micro_batch_size, model_config.block_size, run.world_size)

    # data; the embedded demo corpus is prepared on first use
    if cfg.data_dir == EMBEDDED_DATA_DIR and not list(Path(cfg.data_dir).glob("*.bin")):
        if run.is_master:
            prepare_embedded(cfg.data_dir)
        barrier(run.world_size)
    loader_args = dict(
        batch_size=micro_batch_size,
        block_size=model_config.block_size,
        rank=run.rank,
        world_size=run.world_size,
        vocab_size=model_config.vocab_size,
    )
    train_batches = ShardedBatches(find_shards(cfg.data_dir, "train"), seed=cfg.seed, **loader_args)
    val_shards = find_shards(cfg.data_dir, "val")

    # optimizer (and gradient scaler for float16)
    optimizer = model.configure_optimizers(cfg.weight_decay, cfg.learning_rate, (cfg.beta1, cfg.beta2), run.device_type)
    scaler = torch.amp.GradScaler(run.device_type, enabled=dtype == "float16")
    step = 0
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        scaler.load_state_dict(checkpoint["scaler"])
        train_batches.load_state_dict(checkpoint["data"])
        step = checkpoint["step"]
        set_rng_state(checkpoint["rng"])
        checkpoint = None  # free the memory
    raw_model = model
    if cfg.compile:
        model = torch.compile(model)
    if run.world_size > 1:
        model = DDP(model, device_ids=[run.local_rank] if run.device_type == "cuda" else None)

    # what this run is, printed and saved
    flops_per_token = raw_model.flops_per_token()
    device_name = torch.cuda.get_device_name(run.device) if run.device_type == "cuda" else run.device_type
    resolved = {
        "model": asdict(model_config),
        "train": asdict(cfg),
        "derived": {
            "micro_batch_size": micro_batch_size,
            "grad_accum_steps": grad_accum_steps,
            "processes": run.world_size,
            "dtype": dtype,
            "device": device_name,
            "parameters": raw_model.num_params(),
            "flops_per_token": flops_per_token,
        },
    }
    metrics = None
    if run.is_master:
        print(json.dumps(resolved, indent=1))
        (out_dir / "config.json").write_text(json.dumps(resolved, indent=1))
        wandb_settings = None
        if cfg.wandb_log:
            wandb_settings = dict(
                project=cfg.wandb_project,
                name=cfg.wandb_run_name or None,
                config=resolved,
                mode=cfg.wandb_mode,
                dir=str(out_dir),
            )
        metrics = MetricsLog(out_dir, wandb_settings, resume=cfg.init_from == "resume")
    tokenizer_name = train_batches.tokenizer_name
    if cfg.hellaswag_interval and tokenizer_name == "gpt2":
        if run.is_master:
            hellaswag_file(cfg.hellaswag_data)  # downloaded once, before training: offline fails here, not later
        barrier(run.world_size)

    def evaluate_val_loss():
        model.eval()
        losses = []
        with torch.no_grad():
            for x, y in validation_batches(val_shards, num_batches=cfg.eval_iters, **loader_args):
                with autocast:
                    _, loss = model(x.to(run.device), y.to(run.device))
                losses.append(loss.float())
        model.train()
        return all_reduce_mean(torch.stack(losses).mean(), run.world_size).item()

    def save(step):
        save_checkpoint(
            checkpoint_path,
            {
                "model": raw_model.state_dict(),
                "model_config": asdict(model_config),
                "train_config": asdict(cfg),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "step": step,
                "data": train_batches.state_dict(),
                "rng": rng_state(),
                "tokenizer": tokenizer_name,
            },
        )
        print(f"step {step}: checkpoint saved to {checkpoint_path}")

    def due(interval):
        return interval > 0 and (step % interval == 0 or step == cfg.max_iters)

    stop = StopRequest()
    pin = run.device_type == "cuda"
    tokens_per_step = cfg.total_batch_tokens
    last_log_time, last_log_step = time.perf_counter(), step
    model.train()
    while step < cfg.max_iters:
        lr = learning_rate(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr

        loss_sum = torch.zeros((), device=run.device)
        for micro_step in range(grad_accum_steps):
            x, y = train_batches.next_batch()
            if pin:  # pinned memory lets the copy overlap with the GPU work already queued
                x, y = x.pin_memory(), y.pin_memory()
            x, y = x.to(run.device, non_blocking=pin), y.to(run.device, non_blocking=pin)
            # gradients are averaged across processes on the last micro-step only
            last = micro_step == grad_accum_steps - 1
            sync = model.no_sync() if run.world_size > 1 and not last else contextlib.nullcontext()
            with sync:
                with autocast:
                    _, loss = model(x, y)
                loss = loss / grad_accum_steps  # the gradient of the mean over all micro-steps
                loss_sum += loss.detach()
                scaler.scale(loss).backward()
        scaler.unscale_(optimizer)  # clip the true gradients, not the float16-scaled ones
        grad_norm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(), cfg.grad_clip or float("inf"))
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        step += 1

        # The host waits for the GPU only where the loss is logged or a checkpoint is due. The loss is checked
        # there, so a checkpoint never holds the weights of a non-finite loss. All processes take the same
        # branch; in DDP they agree to stop on such a step.
        log_now = step % cfg.log_interval == 0 or step == cfg.max_iters
        save_now = due(cfg.checkpoint_interval) or step == cfg.max_iters
        stopping = False
        if log_now or save_now or (run.world_size == 1 and stop.requested):
            loss_value = all_reduce_mean(loss_sum, run.world_size).item()
            if not math.isfinite(loss_value):
                kept = (
                    f"the last good checkpoint {checkpoint_path} is kept" if checkpoint_path.exists() else "none saved"
                )
                raise UserError(f"loss is {loss_value} at step {step}: stopping ({kept}); lower learning_rate?")
            stopping = all_reduce_max(stop.requested, run.world_size, run.device) > 0
        if log_now and run.is_master:
            elapsed_s = time.perf_counter() - last_log_time
            step_ms = 1000 * elapsed_s / (step - last_log_step)
            tokens_per_s = tokens_per_step / (step_ms / 1000)
            mfu = estimate_mfu(flops_per_token, tokens_per_s / run.world_size, device_name)
            memory_gb = torch.cuda.max_memory_allocated(run.device) / 1e9 if run.device_type == "cuda" else None
            aux_loss = raw_model.last_aux_loss.item() if raw_model.last_aux_loss is not None else None
            line = f"step {step:6d} | loss {loss_value:.4f} | lr {lr:.2e} | grad norm {grad_norm.item():.3f} | "
            line += f"{step_ms:.0f} ms | {tokens_per_s:,.0f} tok/s"
            line += f" | MFU {100 * mfu:.1f}%" if mfu is not None else ""
            print(line + (f" | {memory_gb:.1f} GB" if memory_gb is not None else ""))
            metrics.log(
                step,
                tokens=step * tokens_per_step,
                loss=loss_value,
                lr=lr,
                grad_norm=grad_norm.item(),
                step_ms=step_ms,
                tokens_per_s=tokens_per_s,
                mfu=mfu,
                memory_gb=memory_gb,
                aux_loss=aux_loss,
            )
            last_log_time, last_log_step = time.perf_counter(), step

        if due(cfg.eval_interval):
            val_loss = evaluate_val_loss()
            if run.is_master:
                print(f"step {step}: val loss {val_loss:.4f}")
                metrics.log(step, tokens=step * tokens_per_step, val_loss=val_loss)
        if due(cfg.hellaswag_interval) and tokenizer_name == "gpt2":
            result = evaluate_hellaswag(raw_model, cfg.hellaswag_data, run, autocast, cfg.hellaswag_limit)
            if run.is_master:
                print(f"step {step}: HellaSwag acc_norm {result['acc_norm']:.4f}")
                metrics.log(
                    step,
                    tokens=step * tokens_per_step,
                    hellaswag_acc=result["acc"],
                    hellaswag_acc_norm=result["acc_norm"],
                )
        if due(cfg.sample_interval) and run.is_master:
            tokenizer = get_tokenizer(tokenizer_name)
            start = torch.tensor([[tokenizer.eot_token]], device=run.device)
            generator = torch.Generator(run.device).manual_seed(cfg.seed)  # leaves the training RNG untouched
            raw_model.eval()
            with autocast:
                tokens = raw_model.generate(start, cfg.sample_tokens, temperature=0.8, top_k=200, generator=generator)
            raw_model.train()
            print(f"step {step} sample:\n{tokenizer.decode(tokens[0, 1:].tolist())}\n")

        if run.is_master and (save_now or stopping):
            save(step)
        if stopping:
            if run.is_master:
                print(f"stopped by a signal at step {step}; continue with --init_from=resume")
            break

    if metrics is not None:
        metrics.close()
    shutdown(run.world_size)


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
