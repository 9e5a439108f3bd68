"""
config.json's older spellings, written beside transformers 5's own so that older readers get the same model.

- transformers 5 keeps RoPE's theta and scaling only inside `rope_parameters`. transformers 4.x, which many
  serving stacks still pin, reads a top-level `rope_theta` and `rope_scaling` (its type as `rope_type`, and
  as `type` in the oldest releases); finding neither, it silently uses theta 10000.
- transformers 5's GPT2Config no longer writes `n_ctx`; llama.cpp's converter (convert_hf_to_gguf.py) reads it.

Whatever `rope_parameters` holds is mirrored as it is, so new RoPE settings need no change here.
The invariant its tests check: transformers' own reading of the older keys alone (its backward-compatible
path) gives the RoPE settings that `rope_parameters` gives, and the GPT-2 keys llama.cpp reads agree with ours.
"""


def add_legacy_spellings(content):
    """config.json content (a dict) with the older spellings added, copied from the current ones."""
    content = dict(content)
    if content.get("model_type") == "gpt2":
        content["n_ctx"] = content["n_positions"]
    rope = content.get("rope_parameters")
    if rope:
        content["rope_theta"] = rope["rope_theta"]
        rope_type = rope.get("rope_type", "default")
        if rope_type != "default":
            scaling = {key: value for key, value in rope.items() if key != "rope_theta"}
            content["rope_scaling"] = {**scaling, "rope_type": rope_type, "type": rope_type}
    return content
