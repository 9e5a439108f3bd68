"""
Where a model's context ends: loss by position, perplexity against the evaluation length and two probes, at the
training length and past it, with RoPE scaling methods compared in one call.

    python evaluate.py --checkpoint out/rope/ckpt.pt --data_dir data/python_stdlib      # 1x, 2x, 4x block_size
    python evaluate.py --hf hf/rope --data_dir data/python_stdlib --rope_scaling none,linear,dynamic,yarn \\
        --json out/rope/evaluate.json --plots out/rope/evaluate
    python evaluate.py --checkpoint out/rope/ckpt.pt --data_dir data/fineweb10B --lengths 1024,4096 \\
        --windows 256 --windows_from docs --stride 512
    torchrun --standalone --nproc_per_node=8 evaluate.py --checkpoint out/rope/ckpt.pt --data_dir data/fineweb10B

On the validation shards of --data_dir: the loss by position out to each of --lengths (windows from the packed
stream, or from document starts; every length reads the beginnings of the same windows), perplexity at each
length (non-overlapping windows and a sliding window), a copy probe (a span of random tokens repeated after a
gap: the loss on the second copy by distance), a key-value retrieval probe (the task of the synthetic retrieval
documents: a key set, other keys set after it, the key asked for; accuracy by distance, inside the training
length and past it) and the pass-key prompt in the model's tokens. Each method of
--rope_scaling (default: the model's own) runs them all on the same tokens; a factor not given is the model's
own, or the longest length over the training length. The measurements are in gptkit/evaluation/long_context.py,
the table, JSON and plots in gptkit/evaluation/long_context_report.py.

JSON (--json FILE), schema 1; losses are mean cross-entropies in nats per token, "se" standard errors across
windows (across trials for the probe; null for a single one), "bpb" bits per byte (the summed loss over ln 2 and the
UTF-8 bytes of the scored tokens, end-of-text in neither: comparable across tokenizers):
  {"schema": 1,
   "model": {"source", "pos_emb", "block_size", "original_length" (the length the weights were
             trained at before any stretching: rope_original_block_size, else block_size),
             "rope_theta", "rope_scaling", "rope_scaling_factor" (the model's own), "parameters", "tokenizer"},
   "data": {"data_dir", "validation_tokens", "windows_from", "windows" (asked per length), "perplexity_tokens",
            "seed", "processes", "dtype"},
   "lengths": [int, ...],
   "methods": {NAME: {"name": NAME, "rope": {the GPTConfig RoPE settings it ran with},     one per method, in order
       "positions": [{"length", "windows" (used), "available" (windows of the longest length in the source),
                      "loss", "se", "bins": [{"start", "end" (positions start ... end - 1), "loss", "se"}, ...]},
                     ...] | null,
       "perplexity": [{"length", "non_overlapping": {"windows", "tokens", "loss", "perplexity", "bpb"},
                       "sliding": {"stride", "windows", "tokens", "loss", "perplexity", "bpb"}}, ...] | null,
       "probe": {"span", "trials", "points": [{"gap", "distance" (span + gap), "length" (tokens read), "loss", "se",
                                               "first_copy_loss"}, ...]} | null,
       "retrieval": {"trials", "points": [{"distance" (tokens from the set value to the asked one, mean over the
                                            trials), "length" (tokens read), "accuracy", "accuracy_se", "loss",
                                            "loss_se" (per value token), "first_loss" (where it is set)}, ...]}
                    | null (absent in files written before issue 29),
       "passkey": {"trials", "points": [{"length", "depth", "trials", "accuracy"}, ...]} | null}}}
"""

import sys

from gptkit.data.tokenizer import check_same_tokenizer
from gptkit.distributed import setup_run, shutdown
from gptkit.errors import UserError, run_main
from gptkit.evaluation.bits_per_byte import token_byte_counts
from gptkit.evaluation.evaluate_flags import PARTS, parse_arguments
from gptkit.evaluation.long_context import (
    WINDOW_SOURCES,
    copy_probe,
    loss_by_position,
    passkey,
    perplexity,
    retrieval_probe,
    validation_tokens,
)
from gptkit.evaluation.long_context_report import SCHEMA, console_table, write_json, write_plots
from gptkit.model_parts.rope import SCALINGS, original_length, scaling_settings
from model import load_model


def listed(text, valid, flag):
    """The comma-separated names of a flag, each one of valid, duplicates dropped."""
    names = list(dict.fromkeys(name.strip() for name in text.split(",")))
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise UserError(f"{flag}: unknown {', '.join(map(repr, unknown))}; choose from {', '.join(valid)}")
    return names


def evaluation_lengths(text, config):
    """Lengths in tokens from '1x,2x,4x' (multiples of block_size) or '1024,4096'; learned positions stop at
    block_size."""
    text = text or ("1x,2x,4x" if config.pos_emb == "rope" else "1x")
    lengths = []
    for item in text.split(","):
        number, multiple = (item.strip()[:-1], config.block_size) if item.strip().endswith("x") else (item, 1)
        if not number.strip().isdigit() or int(number) < 1:
            raise UserError(f"--lengths: {item.strip()!r} is not a positive integer (or a multiple like 2x)")
        lengths.append(int(number) * multiple)
    longest = max(lengths)
    if longest > config.block_size and config.pos_emb != "rope":
        raise UserError(
            f"--lengths: {longest} is past block_size {config.block_size}, where learned positions end; "
            "evaluating past it needs a pos_emb='rope' model"
        )
    return sorted(set(lengths))


def check_arguments(args, lengths):
    problems = []
    if args.windows < 1:
        problems.append(f"--windows must be >= 1, got {args.windows}")
    if args.windows_from not in WINDOW_SOURCES:
        problems.append(f"--windows_from must be one of {', '.join(WINDOW_SOURCES)}, got {args.windows_from!r}")
    if args.stride is not None and not 1 <= args.stride <= min(lengths):
        problems.append(f"--stride must be between 1 and the shortest length {min(lengths)}, got {args.stride}")
    if not 2 <= args.probe_span <= max(lengths) // 2:
        problems.append(f"--probe_span must be between 2 and half the longest length, got {args.probe_span}")
    for flag in ("probe_trials", "retrieval_trials", "passkey_trials", "batch_size"):
        if getattr(args, flag) < 1:
            problems.append(f"--{flag} must be >= 1, got {getattr(args, flag)}")
    if problems:
        raise UserError("; ".join(problems))


def evaluate_method(model, tokens, tokenizer, run, args, lengths, parts):
    """One method's measurements (the model already runs with its RoPE settings)."""
    eot_token = tokenizer.eot_token
    original, longest = original_length(model.config), max(lengths)
    result = {part: None for part in PARTS}
    if "positions" in parts:
        common = dict(windows=args.windows, source=args.windows_from, eot_token=eot_token, longest=longest)
        common.update(original_length=original, batch_size=args.batch_size)
        result["positions"] = [loss_by_position(model, tokens, run, length=n, **common) for n in lengths]
    if "perplexity" in parts:
        segment = tokens[: args.windows * longest + 1]
        token_bytes = token_byte_counts(tokenizer, model.config.vocab_size).numpy()
        common = dict(batch_size=args.batch_size, token_bytes=token_bytes)
        result["perplexity"] = [
            perplexity(model, segment, run, length=n, stride=args.stride or max(1, n // 2), **common) for n in lengths
        ]
    if "probe" in parts:
        probe = dict(span=args.probe_span, trials=args.probe_trials, seed=args.seed, batch_size=args.batch_size)
        vocabulary = dict(vocab_size=tokenizer.n_vocab, eot_token=eot_token)
        result["probe"] = copy_probe(model, tokens, run, max_length=longest, **probe, **vocabulary)
    if "retrieval" in parts:
        retrieval = dict(max_length=longest, original_length=original, trials=args.retrieval_trials, seed=args.seed)
        result["retrieval"] = retrieval_probe(model, tokenizer, run, **retrieval, batch_size=args.batch_size)
    if "passkey" in parts:  # in the model's own tokens; none where no length holds the prompt
        measured = passkey(model, tokenizer, run, lengths=lengths, trials=args.passkey_trials, seed=args.seed)
        result["passkey"] = measured if measured["points"] else None
    return result


def main(argv):
    args = parse_arguments(argv, __doc__)
    parts = listed(args.parts, PARTS, "--parts")
    model, tokenizer = load_model(args.checkpoint, args.hf)
    lengths = evaluation_lengths(args.lengths, model.config)
    check_arguments(args, lengths)
    names = listed(args.rope_scaling or model.config.rope_scaling, SCALINGS, "--rope_scaling")
    methods = scaling_settings(model.config, names, args.rope_scaling_factor, max(lengths))
    tokens, data_tokenizer = validation_tokens(args.data_dir)
    check_same_tokenizer(tokenizer.name, args.checkpoint or args.hf, data_tokenizer, args.data_dir)
    if len(tokens) < max(lengths) + 1:
        raise UserError(f"{args.data_dir}'s validation split ({len(tokens)} tokens) is shorter than {max(lengths) + 1}")

    run = setup_run(args.device, args.dtype)
    model.to(run.device)
    config = model.config
    result = {
        "schema": SCHEMA,
        "model": {
            "source": args.checkpoint or args.hf,
            "pos_emb": config.pos_emb,
            "block_size": config.block_size,
            "original_length": original_length(config),
            "rope_theta": config.rope_theta,
            "rope_scaling": config.rope_scaling,
            "rope_scaling_factor": config.rope_scaling_factor,
            "parameters": model.num_params()["total"],
            "tokenizer": tokenizer.name,
        },
        "data": {
            "data_dir": args.data_dir,
            "validation_tokens": len(tokens),
            "windows_from": args.windows_from,
            "windows": args.windows,
            "perplexity_tokens": min(len(tokens), args.windows * max(lengths) + 1),
            "seed": args.seed,
            "processes": run.world_size,
            "dtype": run.dtype,
        },
        "lengths": lengths,
        "methods": {},
    }
    for name, settings in methods.items():
        model.use_rope_settings(**settings)
        measured = evaluate_method(model, tokens, tokenizer, run, args, lengths, parts)
        result["methods"][name] = {"name": name, "rope": settings, **measured}
    if run.is_master:
        print(console_table(result))
        if args.json:
            print(f"wrote {write_json(result, args.json)}")
        if args.plots:
            print("wrote " + ", ".join(str(path) for path in write_plots(result, args.plots)))
    shutdown(run.world_size)


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
