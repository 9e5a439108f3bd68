"""
Our GPT as one GGUF file, the format llama.cpp, Ollama and LM Studio run, written with the `gguf` package that
llama.cpp maintains: its writer, its architecture and tensor names, its quantisation. Nothing of the format is
written by hand.

Four families have a GGUF architecture that computes what model.py computes, as transformers has them
(gptkit/interop/hf_format.py): learned positions with multi-head attention -> `gpt2`, RoPE with LayerNorm ->
`starcoder2` (both with GeLU: llama.cpp computes no ReLU² there), RMSNorm with SwiGLU -> `llama`, and with
QK-norm -> `qwen3` (both without biases, which transformers' GGUF reader does not take). The tensors are those of
the transformers export, renamed by gguf's map from transformers names, as llama.cpp's converter does; GGUF keeps
nn.Linear's (out, in) layout, so GPT-2's Conv1D weights are turned back, and llama.cpp's `llama` rotates
neighbouring pairs of dimensions, so each head's query and key rows are reordered as its converter reorders
them. The tokenizer is the model's BPE (vocabulary, merges, end-of-text as BOS and EOS, no BOS added to a prompt,
as sample.py and the transformers folder do), padded with unused tokens up to the model's padded vocab_size, as
llama.cpp's converter pads it. Its pre-tokenizer is named as llama.cpp names the split pattern: "gpt-2" for
GPT-2's, "llama-bpe" for the GPT-4-style one our trained tokenizers use (gptkit/data/bpe.py), the exact regex
llama.cpp and transformers' GGUF reader apply under that name.
Everything else is refused before any file is written: a Mixture of Experts, learned positions with
grouped-query attention, the blocks only the custom code computes (soft-capping, residual scalars, value
embeddings, ...), Arcee's (no reader here checks it), the byte-level tokenizer (llama.cpp refuses it), dynamic
RoPE scaling.

The invariant the tests check: transformers, reading the file with its own GGUF loader, gives model.py's
logits (1e-4 at f32) and our tokenizer's tokens.
"""

import json
import os
from pathlib import Path

import torch

from gptkit.data.bpe import END_OF_TEXT, SPLIT_PATTERN
from gptkit.data.tokenizer import as_tokenizer
from gptkit.errors import UserError
from gptkit.interop.hf_format import LAYER_NORM_EPS, RMS_FAMILIES, RMS_NORM_EPS, export_weights, family_of, mlp_hidden
from gptkit.interop.hf_tokenizer import tokenizer_json
from gptkit.model_parts.rope import transformers_rope_parameters

try:  # llama.cpp's writer, in requirements.txt; without it export_hf.py still writes folders, and --gguf says why not
    import gguf
except ImportError:
    gguf = None

GGUF_TYPES = ("f32", "f16", "bf16", "q8_0")  # --gguf_type: how the matrices are stored
# the transformers families (gptkit/interop/hf_format.py) a GGUF architecture matches
FAMILIES = ("gpt2", "starcoder2", "llama", "qwen3")
SUPPORTED = (
    "GGUF exists for a dense MLP with learned positions and multi-head attention or RoPE with LayerNorm (GeLU), "
    "and for RoPE with RMSNorm and SwiGLU (with or without QK-norm, no biases)"
)
NO_ARCHITECTURE = {  # why a family has no GGUF, and what works instead
    "moe": "llama.cpp has no architecture for this Mixture of Experts (non-gated experts, softmax top-k)",
    "learned_gqa": "transformers' GGUF reader has no GPT-2 with grouped-query attention",
    "custom": "llama.cpp has no architecture for this block (it goes to the custom gptkit code)",
    "arcee": "the Arcee architecture (RMSNorm, non-gated MLP) is not checked here: transformers' GGUF reader has none",
    "relu2": "llama.cpp's gpt2 and starcoder2 compute GeLU, not ReLU²",
    "bias": "transformers' GGUF reader takes llama and qwen3 without biases only",
}


def check_gguf_export(model_config, tokenizer, gguf_type, path):
    """Every reason a GGUF cannot be written, as one UserError, before any work is done. tokenizer: one of
    gptkit/data/tokenizer.py's, or a built-in one's name."""
    tokenizer = as_tokenizer(tokenizer)
    if gguf_type not in GGUF_TYPES:
        raise UserError(f"--gguf_type must be one of {', '.join(GGUF_TYPES)}, got {gguf_type!r}")
    folder_instead = "the transformers folder export_hf.py writes without --gguf loads it"
    reason = no_gguf_reason(model_config)
    if reason:
        remote = " (trust_remote_code=True)" if family_of(model_config) == "gptkit" else ""
        raise UserError(f"no GGUF for this model: {NO_ARCHITECTURE[reason]}; {SUPPORTED}; {folder_instead}{remote}")
    if tokenizer.name == "bytes":
        raise UserError(
            f"no GGUF for a model of {tokenizer.name!r} tokens: llama.cpp refuses byte-level tokenizers (its BPE "
            f"pre-tokenizer is not recognised); {folder_instead}"
        )
    pre_tokenizer(tokenizer)
    rope, max_positions = transformers_rope_parameters(model_config)  # "dynamic": the original length
    if rope["rope_type"] not in ("default", "linear", "yarn"):
        raise UserError(
            f"no GGUF for {rope['rope_type']} RoPE scaling: llama.cpp has only linear and yarn, and would compute "
            f"another model past {max_positions} tokens; {folder_instead} (transformers, vLLM)"
        )
    check_writable(Path(path))
    if gguf is None:
        raise UserError("--gguf needs the gguf package (llama.cpp's writer): pip install gguf")


def no_gguf_reason(model_config):
    """The key of NO_ARCHITECTURE that says why the model has no GGUF, or None."""
    c, family = model_config, family_of(model_config)
    if family == "gptkit":
        learned_gqa = c["pos_emb"] == "learned" and c["n_kv_head"] != c["n_head"]
        return "moe" if c["n_expert"] else "learned_gqa" if learned_gqa and c["norm"] == "layernorm" else "custom"
    if family == "arcee":
        return "arcee"
    if family in ("gpt2", "starcoder2") and c["mlp_activation"] != "gelu":
        return "relu2"
    return "bias" if family in RMS_FAMILIES and c["bias"] else None


def check_writable(path):
    """The GGUF can be created at path: not a folder, and its nearest existing parent a writable folder."""
    if path.is_dir():
        raise UserError(f"cannot write the GGUF to {path}: it is a folder; give a file name such as model.gguf")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write the GGUF to {path}: {parent} is not a writable folder")


# ----------------------------------------------------------------------------------------------------------
# Tensors and settings


def gguf_architecture(family):
    architectures = dict(gpt2=gguf.MODEL_ARCH.GPT2, starcoder2=gguf.MODEL_ARCH.STARCODER2)
    architectures.update(llama=gguf.MODEL_ARCH.LLAMA, qwen3=gguf.MODEL_ARCH.QWEN3)
    return architectures[family]


def gguf_tensors(family, model_config, state_dict):
    """(GGUF name, its gguf.MODEL_TENSOR kind, fp32 numpy array) of every tensor."""
    tensors = export_weights(family, model_config, state_dict, torch.float32, conv1d_layout=False)
    names = gguf.get_tensor_name_map(gguf_architecture(family), model_config["n_layer"])
    for name, tensor in tensors.items():
        if family == "llama" and name.endswith(("q_proj.weight", "k_proj.weight")):
            tensor = pairs_side_by_side(tensor, model_config["n_embd"] // model_config["n_head"])
        kind, gguf_name = names.get_type_and_name(name, try_suffixes=(".weight", ".bias"))
        yield gguf_name, kind, tensor.numpy()


def pairs_side_by_side(weight, head_size):
    """A q or k projection whose rows rotate in pairs (j, j + head_size/2) within each head, reordered so that
    those pairs are neighbours (2j, 2j + 1), the pairs llama.cpp's llama rotates (its converter's permute)."""
    heads = weight.shape[0] // head_size
    return weight.reshape(heads, 2, head_size // 2, -1).transpose(1, 2).reshape(weight.shape)


def storage_type(kind, array, gguf_type):
    """How one tensor is stored: vectors (norms, biases) and position embeddings in f32, as llama.cpp's
    converter keeps them, matrices in gguf_type."""
    if array.ndim == 1 or kind == gguf.MODEL_TENSOR.POS_EMBD:
        return gguf.GGMLQuantizationType.F32
    return getattr(gguf.GGMLQuantizationType, gguf_type.upper())


def add_settings(writer, family, model_config, gguf_type):
    c = model_config
    writer.add_context_length(c["block_size"])
    writer.add_embedding_length(c["n_embd"])
    writer.add_feed_forward_length(mlp_hidden(c))
    writer.add_block_count(c["n_layer"])
    writer.add_head_count(c["n_head"])
    writer.add_head_count_kv(c["n_kv_head"])
    if family in RMS_FAMILIES:
        head_size = c["n_embd"] // c["n_head"]
        writer.add_layer_norm_rms_eps(RMS_NORM_EPS)
        writer.add_rope_dimension_count(head_size)
        writer.add_key_length(head_size)
        writer.add_value_length(head_size)
    else:
        writer.add_layer_norm_eps(LAYER_NORM_EPS)
    file_types = dict(f32="ALL_F32", f16="MOSTLY_F16", bf16="MOSTLY_BF16", q8_0="MOSTLY_Q8_0")
    writer.add_file_type(getattr(gguf.LlamaFileType, file_types[gguf_type]))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    if family != "gpt2":
        writer.add_rope_freq_base(c["rope_theta"])
        add_rope_scaling(writer, transformers_rope_parameters(c)[0])


def add_rope_scaling(writer, rope):
    """The keys llama.cpp's converter writes for a transformers config of these RoPE parameters."""
    if rope["rope_type"] == "default":
        return
    writer.add_rope_scaling_type(gguf.RopeScalingType(rope["rope_type"]))
    writer.add_rope_scaling_factor(rope["factor"])
    if rope["rope_type"] == "yarn":
        writer.add_rope_scaling_orig_ctx_len(rope["original_max_position_embeddings"])
        writer.add_rope_scaling_yarn_beta_fast(rope["beta_fast"])
        writer.add_rope_scaling_yarn_beta_slow(rope["beta_slow"])


def pre_tokenizer(tokenizer):
    """llama.cpp's name for how the tokenizer splits text before merging (llama.cpp's src/llama-vocab.cpp applies
    that very regex under the name), or a one-line refusal."""
    if tokenizer.name == "gpt2":
        return "gpt-2"
    if getattr(tokenizer, "pattern", None) == SPLIT_PATTERN:  # GPT-4's, as Llama 3 spells it
        return "llama-bpe"
    raise UserError(f"no GGUF for tokenizer {tokenizer.name!r}: llama.cpp names no pre-tokenizer of its split pattern")


def add_tokenizer(writer, tokenizer, vocab_size):
    """The model's BPE (tokens, merges, the end-of-text control token), padded with unused tokens to vocab_size."""
    spec = json.loads(tokenizer_json(tokenizer))
    by_id = {index: token for token, index in spec["model"]["vocab"].items()}
    by_id.update({added["id"]: added["content"] for added in spec["added_tokens"]})
    tokens = [by_id.get(index, f"[PAD{index}]") for index in range(vocab_size)]
    types = [gguf.TokenType.NORMAL if index in by_id else gguf.TokenType.UNUSED for index in range(vocab_size)]
    end_of_text = tokens.index(END_OF_TEXT)
    types[end_of_text] = gguf.TokenType.CONTROL
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre_tokenizer(tokenizer))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([" ".join(pair) for pair in spec["model"]["merges"]])
    writer.add_bos_token_id(end_of_text)
    writer.add_eos_token_id(end_of_text)
    writer.add_add_bos_token(False)


# ----------------------------------------------------------------------------------------------------------
# The file


def write_gguf(path, model_config, state_dict, tokenizer, gguf_type="f16", name="gptkit"):
    """Our model as a GGUF file at path (written beside it, then moved into place, so a failed write leaves no
    file); returns the GGUF architecture's name."""
    tokenizer = as_tokenizer(tokenizer)
    check_gguf_export(model_config, tokenizer, gguf_type, path)
    family = family_of(model_config)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    architecture = gguf.MODEL_ARCH_NAMES[gguf_architecture(family)]
    writer = gguf.GGUFWriter(partial, architecture)
    writer.add_name(name)
    add_settings(writer, family, model_config, gguf_type)
    add_tokenizer(writer, tokenizer, model_config["vocab_size"])
    for gguf_name, kind, array in gguf_tensors(family, model_config, state_dict):
        stored_as = storage_type(kind, array, gguf_type)
        try:
            data = gguf.quants.quantize(array, stored_as)
        except gguf.QuantError:  # rows that q8_0's blocks of 32 do not divide: f16, as llama.cpp's converter does
            stored_as = gguf.GGMLQuantizationType.F16
            data = gguf.quants.quantize(array, stored_as)
        writer.add_tensor(gguf_name, data, raw_dtype=stored_as)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(partial, path)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise UserError(f"could not write the GGUF to {path}: {e.strerror or e}") from None
    return architecture
