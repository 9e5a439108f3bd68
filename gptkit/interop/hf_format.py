"""
Our GPT as a transformers folder, and back: the mapping of configs and weights in both directions.

Each model goes to the transformers architecture that computes exactly what model.py computes:
- learned positions, multi-head attention, LayerNorm, a dense GeLU or ReLU² MLP -> GPT2LMHeadModel (Conv1D
  weights stored transposed);
- RoPE (multi-head or grouped-query) with LayerNorm and a dense GeLU or ReLU² MLP -> Starcoder2ForCausalLM (the
  fused q|k|v projection split into q_proj, k_proj, v_proj; both rotate the pairs of dimensions (i, i +
  head_size/2));
- RoPE with RMSNorm: SwiGLU -> LlamaForCausalLM; SwiGLU with QK-norm and no biases -> Qwen3ForCausalLM (its
  q_norm and k_norm are ours: one RMSNorm over head_size, before the rotation; OLMo-2's normalises the whole
  projection and puts its norms after the sublayers); GeLU or ReLU² -> ArceeForCausalLM (Llama with a
  non-gated MLP). Our SwiGLU's c_fc is gate_proj and up_proj, by rows;
- everything transformers has no architecture for (a Mixture of Experts; learned positions with grouped-query
  attention or RMSNorm; QK-norm or SwiGLU with LayerNorm; logit soft-capping, whose only architectures, Gemma's,
  norm around the sublayers as well; a normalised embedding, residual scalars, value embeddings) -> the modelling
  code in gptkit/interop/hf_custom, copied into the folder and named in config.json's auto_map, under model.py's
  own parameter names.
A model without biases goes to GPT-2 and Starcoder2 with zero biases, and one without norm gains (norm_weights=
False) with gains of one, which compute the same; zero_init_proj chooses initial weights only.

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
ARCHITECTURES.update(llama="LlamaForCausalLM", qwen3="Qwen3ForCausalLM", arcee="ArceeForCausalLM")
RMS_FAMILIES = ("llama", "qwen3", "arcee")  # RMSNorm, and Linear biases only where the config says so
METADATA_KEY = "gptkit"  # our block in config.json: the model config and tokenizer of the exported checkpoint
LAYER_NORM_EPS = 1e-5  # nn.LayerNorm's default, which model.py uses
RMS_NORM_EPS = 1e-6  # model.py's RMS_NORM_EPS
TANH_GELU = ("gelu_new", "gelu_pytorch_tanh")  # the same function computed two ways (equal within 1e-6)
HIDDEN_ACT = {"gelu": "gelu_pytorch_tanh", "relu2": "relu2", "swiglu": "silu"}  # transformers' name of each
CUSTOM_ONLY = ("n_expert", "logit_softcap", "embedding_norm", "residual_scalars", "value_embeddings")


def family_of(model_config):
    """The transformers model_type a GPTConfig (as a dict) is exported to."""
    c = model_config
    if any(c[key] for key in CUSTOM_ONLY):
        return "gptkit"
    gated = c["mlp_activation"] == "swiglu"
    if c["norm"] == "layernorm":
        if gated or c["qk_norm"]:
            return "gptkit"
        if c["pos_emb"] == "rope":
            return "starcoder2"
        return "gpt2" if c["n_kv_head"] == c["n_head"] else "gptkit"
    if c["pos_emb"] != "rope":
        return "gptkit"
    if c["qk_norm"]:
        return "qwen3" if gated and not c["bias"] else "gptkit"
    return "llama" if gated else "arcee"


def mlp_hidden(model_config):
    """The MLP's hidden width, as GPTConfig.mlp_hidden computes it."""
    c = model_config
    if c.get("mlp_width") is not None:
        return c["mlp_width"]
    return 8 * c["n_embd"] // 3 if c.get("mlp_activation") == "swiglu" else 4 * c["n_embd"]


# ----------------------------------------------------------------------------------------------------------
# Parameter names: ours -> theirs


@dataclass(frozen=True)
class Rename:
    ours: str
    theirs: tuple  # one name, or the parts of a fused projection (q, k, v; SwiGLU's gate, up), split by rows
    transpose: bool = False  # GPT-2's Conv1D stores (in, out); nn.Linear keeps (out, in)
    fill: float | None = None  # where our model has no such tensor (no biases, no norm gains), theirs holds this
    size: int | None = None  # the length of such a filled vector (else the rows of the Linear's weight)
    rows: tuple | None = None  # the rows of each part of a fused projection
    norm: bool = False  # a normalisation's gain or bias, which our model has only with norm_weights


def linear_renames(ours, theirs, transpose=False, bias=True, rows=None):
    """The weight of one Linear and, where their module has one, its bias (zeros where ours has none)."""
    theirs = (theirs,) if isinstance(theirs, str) else theirs
    renames = [Rename(f"{ours}.weight", tuple(f"{t}.weight" for t in theirs), transpose, rows=rows)]
    if bias:
        renames.append(Rename(f"{ours}.bias", tuple(f"{t}.bias" for t in theirs), fill=0.0, rows=rows))
    return renames


def norm_renames(ours, theirs, size, bias):
    """A normalisation's gain (ones where ours has none) and, for a LayerNorm, its bias (zeros)."""
    renames = [Rename(f"{ours}.weight", (f"{theirs}.weight",), fill=1.0, size=size, norm=True)]
    if bias:
        renames.append(Rename(f"{ours}.bias", (f"{theirs}.bias",), fill=0.0, size=size, norm=True))
    return renames


def gpt2_renames(model_config):
    n_embd = model_config["n_embd"]
    renames = [Rename("transformer.wte.weight", ("transformer.wte.weight",))]
    renames.append(Rename("transformer.wpe.weight", ("transformer.wpe.weight",)))
    for i in range(model_config["n_layer"]):
        layer = f"transformer.h.{i}"
        for norm in ("ln_1", "ln_2"):
            renames += norm_renames(f"{layer}.{norm}", f"{layer}.{norm}", n_embd, bias=True)
        for linear in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
            renames += linear_renames(f"{layer}.{linear}", f"{layer}.{linear}", transpose=True)
    return renames + norm_renames("transformer.ln_f", "transformer.ln_f", n_embd, bias=True)


# Our MLP's c_fc and c_proj in each decoder family; SwiGLU's c_fc is gate_proj and up_proj, by rows
MLP_NAMES = {
    "starcoder2": (("mlp.c_fc",), "mlp.c_proj"),
    "arcee": (("mlp.up_proj",), "mlp.down_proj"),
    "llama": (("mlp.gate_proj", "mlp.up_proj"), "mlp.down_proj"),
    "qwen3": (("mlp.gate_proj", "mlp.up_proj"), "mlp.down_proj"),
}


def decoder_renames(family, model_config):
    """Starcoder2 and the RMSNorm families share transformers' decoder names (model.layers.i.self_attn...)."""
    c = model_config
    n_embd, head_size = c["n_embd"], c["n_embd"] // c["n_head"]
    layer_norm = family == "starcoder2"  # LayerNorm (with biases) and Linear biases, zeros where ours has none
    bias = layer_norm or c["bias"]
    fc, proj = MLP_NAMES[family]
    renames = [Rename("transformer.wte.weight", ("model.embed_tokens.weight",))]
    for i in range(c["n_layer"]):
        ours, theirs = f"transformer.h.{i}", f"model.layers.{i}"
        attention = f"{theirs}.self_attn"
        qkv = tuple(f"{attention}.{part}_proj" for part in "qkv")
        renames += norm_renames(f"{ours}.ln_1", f"{theirs}.input_layernorm", n_embd, layer_norm)
        renames += linear_renames(f"{ours}.attn.c_attn", qkv, bias=bias, rows=qkv_rows(c))
        renames += linear_renames(f"{ours}.attn.c_proj", f"{attention}.o_proj", bias=bias)
        if c["qk_norm"]:
            renames += norm_renames(f"{ours}.attn.q_norm", f"{attention}.q_norm", head_size, bias=False)
            renames += norm_renames(f"{ours}.attn.k_norm", f"{attention}.k_norm", head_size, bias=False)
        renames += norm_renames(f"{ours}.ln_2", f"{theirs}.post_attention_layernorm", n_embd, layer_norm)
        rows = (mlp_hidden(c),) * len(fc) if len(fc) > 1 else None
        renames += linear_renames(f"{ours}.mlp.c_fc", tuple(f"{theirs}.{name}" for name in fc), bias=bias, rows=rows)
        renames += linear_renames(f"{ours}.mlp.c_proj", f"{theirs}.{proj}", bias=bias)
    return renames + norm_renames("transformer.ln_f", "model.norm", n_embd, layer_norm)


def renames_of(family, model_config, state_dict_names):
    """Every Rename of the family; the custom code keeps our names, so its renames are the identity."""
    if family == "gptkit":
        names = [n for n in state_dict_names if n != "lm_head.weight"]
        renames = [Rename(name, (name,)) for name in names]
    elif family == "gpt2":
        renames = gpt2_renames(model_config)
    else:
        renames = decoder_renames(family, model_config)
    if not model_config["tie_embeddings"]:
        renames.append(Rename("lm_head.weight", ("lm_head.weight",)))
    return renames


def qkv_rows(model_config):
    head_size = model_config["n_embd"] // model_config["n_head"]
    return (model_config["n_embd"], *2 * [model_config["n_kv_head"] * head_size])


# ----------------------------------------------------------------------------------------------------------
# Export


def export_weights(family, model_config, state_dict, dtype=torch.float32, conv1d_layout=True):
    """Our state dict under the family's names and layouts (contiguous tensors of dtype, none shared).
    conv1d_layout=False keeps nn.Linear's (out, in) where GPT-2's Conv1D stores (in, out), as GGUF does."""
    tensors = {}
    for rename in renames_of(family, model_config, state_dict):
        if rename.ours in state_dict:
            tensor = state_dict[rename.ours]
        elif rename.fill is not None:  # a bias or norm gain our model does not have: the value that changes nothing
            size = rename.size or state_dict[rename.ours.removesuffix("bias") + "weight"].shape[0]
            tensor = torch.full((size,), rename.fill)
        else:
            raise UserError(f"the checkpoint has no {rename.ours}: it is not a model.py GPT")
        parts = tensor.split(rename.rows) if rename.rows else (tensor,)
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
            n_inner=mlp_hidden(c),
            activation_function=HIDDEN_ACT[c["mlp_activation"]],  # gelu_pytorch_tanh: bit-exact with ours
            layer_norm_epsilon=LAYER_NORM_EPS,
            **no_dropout,
            **common,
        )
    elif family == "gptkit":
        from gptkit.interop.hf_custom.configuration_gptkit import GPTKitConfig

        if c.get("rope_scaling", "none") != "none":
            raise UserError(
                f"rope_scaling {c['rope_scaling']!r} exports to Starcoder2 folders and the other transformers "
                "architectures of RoPE models; this model goes to the custom gptkit code, which computes plain RoPE"
            )
        keys = ("block_size", "n_layer", "n_head", "n_kv_head", "n_embd", "bias", "pos_emb", "rope_theta")
        keys += ("n_expert", "n_expert_active", *CUSTOM_BLOCK_KEYS)
        config = GPTKitConfig(**{k: c[k] for k in keys}, **common)
        config.auto_map = {
            "AutoConfig": "configuration_gptkit.GPTKitConfig",
            "AutoModelForCausalLM": "modeling_gptkit.GPTKitForCausalLM",
        }
    else:
        rope_parameters, max_position_embeddings = transformers_rope_parameters(c)  # with the RoPE scaling
        config = decoder_config(family, c, rope_parameters, max_position_embeddings, common)
    content = json.loads(config.to_json_string(use_diff=False))  # every key, defaults too, as plain JSON
    content = add_legacy_spellings(content)  # and the keys transformers 4.x and llama.cpp's converter read
    content[METADATA_KEY] = {"model_config": dict(model_config), "tokenizer": tokenizer_name}
    return content


# The block toggles the custom code's config holds (GPTKitConfig), under GPTConfig's names
CUSTOM_BLOCK_KEYS = ("norm", "norm_weights", "qk_norm", "mlp_activation", "mlp_width", *CUSTOM_ONLY[1:])


def decoder_config(family, model_config, rope_parameters, max_position_embeddings, common):
    """The transformers config of Starcoder2 or an RMSNorm family."""
    import transformers

    c = model_config
    shape = dict(
        hidden_size=c["n_embd"],
        intermediate_size=mlp_hidden(c),
        num_hidden_layers=c["n_layer"],
        num_attention_heads=c["n_head"],
        num_key_value_heads=c["n_kv_head"],
        hidden_act=HIDDEN_ACT[c["mlp_activation"]],
        max_position_embeddings=max_position_embeddings,
        rope_parameters=rope_parameters,
    )
    if family == "starcoder2":
        return transformers.Starcoder2Config(
            **shape,
            norm_epsilon=LAYER_NORM_EPS,
            use_bias=True,
            rope_theta=c["rope_theta"],
            sliding_window=None,
            **common,
        )
    shape.update(head_dim=c["n_embd"] // c["n_head"], rms_norm_eps=RMS_NORM_EPS, attention_bias=c["bias"])
    if family == "qwen3":  # no MLP biases: family_of sends a model with biases to the custom code
        return transformers.Qwen3Config(**shape, use_sliding_window=False, sliding_window=None, **common)
    config_class = transformers.LlamaConfig if family == "llama" else transformers.ArceeConfig
    return config_class(**shape, mlp_bias=c["bias"], **common)


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
    """GPTConfig fields (a dict) of a transformers config.json of one of our families; what our model cannot
    compute exactly is refused, with the keys named."""
    family = content.get("model_type")
    tie = content.get("tie_word_embeddings", True)
    if family == "gpt2":
        fields = dict(block_size=content["n_positions"], n_embd=content["n_embd"], n_layer=content["n_layer"])
        fields.update(n_head=content["n_head"], n_kv_head=content["n_head"], pos_emb="learned", norm="layernorm")
        activation = ACTIVATIONS.get(content.get("activation_function", "gelu_new"))
        fields.update(mlp_activation=activation, qk_norm=False)
        fields["mlp_width"] = content.get("n_inner")
        unsupported = {
            "activation_function": activation not in ("gelu", "relu2"),
            "layer_norm_epsilon": content.get("layer_norm_epsilon", LAYER_NORM_EPS) != LAYER_NORM_EPS,
            "scale_attn_weights": not content.get("scale_attn_weights", True),
            "scale_attn_by_inverse_layer_idx": content.get("scale_attn_by_inverse_layer_idx", False),
        }
    elif family == "starcoder2" or family in RMS_FAMILIES:
        fields, unsupported = decoder_fields(family, content)
    elif family == "gptkit":
        keys = ("block_size", "n_layer", "n_head", "n_kv_head", "n_embd", "pos_emb", "rope_theta", "n_expert")
        fields = {k: content[k] for k in keys + ("n_expert_active",)}
        fields.update({k: content[k] for k in CUSTOM_BLOCK_KEYS if k in content})  # older folders: GPT-2's block
        fields.update(bias=content.get("bias", True), norm_weights=content.get("norm_weights", True))
        unsupported = {}
    else:
        raise UserError(
            f"cannot load a transformers model of type {family!r}: this repository reads the "
            f"{', '.join(ARCHITECTURES)} folders export_hf.py writes"
        )
    refused = sorted(k for k, bad in unsupported.items() if bad)
    if refused:
        raise UserError(f"the {family} folder has settings model.py cannot compute: {', '.join(refused)}")
    if fields.get("mlp_width") == mlp_hidden({**fields, "mlp_width": None}):
        fields["mlp_width"] = None  # the activation's own width, said the default way
    return {**fields, "vocab_size": content["vocab_size"], "tie_embeddings": tie}


ACTIVATIONS = {**dict.fromkeys(TANH_GELU, "gelu"), "relu2": "relu2"}  # transformers' names of our non-gated ones


def decoder_fields(family, content):
    """(GPTConfig fields, {key: whether model.py cannot compute it}) of a Starcoder2 or RMSNorm family config."""
    transformers_4 = {**(content.get("rope_scaling") or {}), "rope_theta": content.get("rope_theta", 10000.0)}
    rope = content.get("rope_parameters") or transformers_4  # transformers 5's spelling, else 4's
    saved_block_size = content.get(METADATA_KEY, {}).get("model_config", {}).get("block_size")
    fields = rope_settings_from_transformers(rope, content["max_position_embeddings"], saved_block_size, family)
    fields.update(n_embd=content["hidden_size"], n_layer=content["num_hidden_layers"], pos_emb="rope")
    fields.update(n_head=content["num_attention_heads"], n_kv_head=content["num_key_value_heads"])
    fields.update(mlp_width=content["intermediate_size"], qk_norm=family == "qwen3")
    head_size = content.get("head_dim") or content["hidden_size"] // content["num_attention_heads"]
    gated = family in ("llama", "qwen3")
    hidden_act = content.get("hidden_act")
    fields["mlp_activation"] = ("swiglu" if hidden_act == "silu" else None) if gated else ACTIVATIONS.get(hidden_act)
    unsupported = {
        "hidden_act": fields["mlp_activation"] is None,
        "head_dim": head_size * content["num_attention_heads"] != content["hidden_size"],
    }
    if family == "starcoder2":
        fields["norm"] = "layernorm"
        unsupported.update(
            norm_epsilon=content.get("norm_epsilon", LAYER_NORM_EPS) != LAYER_NORM_EPS,
            sliding_window=(content.get("sliding_window") or content["max_position_embeddings"])
            < content["max_position_embeddings"],
        )
        return fields, unsupported
    fields.update(norm="rmsnorm", bias=content.get("attention_bias", False))
    unsupported.update(
        rms_norm_eps=content.get("rms_norm_eps") != RMS_NORM_EPS,
        mlp_bias=family != "qwen3" and content.get("mlp_bias", False) != fields["bias"],
        attention_bias=family == "qwen3" and fields["bias"],  # our biases would be in the MLP too
        use_sliding_window=bool(content.get("use_sliding_window")),
        pretraining_tp=content.get("pretraining_tp", 1) != 1,
    )
    return fields, unsupported


def from_transformers(content, tensors):
    """(GPTConfig fields, our state dict) of a transformers folder's config.json content and tensors.

    The shape comes from transformers' keys, so a folder fine-tuned or re-saved by transformers still loads;
    our block adds what they cannot say: bias=False and norm_weights=False (kept only while every bias is still
    zero and every norm gain one), settings without effect in that family (rope_theta of learned positions),
    init-only and training-only ones (zero_init_proj, dropout, moe_aux_loss_coef)."""
    fields = config_from_transformers(content)
    family = content["model_type"]
    if family == "gpt2" and not any(name.startswith("transformer.") for name in tensors):
        tensors = {f"transformer.{name}": t for name, t in tensors.items()}  # base-model files (the Hub's gpt2)
    saved = content.get(METADATA_KEY, {}).get("model_config", {})
    decided = ("bias", "norm_weights")  # by the tensors below, where transformers' keys do not say them
    fields = {**{k: v for k, v in saved.items() if k not in decided}, **fields}
    state_dict, optional = renamed_tensors(family, fields, tensors)
    if family in ("gpt2", "starcoder2"):  # biases in every folder: none of ours while ours had none and they are 0
        biases = [tensor for rename, tensor in optional.values() if rename.fill == 0.0]
        fields["bias"] = not (saved.get("bias") is False and not any(bias.any() for bias in biases))
    if family != "gptkit":  # gains in every folder: none of ours while ours had none and they are 1
        gains = [tensor for rename, tensor in optional.values() if rename.fill == 1.0]
        fields["norm_weights"] = not (saved.get("norm_weights") is False and all((g == 1).all() for g in gains))
    for name, (rename, tensor) in optional.items():
        if (rename.fill == 1.0 or fields["bias"]) and (fields["norm_weights"] or not rename.norm):
            state_dict[name] = tensor
    if fields["tie_embeddings"]:
        state_dict["lm_head.weight"] = state_dict["transformer.wte.weight"]
    return fields, state_dict


def renamed_tensors(family, fields, tensors):
    """(our state dict of the tensors every model of the family has, {our name: (Rename, tensor)} of the biases
    and norm gains ours may lack); a bias the folder lacks too (Starcoder2's use_bias=false) is zeros."""
    state_dict, optional = {}, {}
    for rename in renames_of(family, fields, tensors):
        if all(name in tensors for name in rename.theirs):
            parts = [tensors[name].t() if rename.transpose else tensors[name] for name in rename.theirs]
            tensor = torch.cat(parts).contiguous()
        elif rename.fill == 0.0:
            tensor = None  # sized below, from the weight beside it
        else:
            raise UserError(f"the folder's weights have no {next(n for n in rename.theirs if n not in tensors)}")
        if rename.fill is None:
            state_dict[rename.ours] = tensor
        else:
            optional[rename.ours] = (rename, tensor)
    for name, (rename, tensor) in optional.items():
        if tensor is None:
            size = rename.size or state_dict[name.removesuffix("bias") + "weight"].shape[0]
            optional[name] = (rename, torch.zeros(size))
    return state_dict, optional
