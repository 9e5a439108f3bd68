"""
Weights in: a model that does not come from this repository's training checkpoint. One function,
read_pretrained, decides what a name or folder is, reading its config.json once:

- OpenAI GPT-2 (gpt2 ... gpt2-xl from the Hugging Face Hub, or a GPT-2 transformers folder that export_hf.py did
  not write), to warm-start from: it keeps GPT-2's shape but for the settings a warm start may change
  (GPT2_ADJUSTABLE), among them grouped-query attention, whose key/value heads are the means of GPT-2's
  (mean_pool_kv_heads).
- A transformers folder of one of our models (what export_hf.py writes, of any family): it keeps its own shape
  and loads as a training checkpoint's model does.
- Any other transformers folder (llama, mistral, ...): refused in one line, before its weights are read.
warm_start_overrides: what a warm start from either takes from the run's model config.

gptkit never imports model.py: this part gives config fields and state dicts under model.py's names (the
mapping is gptkit/interop/hf_format.py's), and GPT.from_pretrained builds the model. The invariants the tests check:
config.json is read once per load; a converted GPT-2 computes GPT-2's logits (and, into GQA, each group's mean
heads); a setting a warm start cannot honour is refused with its name; and weights are read safely: safetensors,
or a pickle only through torch.load(weights_only=True), so a crafted file cannot run code.
"""

import json
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from gptkit.errors import UserError
from gptkit.interop.hf_format import ARCHITECTURES, METADATA_KEY, from_transformers

GPT2_NAMES = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")
# The model settings a GPT-2 warm start can change; every other one must equal GPT-2's.
GPT2_ADJUSTABLE = ("pos_emb", "rope_theta", "vocab_size", "block_size", "dropout", "tie_embeddings", "n_kv_head")
# The ones it always takes from the run's config, given or not (the default vocab_size pads GPT-2's 50257 tokens
# to 50304, as the scratch models have).
WARM_START_SETTINGS = {"pos_emb", "rope_theta", "vocab_size", "block_size", "dropout"}

# What a name or folder holds (PretrainedWeights.kind)
OPENAI_GPT2 = "openai-gpt2"  # GPT-2's weights, to warm-start from with the overrides GPT-2's shape allows
EXPORTED = "exported"  # one of our models, written by export_hf.py: its own shape, as a checkpoint's


@dataclass
class PretrainedWeights:
    """A GPT-2 name or a transformers folder, read: what GPT.from_pretrained builds a model from."""

    kind: str  # OPENAI_GPT2 or EXPORTED
    model_config: dict  # GPTConfig fields
    state_dict: dict  # under model.py's names and layouts
    tokenizer: str  # the name of the tokenizer the model reads: our block's in an exported folder, else GPT-2's

    def as_checkpoint(self):
        """The model part of a training checkpoint, for GPT.from_checkpoint."""
        return {"model": self.state_dict, "model_config": self.model_config}


def read_pretrained(name_or_dir):
    """What name_or_dir is, with its config and weights: a folder's config.json is read once, and a folder of a
    model type we do not read is refused before its weights are."""
    if not Path(name_or_dir).is_dir():  # a Hub name: OpenAI GPT-2, through transformers' download
        fields, state_dict = from_transformers(*gpt2_from_hub(name_or_dir))
        return PretrainedWeights(OPENAI_GPT2, fields, state_dict, tokenizer="gpt2")
    content = read_folder_config(name_or_dir)
    family = content.get("model_type")
    # GPT-2 is the one foreign model read (to warm-start from); a Llama or Qwen3 folder of someone else's has
    # another tokenizer and settings our block does not describe, so only the folders export_hf.py wrote pass.
    if family not in ARCHITECTURES or (family != "gpt2" and METADATA_KEY not in content):
        raise UserError(
            f"{name_or_dir} holds a transformers model of type {family!r} that export_hf.py did not write: this "
            f"repository reads OpenAI GPT-2 and the {', '.join(ARCHITECTURES)} folders export_hf.py writes"
        )
    kind = OPENAI_GPT2 if family == "gpt2" and METADATA_KEY not in content else EXPORTED
    fields, state_dict = from_transformers(content, read_folder_weights(name_or_dir))
    return PretrainedWeights(kind, fields, state_dict, content.get(METADATA_KEY, {}).get("tokenizer", "gpt2"))


def recorded_tokenizer(name_or_dir):
    """The name of the tokenizer an exported folder's model reads, from our block in its config.json alone (what
    train.py checks a warm start's data against); None for OpenAI GPT-2, which records none (its vocabulary is
    checked against the shards' tokenizer as any model's is)."""
    if not Path(name_or_dir).is_dir():
        return None
    return read_folder_config(name_or_dir).get(METADATA_KEY, {}).get("tokenizer")


def warm_start_overrides(weights, model_config, model_settings):
    """The model settings a warm start from weights (a PretrainedWeights) is given. model_settings are the model
    keys the user gave (a folder of ours, like a checkpoint, is checked against them alone); GPT-2 also takes
    WARM_START_SETTINGS from model_config, the run's model config."""
    if weights.kind != OPENAI_GPT2:
        return dict(model_settings)
    return {k: getattr(model_config, k) for k in WARM_START_SETTINGS | set(model_settings)}


# ----------------------------------------------------------------------------------------------------------
# Transformers folders


def read_folder_config(folder):
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise UserError(f"{folder} has no config.json: not a transformers model folder")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e})") from None


# (index of a sharded folder, single file), in order of preference
WEIGHT_FILES = (
    ("model.safetensors.index.json", "model.safetensors"),
    ("pytorch_model.bin.index.json", "pytorch_model.bin"),
)


def read_folder_weights(folder):
    """All tensors of a folder: safetensors preferred; pickles (.bin) only through torch.load(weights_only=True),
    so a crafted file cannot run code; sharded folders through their index."""
    folder = Path(folder)
    for index_name, single_name in WEIGHT_FILES:
        if (folder / index_name).is_file():
            files = sorted(set(json.loads((folder / index_name).read_text())["weight_map"].values()))
        elif (folder / single_name).is_file():
            files = [single_name]
        else:
            continue
        tensors = {}
        for name in files:
            tensors.update(read_weight_file(folder / name))
        return tensors
    raise UserError(f"{folder} has no model.safetensors or pytorch_model.bin")


def read_weight_file(path):
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError) as e:
            raise UserError(f"{path} is not a readable safetensors file ({e})") from None
    unsafe = f"the folder's weights ({path.parent}) are not a safe checkpoint; prefer safetensors"
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError):
        raise UserError(unsafe) from None
    if not isinstance(weights, dict) or not all(isinstance(t, torch.Tensor) for t in weights.values()):
        raise UserError(unsafe)
    return weights


# ----------------------------------------------------------------------------------------------------------
# OpenAI GPT-2


def gpt2_from_hub(name):
    """(config.json content, tensors) of GPT-2 weights downloaded from the Hub (or found in its cache)."""
    try:
        from transformers import GPT2LMHeadModel
    except ImportError:
        raise UserError("loading GPT-2 weights needs the transformers package: pip install transformers") from None
    try:
        hf_model = GPT2LMHeadModel.from_pretrained(name)
    except pickle.UnpicklingError:  # a pickle that torch.load(weights_only=True) refuses: it could run code
        raise UserError(
            f"the weights of {name} are not a safe checkpoint: a pickle that could run code was refused; prefer "
            "safetensors (model.safetensors, save_pretrained's default)"
        ) from None
    except OSError as e:
        raise UserError(
            f"could not load GPT-2 weights {name!r} ({str(e).splitlines()[0]}): give a GPT-2 name "
            f"({', '.join(GPT2_NAMES)}) with internet access, or a local folder saved by transformers' "
            "save_pretrained"
        ) from None
    return hf_model.config.to_dict(), hf_model.state_dict()


def gpt2_warm_start_config(gpt2_fields, overrides, config_class):
    """The config (a config_class, model.py's GPTConfig) of a GPT-2 warm start: GPT-2's shape with the overrides,
    the GPTConfig fields the user gave. Those GPT2_ADJUSTABLE can change: pos_emb="rope" keeps every weight but
    the learned position table, vocab_size=50304 pads the embedding with fresh rows, dropout=0.1 for fine-tuning,
    tie_embeddings=False starts the head as a copy of the embedding, n_kv_head < n_head averages each group's key
    and value heads (grouped-query attention). Any other field must equal GPT-2's."""
    gpt2 = config_class(**gpt2_fields)
    refused = sorted(k for k, v in overrides.items() if k not in GPT2_ADJUSTABLE and v != getattr(gpt2, k))
    if refused:
        given = ", ".join(f"{k}={overrides[k]!r} (GPT-2: {getattr(gpt2, k)!r})" for k in refused)
        raise UserError(f"a GPT-2 warm start keeps GPT-2's shape; these settings cannot be honoured: {given}")
    config = config_class(**{**asdict(gpt2), **overrides})
    if config.vocab_size < gpt2.vocab_size:
        raise UserError(f"vocab_size {config.vocab_size} is smaller than GPT-2's {gpt2.vocab_size}")
    if config.block_size > gpt2.block_size and config.pos_emb == "learned":
        raise UserError(f"learned positions stop at GPT-2's {gpt2.block_size}; use pos_emb='rope' for longer")
    return config


@torch.no_grad()
def copy_gpt2_weights(gpt2_weights, model):
    """GPT-2's weights (the state dict read_pretrained read) into model, a fresh GPT of a gpt2_warm_start_config."""
    config = model.config
    for name, p in model.state_dict().items():
        if name == "lm_head.weight" and config.tie_embeddings:
            continue  # the same tensor as transformer.wte.weight
        w = gpt2_weights[name]
        if name.endswith(("attn.c_attn.weight", "attn.c_attn.bias")):
            w = mean_pool_kv_heads(w, config.n_head, config.n_kv_head)
        w = w[: p.shape[0]]  # a shorter block_size keeps the first positions
        p[: w.shape[0]].copy_(w)  # a padded vocabulary keeps its fresh extra rows


def mean_pool_kv_heads(qkv, n_head, n_kv_head):
    """Fused q|k|v rows of a multi-head layer with each group of n_head / n_kv_head key heads (and value heads)
    replaced by their mean: the GQA paper's recipe for turning a multi-head checkpoint into grouped-query
    attention. Key/value head j serves query heads j*g ... (j+1)*g - 1, as in scaled_dot_product_attention."""
    q, k, v = qkv.chunk(3)
    head_size = q.shape[0] // n_head

    def pool(rows):
        return rows.reshape(n_kv_head, n_head // n_kv_head, head_size, *rows.shape[1:]).mean(1).flatten(0, 1)

    return torch.cat([q, pool(k), pool(v)])
