"""
Train a GPT: one process (`python train.py`), or DDP under torchrun, on one node or many.

    python train.py configs/demo.py                                   # the offline demo, any machine
    python train.py configs/gpt2_l4.py --micro_batch_size=8           # config files, then --key=value flags
    torchrun --standalone --nproc_per_node=8 train.py configs/gpt2_gqa.py
    python train.py configs/gpt2_gqa.py --init_from=resume            # continue from out_dir/ckpt.pt
    torchrun --nproc_per_node=8 train.py configs/gpt_2b.py --parallelism=fsdp   # sharded: FSDP2, out_dir/ckpt/

Every setting is a field of GPTConfig (model.py) or TrainConfig (gptkit/config.py). SIGTERM or Ctrl-C saves a
checkpoint and exits, so a run that loses its GPU resumes where it stopped.
"""

import json
import signal
import sys
from dataclasses import asdict, fields
from pathlib import Path

import torch

from gptkit.checkpointing.checkpoint_guard import CheckpointGuard
from gptkit.checkpointing.training_checkpoint import TrainingCheckpoint, TrainingParts
from gptkit.config import TrainConfig, build_configs, read_settings
from gptkit.data.corpus import EMBEDDED_DATA_DIR, prepare_embedded
from gptkit.data.dataloader import ShardedBatches, validation_batches
from gptkit.data.shards import find_shards
from gptkit.data.tokenizer import check_same_tokenizer
from gptkit.distributed import all_reduce_max, all_reduce_mean, all_reduce_sum, barrier, setup_run, shutdown
from gptkit.errors import run_main
from gptkit.evaluation.bits_per_byte import bits_per_byte, text_loss_and_bytes, token_byte_counts
from gptkit.evaluation.core import evaluate_core
from gptkit.evaluation.core_bundle import load_tasks
from gptkit.evaluation.hellaswag import evaluate_hellaswag, hellaswag_file, read_examples
from gptkit.evaluation.sampling import sample
from gptkit.interop.pretrained import read_pretrained, recorded_tokenizer, warm_start_overrides
from gptkit.model_parts.fp8 import check_fp8, convert_to_fp8
from gptkit.model_parts.losses import check_cross_entropy
from gptkit.training.metrics import TrainingReport
from gptkit.training.micro_batch import find_micro_batch_size, gradient_accumulation_steps
from gptkit.training.optim import build_optimizer
from gptkit.training.parallel import clip_gradients, gradient_sync, is_sharded, wrap_model
from gptkit.training.run_lock import RunLock
from gptkit.training.schedule import lr_at_step
from model import GPT, GPTConfig


def build_model(model_config, model_settings, cfg, checkpoint):
    """The model to train: the checkpoint's, GPT-2's, an exported folder's or a fresh one. model_settings are the
    model keys the user gave; a checkpoint, folder or GPT-2 that cannot honour one of them is refused with the
    key named."""
    if checkpoint is not None:
        return GPT.from_checkpoint(checkpoint, **model_settings)
    if cfg.init_from in ("scratch", "auto"):  # auto without a checkpoint in out_dir starts from scratch
        return GPT(model_config)
    weights = read_pretrained(cfg.init_from)  # GPT-2's or an exported folder's, read once
    return GPT.from_pretrained(weights, **warm_start_overrides(weights, model_config, model_settings))


def trained_tokenizer_name(cfg, checkpoint):
    """The tokenizer the model already reads: its checkpoint's or its exported folder's; None for a fresh model
    or OpenAI GPT-2."""
    if checkpoint is not None:
        return checkpoint.get("tokenizer", "gpt2")
    if cfg.init_from in ("scratch", "auto"):
        return None
    return recorded_tokenizer(cfg.init_from)


def training_data(cfg, run, micro_batch_size, model_config):
    """(training batches, validation loader arguments); the embedded demo corpus is prepared on first use."""
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
    return train_batches, dict(shard_paths=find_shards(cfg.data_dir, "val"), **loader_args)


def train_step(model, optimizer, scaler, batches, grad_accum_steps, cfg, run):
    """One optimizer step over grad_accum_steps micro-batches: (mean loss, gradient norm), both on the device."""
    pin = run.device_type == "cuda"
    loss_sum = torch.zeros((), device=run.device)
    for micro_step in range(grad_accum_steps):
        x, y = batches.next_batch()
        if pin:  # pinned memory lets the copy overlap with the GPU work already queued
            x, y = x.pin_memory(), y.pin_memory()
        x, y = x.to(run.device, non_blocking=pin), y.to(run.device, non_blocking=pin)
        with gradient_sync(model, last_micro_step=micro_step == grad_accum_steps - 1):
            with run.autocast():
                _, loss = model(x, y)
            loss = loss / grad_accum_steps  # the gradient of the mean over all micro-steps
            loss_sum += loss.detach()
            scaler.scale(loss).backward()
    scaler.unscale_(optimizer)  # clip the true gradients, not the float16-scaled ones
    grad_norm = clip_gradients(model.parameters(), cfg.grad_clip or float("inf"))
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return loss_sum, grad_norm


@torch.no_grad()
def evaluate_val_loss(model, val_loader_args, cfg, run, token_bytes):
    """(mean loss in nats per token, bits per byte) over eval_iters validation batches per process, all processes
    together. token_bytes: each token id's UTF-8 bytes (gptkit/evaluation/bits_per_byte.py)."""
    model.eval()
    sums = torch.zeros(4, device=run.device)  # loss, tokens, and the loss and bytes of the text tokens
    for x, y in validation_batches(num_batches=cfg.eval_iters, **val_loader_args):
        x, y = x.to(run.device), y.to(run.device)
        with run.autocast():
            _, losses = model(x, y, reduction="none")
        losses = losses.float()
        text_loss, text_bytes = text_loss_and_bytes(losses, token_bytes[y])
        sums += torch.stack([losses.sum(), torch.tensor(float(y.numel()), device=run.device), text_loss, text_bytes])
    model.train()
    loss, tokens, text_loss, text_bytes = all_reduce_sum(sums, run.world_size).tolist()
    return loss / tokens, bits_per_byte(text_loss, text_bytes)


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
    # settings: config files and flags, checked; the model keys given are remembered so none is silently dropped
    settings = read_settings(argv, GPTConfig, TrainConfig)
    model_config, cfg = build_configs(settings, GPTConfig, TrainConfig)
    model_settings = {k: v for k, v in settings.items() if k in {f.name for f in fields(GPTConfig)}}
    run = setup_run(cfg.device, cfg.dtype)
    check_cross_entropy(cfg.cross_entropy, run.device_type)
    if cfg.fp8:
        check_fp8(run)  # refused before anything is written
    lock = RunLock.for_run(cfg.out_dir, run)  # one run per out_dir, and out_dir is writable, before any work
    out_dir = Path(cfg.out_dir)
    run_checkpoint = TrainingCheckpoint(cfg, run)  # where this run's checkpoint lives, how it is written and read
    checkpoint = run_checkpoint.find()  # the one to resume, or None: start as configured
    model_tokenizer = trained_tokenizer_name(cfg, checkpoint)

    # model, on this process' device
    torch.manual_seed(cfg.seed)
    model = build_model(model_config, model_settings, cfg, checkpoint).to(run.device)
    model.use_cross_entropy(cfg.cross_entropy)
    model_config = model.config
    if cfg.fp8:
        fp8_layers = convert_to_fp8(model, run)
        if run.is_master:
            print(f"fp8: {len(fp8_layers)} Linear layers train in float8, the output layer in {run.dtype}")

    # data, in micro-batches that add up to total_batch_tokens per step
    micro_batch_size = cfg.micro_batch_size
    if micro_batch_size == "auto":
        micro_batch_size = find_micro_batch_size(model, cfg, run)
    grad_accum_steps = gradient_accumulation_steps(cfg, micro_batch_size, model_config.block_size, run.world_size)
    train_batches, val_loader_args = training_data(cfg, run, micro_batch_size, model_config)
    tokenizer_name = train_batches.tokenizer_name
    if model_tokenizer is not None:  # resumed or warm-started: the data must be in the model's tokens
        model_source = run_checkpoint.path if checkpoint is not None else cfg.init_from
        check_same_tokenizer(model_tokenizer, model_source, tokenizer_name, cfg.data_dir)
    tokenizer = train_batches.tokenizer  # the shards' (a trained one's definition lies beside them)
    token_bytes = token_byte_counts(tokenizer, model_config.vocab_size).to(run.device)  # for bits per byte
    if cfg.hellaswag_interval > 0 and run.is_master:
        read_examples(hellaswag_file(cfg.hellaswag_data))  # downloaded and checked before training, not later
    core_tasks = load_tasks(cfg.core_bundle, cfg.core_max_per_task, run) if cfg.core_interval > 0 else None
    barrier(run.world_size)

    # one process, DDP or FSDP (sharded in place), compiled and with activation checkpointing as configured
    raw_model = model
    model = wrap_model(model, cfg, run)

    # optimizer (and gradient scaler for float16); a resumed run takes up their state, the data position and RNG
    optimizer = build_optimizer(raw_model.named_parameters(), cfg, run.device_type)
    scaler = torch.amp.GradScaler(run.device_type, enabled=run.dtype == "float16")
    parts = TrainingParts(raw_model, optimizer, scaler, train_batches)  # what a checkpoint holds the state of
    step = 0
    if checkpoint is not None:
        step = run_checkpoint.restore(checkpoint, parts)
        if run.is_master:
            print(f"resuming from step {step} of {run_checkpoint.path}")
    # only checkpoints a resume trains from are written; a bad step stops the run or rolls it back (on_nonfinite)
    check_batch = next(validation_batches(num_batches=1, **val_loader_args))
    guard = CheckpointGuard(run_checkpoint, parts, run, check_batch, resumed=checkpoint)
    checkpoint = None  # free the memory

    # what this run is, printed and saved; then one report per logged step, to console, metrics.jsonl and wandb
    derived = dict(micro_batch_size=micro_batch_size, grad_accum_steps=grad_accum_steps, processes=run.world_size)
    derived.update(dtype=run.dtype, device=run.device_name, parameters=raw_model.num_params())
    resolved = {"model": asdict(model_config), "train": asdict(cfg), "derived": derived}
    if run.is_master:
        print(json.dumps(resolved, indent=1))
        (out_dir / "config.json").write_text(json.dumps(resolved, indent=1))
    report = TrainingReport(run, cfg, resolved, raw_model.flops_per_token(), start_step=step)

    def due(interval):  # 0 turns an interval off; the last step counts for every interval that is on
        return interval > 0 and (step % interval == 0 or step == cfg.max_iters)

    stop = StopRequest()
    model.train()
    while step < cfg.max_iters:
        lr = lr_at_step(step, cfg)  # AdamW's, logged; each group follows the schedule from its own peak
        for group in optimizer.param_groups:
            group["lr"] = lr_at_step(step, cfg, group["peak_lr"])
        loss_sum, grad_norm = train_step(model, optimizer, scaler, train_batches, grad_accum_steps, cfg, run)
        step += 1

        # The host waits for the GPU only where the loss is logged or a checkpoint is due, and the step is judged
        # there, on the loss averaged over the processes: all take the same branch
        # (gptkit/checkpointing/checkpoint_guard.py).
        save_now = due(cfg.checkpoint_interval) or step == cfg.max_iters
        stopping = False
        if due(cfg.log_interval) or save_now or (run.world_size == 1 and stop.requested):
            loss = all_reduce_mean(loss_sum, run.world_size).item()
            stopping = all_reduce_max(stop.requested, run.world_size, run.device) > 0
            problem = guard.check_step(step, loss, grad_norm.item(), scaler.is_enabled(), saving=save_now or stopping)
            if problem:  # on_nonfinite="rollback": back to the last checkpoint, past the batches read since
                step = guard.roll_back(step, problem, report)
                continue
            if due(cfg.log_interval):
                report.training_step(step, loss, lr, grad_norm.item(), raw_model.last_aux_loss)
        if due(cfg.eval_interval):
            val_loss, val_bpb = evaluate_val_loss(model, val_loader_args, cfg, run, token_bytes)
            report.evaluation(step, val_loss=val_loss, val_bpb=val_bpb)
        if due(cfg.hellaswag_interval):
            data, limit = cfg.hellaswag_data, cfg.hellaswag_limit
            result = evaluate_hellaswag(raw_model, run, tokenizer, data_path=data, limit=limit)
            report.evaluation(step, hellaswag_acc=result["acc"], hellaswag_acc_norm=result["acc_norm"])
        if due(cfg.core_interval):
            report.evaluation(step, core=evaluate_core(raw_model, run, tokenizer, core_tasks)["core"])
        if due(cfg.sample_interval) and (run.is_master or is_sharded(raw_model)):  # sharded: all ranks forward
            text = sample(raw_model, tokenizer, "", run, max_new_tokens=cfg.sample_tokens, seed=cfg.seed)
            if run.is_master:
                print(f"step {step} sample:\n{text[0]}\n")
        if save_now or stopping:
            guard.save(step)
        if stopping:
            if run.is_master:
                print(f"stopped by a signal at step {step}; continue with --init_from=resume")
            break

    report.close()
    if lock is not None:
        lock.release()
    del model  # DDP holds the process group: let it go now, not at interpreter exit after the other ranks left
    shutdown(run.world_size)


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
