"""
The model card (README.md) of an exported folder: Hub metadata, what the model is, how it was trained and
how well, and how to load it.

The figures come from the run itself, never typed in: the checkpoint (configs, step), and the run's
metrics.jsonl and config.json beside it (the last validation loss, in nats per token and bits per byte, and
HellaSwag score logged up to the checkpoint's step, the device). A figure the run did not log is said to be
missing rather than left out.
Evaluation results given by the caller (a study's) go into the metadata as `model-index`, written by
huggingface_hub's own ModelCardData so the Hub shows them; the card's other metadata and text stay as they are.
"""

import json
from pathlib import Path

import yaml

from gptkit.training.metrics import read_metrics

FAMILY_DESCRIPTIONS = {
    "gpt2": "GPT-2 architecture (`GPT2LMHeadModel`): learned positions, multi-head attention",
    "starcoder2": "`Starcoder2ForCausalLM`: rotary positions (RoPE), LayerNorm, GeLU or ReLU² MLP",
    "llama": "`LlamaForCausalLM`: rotary positions (RoPE), RMSNorm, SwiGLU MLP",
    "qwen3": "`Qwen3ForCausalLM`: rotary positions (RoPE), RMSNorm, QK-norm, SwiGLU MLP",
    "arcee": "`ArceeForCausalLM`: rotary positions (RoPE), RMSNorm, GeLU or ReLU² MLP",
    "gptkit": "custom code shipped in this folder (`GPTKitForCausalLM`, `trust_remote_code=True`)",
}


def block_lines(model_config):
    """The block toggles that differ from GPT-2's, one line each (docs/block.md)."""
    c = model_config
    lines = [f"norm: {c['norm']}" + ("" if c["norm_weights"] else " without gains")]
    lines += [f"MLP activation: {c['mlp_activation']}, hidden width {c['mlp_width'] or 'the default'}"]
    lines += ["QK-norm (RMSNorm per head)"] if c["qk_norm"] else []
    lines += [f"logits soft-capped at {c['logit_softcap']:g}"] if c["logit_softcap"] else []
    extras = [key.replace("_", " ") for key in ("embedding_norm", "residual_scalars", "value_embeddings") if c[key]]
    return lines + ([f"also: {', '.join(extras)}"] if extras else [])


def run_summary(checkpoint_path, checkpoint):
    """What the card says about training: step, tokens, final val loss and HellaSwag, device, command."""
    run_dir = Path(checkpoint_path).parent
    train_config = checkpoint.get("train_config", {})
    step = checkpoint.get("step")
    summary = dict(step=step, tokens=None, val_loss=None, val_bpb=None, hellaswag_acc_norm=None, device=None)
    if step is not None and "total_batch_tokens" in train_config:
        summary["tokens"] = step * train_config["total_batch_tokens"]
    metrics_path = run_dir / "metrics.jsonl"
    if metrics_path.is_file():
        for record in read_metrics(metrics_path):
            if step is None or record.get("step", 0) <= step:
                for key in ("val_loss", "val_bpb", "hellaswag_acc_norm"):
                    summary[key] = record.get(key, summary[key])
    config_path = run_dir / "config.json"
    if config_path.is_file():
        derived = json.loads(config_path.read_text()).get("derived", {})
        if "device" in derived:
            summary["device"] = f"{derived.get('processes', 1)} x {derived['device']} ({derived.get('dtype')})"
    return summary


def training_command(model_config, train_config, model_defaults, train_defaults):
    """A train.py command that repeats the run: every setting that differs from its default, as a flag."""
    flags = [
        f"--{key}={value}"
        for settings, defaults in ((model_config, model_defaults), (train_config, train_defaults))
        for key, value in settings.items()
        if key in defaults and value != defaults[key]
    ]
    return " ".join(["python train.py", *flags])


def figure(value, form):
    return "not logged" if value is None else format(value, form)


def model_card(family, model_config, tokenizer_name, parameters, summary, command, name):
    """The README.md text. parameters: {"total", "active"} counts; summary: run_summary's dict; name: the Hub
    repository or the folder, as the loading examples call it."""
    c = model_config
    remote = family == "gptkit"
    load_args = ", trust_remote_code=True" if remote else ""
    toggles = [
        f"positions: {c['pos_emb']}" + (f" (rope_theta {c['rope_theta']:g})" if c["pos_emb"] == "rope" else ""),
        f"attention: {c['n_head']} query heads, {c['n_kv_head']} key/value heads",
        f"MLP: {c['n_expert']} experts, {c['n_expert_active']} active per token" if c["n_expert"] else "MLP: dense",
        f"biases: {'yes' if c['bias'] else 'no (exported as zeros)' if family in ('gpt2', 'starcoder2') else 'no'}",
        f"embeddings: {'tied' if c['tie_embeddings'] else 'untied'}",
        *block_lines(c),
    ]
    tags = dict.fromkeys(["gptkit", "causal-lm", family] + (["mixture-of-experts"] if c["n_expert"] else []))
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-generation",
        "tags:",
        *[f"- {tag}" for tag in tags],
        "---",
        "",
        f"# {name}",
        "",
        "A GPT trained with this repository's train.py and exported with export_hf.py.",
        "",
        "## Architecture",
        "",
        f"- {FAMILY_DESCRIPTIONS[family]}",
        f"- {c['n_layer']} layers, {c['n_embd']} wide, context {c['block_size']} tokens, "
        f"vocabulary {c['vocab_size']} (tokenizer: {tokenizer_name})",
        *[f"- {toggle}" for toggle in toggles],
        f"- parameters: {parameters['total']:,} total, {parameters['active']:,} active per token",
        "",
        "## Training",
        "",
        f"- steps: {figure(summary['step'], ',')}, tokens: {figure(summary['tokens'], ',')}",
        f"- final validation loss: {figure(summary['val_loss'], '.4f')} nats per token, "
        f"{figure(summary['val_bpb'], '.4f')} bits per byte (comparable across tokenizers)",
        f"- HellaSwag acc_norm (token-averaged, hellaswag.py): {figure(summary['hellaswag_acc_norm'], '.4f')}",
        f"- hardware: {summary['device'] or 'not recorded'}",
        "",
        "```",
        command,
        "```",
        "",
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f'model = AutoModelForCausalLM.from_pretrained("{name}"{load_args})',
        f'tokenizer = AutoTokenizer.from_pretrained("{name}")',
        'tokens = tokenizer("Hello", return_tensors="pt")',
        "print(tokenizer.decode(model.generate(**tokens, max_new_tokens=40)[0]))",
        "```",
        "",
        "Evaluate it with EleutherAI's lm-evaluation-harness:",
        "",
        "```",
        f"lm_eval --model hf --model_args pretrained={name}{load_args.replace(', ', ',')} --tasks hellaswag,arc_easy",
        "```",
        "",
    ]
    if remote:
        lines += [
            "The modelling code (modeling_gptkit.py, configuration_gptkit.py) ships in this folder; read it before "
            "loading with trust_remote_code=True.",
            "",
        ]
    return "\n".join(lines)


def with_eval_results(card, eval_results, name):
    """The card text with huggingface_hub EvalResults added to its YAML front matter as the model-index of the
    model called name; without results, the card as it was."""
    if not eval_results:
        return card
    from huggingface_hub import ModelCardData

    _, front, body = card.split("---\n", 2)
    metadata = yaml.safe_load(front) or {}
    data = ModelCardData(**metadata, model_name=name, eval_results=list(eval_results))
    return f"---\n{data.to_yaml()}\n---\n{body}"
