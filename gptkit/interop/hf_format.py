"""
Our GPT as a transformers folder, and back: the mapping of configs and weights in both directions.

Each model family goes to the transformers architecture that computes exactly what model.py computes:
- learned positions, multi-head attention, dense MLP -> GPT2LMHeadModel (Conv1D weights stored transposed);
- RoPE (multi-head or grouped-query), dense MLP -> Starcoder2ForCausalLM (the fused q|k|v projection split into
  q_proj, k_proj, v_proj; both rotate the pairs of dimensions (i, i + head_size/2));
- everything transformers has no architecture for (a Mixture of Experts; learned positions with grouped-query
  attention) -> the modelling code in gptkit/interop/hf_custom, copied into the folder and named in config.json's
  auto_map, under model.py's own parameter names.
A model without biases goes to GPT-2 and Starcoder2 with zero biases, which compute the same.

The invariant the tests check: write_folder then from_transformers gives back the same config and weights,
and transformers' model built from the folder gives model.py's logits. Reading a folder's files (and OpenAI
GPT-2's) is gptkit/interop/pretrained.py's part.
"""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from gptkit.data.tokenizer import as_tokenizer
from gptkit.errors import UserError
from gptkit.interop.hf_legacy_config import add_legacy_spellings
from gptkit.model_parts.rope import rope_settings_from_transformers, transformers_rope_parameters

CUSTOM_CODE = Path(__file__).parent / "hf_custom"
CUSTOM_FILES = ("configuration_gptkit.py", "modeling_gptkit.py")
ARCHITECTURES = {"gpt2": "GPT2LMHeadModel", "starcoder2": "Starcoder2ForCausalLM", "gptkit": "GPTKitForCausalLM"}
METADATA_KEY = "gptkit"  # our block in config.json: the model config and tokenizer of the exported checkpoint
LAYER_NORM_EPS = 1e-5  # nn.LayerNorm's default, which model.py uses
TANH_GELU = ("gelu_new", "gelu_pytorch_tanh")  # the same function computed two ways (equal within 1e-6)


def family_of(model_config):
    """The transformers model_type a GPTConfig (as a dict) is exported to."""
    if model_config["n_expert"]:
        return "gptkit"
    if model_config["pos_emb"] == "rope":
        return "starcoder2"
    return "gpt2" if model_config["n_kv_head"] == model_config["n_head"] else "gptkit"


# ----------------------------------------------------------------------------------------------------------
# Parameter names: ours -> theirs


@dataclass(frozen=True)
class Rename:
    ours: str
    theirs: tuple  # one name, or the q, k, v parts of a fused projection (split by rows)
    transpose: bool = False  # GPT-2's Conv1D stores (in, out); nn.Linear keeps (out, in)
    optional: bool = False  # a bias: absent from a bias=False model, zeros in transformers' architectures


def module_renames(ours, theirs, transpose=False):
    """The weight and bias of one Linear or LayerNorm."""
    theirs = (theirs,) if isinstance(theirs, str) else theirs
    return [
        Rename(f"{ours}.weight", tuple(f"{t}.weight" for t in theirs), transpose),
        Rename(f"{ours}.bias", tuple(f"{t}.bias" for t in theirs), optional=True),
    ]


def gpt2_renames(model_config):
    renames = [Rename("transformer.wte.weight", ("transformer.wte.weight",))]
    renames.append(Rename("transformer.wpe.weight", ("transformer.wpe.weight",)))
    for i in range(model_config["n_layer"]):
        layer = f"transformer.h.{i}"
        for norm in ("ln_1", "ln_2"):
            renames += module_renames(f"{layer}.{norm}", f"{layer}.{norm}")
        for linear in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
            renames += module_renames(f"{layer}.{linear}", f"{layer}.{linear}", transpose=True)
    return renames + module_renames("transformer.ln_f", "transformer.ln_f")


def starcoder2_renames(model_config):
    renames = [Rename("transformer.wte.weight", ("model.embed_tokens.weight",))]
    for i in range(model_config["n_layer"]):
        ours, theirs = f"transformer.h.{i}", f"model.layers.{i}"
        qkv = tuple(f"{theirs}.self_attn.{part}_proj" for part in "qkv")
        renames += module_renames(f"{ours}.ln_1", f"{theirs}.input_layernorm")
        renames += module_renames(f"{ours}.attn.c_attn", qkv)
        renames += module_renames(f"{ours}.attn.c_proj", f"{theirs}.self_attn.o_proj")
        renames += module_renames(f"{ours}.ln_2", f"{theirs}.post_attention_layernorm")
        renames += module_renames(f"{ours}.mlp.c_fc", f"{theirs}.mlp.c_fc")
        renames += module_renames(f"{ours}.mlp.c_proj", f"{theirs}.mlp.c_proj")
    return renames + module_renames("transformer.ln_f", "model.norm")


def renames_of(family, model_config, state_dict_names):
    """Every Rename of the family; the custom code keeps our names, so its renames are the identity."""
    if family == "gptkit":
        names = [n for n in state_dict_names if n != "lm_head.weight"]
        renames = [Rename(name, (name,)) for name in names]
    else:
        renames = (gpt2_renames if family == "gpt2" else starcoder2_renames)(model_config)
    if not model_config["tie_embeddings"]:
        renames.append(Rename("lm_head.weight", ("lm_head.weight",)))
    return renames


def qkv_rows(model_config):
    head_size = model_config["n_embd"] // model_config["n_head"]
    return [model_config["n_embd"], *2 * [model_config["n_kv_head"] * head_size]]


# ----------------------------------------------------------------------------------------------------------
# Export


def export_weights(family, model_config, state_dict, dtype=torch.float32, conv1d_layout=True):
    """Our state dict under the family's names and layouts (contiguous tensors of dtype, none shared).
    conv1d_layout=False keeps nn.Linear's (out, in) where GPT-2's Conv1D stores (in, out), as GGUF does."""
    tensors = {}
    for rename in renames_of(family, model_config, state_dict):
        if rename.ours in state_dict:
            tensor = state_dict[rename.ours]
        elif rename.optional:  # the bias of a bias=False model: as long as the weight's first dimension
            tensor = torch.zeros(state_dict[rename.ours.removesuffix("bias") + "weight"].shape[0])
        else:
            raise UserError(f"the checkpoint has no {rename.ours}: it is not a model.py GPT")
        parts = tensor.split(qkv_rows(model_config)) if len(rename.theirs) == 3 else (tensor,)
        for name, part in zip(rename.theirs, parts):
            part = part.t() if rename.transpose and conv1d_layout else part
            tensors[name] = part.detach().to(dtype).contiguous().clone()
    return tensors


def export_config(family, model_config, tokenizer_name, eot_token, dtype_name):
    """config.json's content as a dict, written with transformers' own config class so that the installed
    version's keys and defaults are used."""
    c = model_config
    common = dict(
        vocab_size=c["vocab_size"],
        tie_word_embeddings=c["tie_embeddings"],
        bos_token_id=eot_token,
        eos_token_id=eot_token,
        architectures=[ARCHITECTURES[family]],
        dtype=dtype_name,
    )
    if family == "gpt2":
        from transformers import GPT2Config

        no_dropout = dict(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, summary_first_dropout=0.0)
        config = GPT2Config(
            n_positions=c["block_size"],
            n_embd=c["n_embd"],
            n_layer=c["n_layer"],
            n_head=c["n_head"],
            activation_function="gelu_pytorch_tanh",  # bit-exact with F.gelu(approximate="tanh")
            layer_norm_epsilon=LAYER_NORM_EPS,
            **no_dropout,
            **common,
        )
    elif family == "starcoder2":
        from transformers import Starcoder2Config

        rope_parameters, max_position_embeddings = transformers_rope_parameters(c)  # with the RoPE scaling
        config = Starcoder2Config(
            hidden_size=c["n_embd"],
            intermediate_size=4 * c["n_embd"],
            num_hidden_layers=c["n_layer"],
            num_attention_heads=c["n_head"],
            num_key_value_heads=c["n_kv_head"],
            hidden_act="gelu_pytorch_tanh",
            max_position_embeddings=max_position_embeddings,
            norm_epsilon=LAYER_NORM_EPS,
            use_bias=True,
            rope_theta=c["rope_theta"],
            rope_parameters=rope_parameters,
            sliding_window=None,
            **common,
        )
    else:
        from gptkit.interop.hf_custom.configuration_gptkit import GPTKitConfig

        if c.get("rope_scaling", "none") != "none":
            raise UserError(
                f"rope_scaling {c['rope_scaling']!r} exports to Starcoder2 folders (dense RoPE models); this model "
                "goes to the custom gptkit code, which computes plain RoPE"
            )
        shape = ("block_size", "n_layer", "n_head", "n_kv_head", "n_embd", "bias", "pos_emb", "rope_theta")
        config = GPTKitConfig(**{k: c[k] for k in shape + ("n_expert", "n_expert_active")}, **common)
        config.auto_map = {
            "AutoConfig": "configuration_gptkit.GPTKitConfig",
            "AutoModelForCausalLM": "modeling_gptkit.GPTKitForCausalLM",
        }
    content = json.loads(config.to_json_string(use_diff=False))  # every key, defaults too, as plain JSON
    content = add_legacy_spellings(content)  # and the keys transformers 4.x and llama.cpp's converter read
    content[METADATA_KEY] = {"model_config": dict(model_config), "tokenizer": tokenizer_name}
    return content


def write_model_files(out_dir, family, config_content, tensors, eot_token):
    """config.json, generation_config.json, model.safetensors and, for the custom family, its code."""
    from safetensors.torch import save_file
    from transformers import GenerationConfig

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("model.safetensors.index.json", "pytorch_model.bin.index.json", "pytorch_model.bin"):
        (out_dir / stale).unlink(missing_ok=True)  # an older export's weights would be read before ours
    (out_dir / "config.json").write_text(json.dumps(config_content, indent=2, sort_keys=True) + "\n")
    GenerationConfig(bos_token_id=eot_token, eos_token_id=eot_token, pad_token_id=eot_token).save_pretrained(out_dir)
    save_file(tensors, out_dir / "model.safetensors", metadata={"format": "pt"})
    if family == "gptkit":
        for name in CUSTOM_FILES:
            shutil.copyfile(CUSTOM_CODE / name, out_dir / name)


EXPORT_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}  # the weights' dtypes a folder can hold


def write_folder(out_dir, model_config, state_dict, tokenizer, dtype_name="float32"):
    """A transformers folder of our model (config, weights, generation config, tokenizer: one of
    gptkit/data/tokenizer.py's, or a built-in one's name; the model card is the caller's): returns the family it
    was exported as."""
    from gptkit.interop.hf_tokenizer import write_tokenizer

    if dtype_name not in EXPORT_DTYPES:
        raise UserError(f"dtype must be one of {', '.join(EXPORT_DTYPES)}, got {dtype_name!r}")
    tokenizer = as_tokenizer(tokenizer)
    eot_token = tokenizer.eot_token
    if model_config["vocab_size"] <= eot_token:
        raise UserError(f"vocab_size {model_config['vocab_size']} does not hold the {tokenizer.name} tokenizer")
    family = family_of(model_config)
    tensors = export_weights(family, model_config, state_dict, EXPORT_DTYPES[dtype_name])
    content = export_config(family, model_config, tokenizer.name, eot_token, dtype_name)
    write_model_files(out_dir, family, content, tensors, eot_token)
    write_tokenizer(out_dir, tokenizer, model_config["block_size"])
    return family


# ----------------------------------------------------------------------------------------------------------
# Import


def config_from_transformers(content):
    """GPTConfig fields (a dict) of a transformers config.json of one of our three families; what our model
    cannot compute exactly is refused, with the keys named."""
    family = content.get("model_type")
    tie = content.get("tie_word_embeddings", True)
    if family == "gpt2":
        fields = dict(block_size=content["n_positions"], n_embd=content["n_embd"], n_layer=content["n_layer"])
        fields.update(n_head=content["n_head"], n_kv_head=content["n_head"], pos_emb="learned")
        unsupported = {
            "n_inner": content.get("n_inner") not in (None, 4 * content["n_embd"]),
            "activation_function": content.get("activation_function", "gelu_new") not in TANH_GELU,
            "layer_norm_epsilon": content.get("layer_norm_epsilon", LAYER_NORM_EPS) != LAYER_NORM_EPS,
            "scale_attn_weights": not content.get("scale_attn_weights", True),
            "scale_attn_by_inverse_layer_idx": content.get("scale_attn_by_inverse_layer_idx", False),
        }
    elif family == "starcoder2":
        transformers_4 = {**(content.get("rope_scaling") or {}), "rope_theta": content.get("rope_theta", 10000.0)}
        rope = content.get("rope_parameters") or transformers_4  # transformers 5's spelling, else 4's
        saved_block_size = content.get(METADATA_KEY, {}).get("model_config", {}).get("block_size")
        fields = rope_settings_from_transformers(rope, content["max_position_embeddings"], saved_block_size, family)
        fields.update(n_embd=content["hidden_size"], n_layer=content["num_hidden_layers"])
        fields.update(n_head=content["num_attention_heads"], n_kv_head=content["num_key_value_heads"], pos_emb="rope")
        head_size = content.get("head_dim") or content["hidden_size"] // content["num_attention_heads"]
        unsupported = {
            "intermediate_size": content["intermediate_size"] != 4 * content["hidden_size"],
            "hidden_act": content.get("hidden_act") not in TANH_GELU,
            "norm_epsilon": content.get("norm_epsilon", LAYER_NORM_EPS) != LAYER_NORM_EPS,
            "sliding_window": (content.get("sliding_window") or content["max_position_embeddings"])
            < content["max_position_embeddings"],
            "head_dim": head_size * content["num_attention_heads"] != content["hidden_size"],
        }
    elif family == "gptkit":
        keys = ("block_size", "n_layer", "n_head", "n_kv_head", "n_embd", "pos_emb", "rope_theta", "n_expert")
        fields = {k: content[k] for k in keys + ("n_expert_active",)}
        unsupported = {}
    else:
        raise UserError(
            f"cannot load a transformers model of type {family!r}: this repository reads gpt2, starcoder2 and "
            "gptkit folders (those export_hf.py writes)"
        )
    refused = sorted(k for k, bad in unsupported.items() if bad)
    if refused:
        raise UserError(f"the {family} folder has settings model.py cannot compute: {', '.join(refused)}")
    return {**fields, "vocab_size": content["vocab_size"], "tie_embeddings": tie}


def from_transformers(content, tensors):
    """(GPTConfig fields, our state dict) of a transformers folder's config.json content and tensors.

    The shape comes from transformers' keys, so a folder fine-tuned or re-saved by transformers still loads;
    our block adds what they cannot say: bias=False (kept only while every bias is still zero), settings
    without effect in that family (rope_theta of learned positions) and training-only ones (dropout,
    moe_aux_loss_coef)."""
    fields = config_from_transformers(content)
    family = content["model_type"]
    if family == "gpt2" and not any(name.startswith("transformer.") for name in tensors):
        tensors = {f"transformer.{name}": t for name, t in tensors.items()}  # base-model files (the Hub's gpt2)
    saved = content.get(METADATA_KEY, {}).get("model_config", {})
    fields = {**{k: v for k, v in saved.items() if k != "bias"}, **fields}  # what transformers' keys do not say
    fields["bias"] = content.get("bias", True) if family == "gptkit" else True
    state_dict, biases = {}, {}
    for rename in renames_of(family, fields, tensors):
        if all(name in tensors for name in rename.theirs):
            parts = [tensors[name].t() if rename.transpose else tensors[name] for name in rename.theirs]
            tensor = torch.cat(parts).contiguous()
        elif rename.optional:
            tensor = None  # a bias the folder lacks (Starcoder2's use_bias=false): zeros, sized below
        else:
            raise UserError(f"the folder's weights have no {next(n for n in rename.theirs if n not in tensors)}")
        (biases if rename.optional else state_dict)[rename.ours] = tensor
    for name, bias in biases.items():
        if bias is None:
            biases[name] = torch.zeros(state_dict[name.removesuffix("bias") + "weight"].shape[0])
    if family != "gptkit":
        fields["bias"] = not (saved.get("bias") is False and not any(bias.any() for bias in biases.values()))
    if fields["bias"]:
        state_dict.update(biases)
    if fields["tie_embeddings"]:
        state_dict["lm_head.weight"] = state_dict["transformer.wte.weight"]
    return fields, state_dict
