"""
Export a training checkpoint as a Hugging Face transformers folder, and optionally push it to the Hub.

    python export_hf.py out/gpt2_gqa/ckpt.pt hf/gpt2_gqa
    python export_hf.py out/moe/ckpt.pt hf/moe --dtype bfloat16 --push_to_hub you/moe-124m --private
    python export_hf.py out/gpt2_gqa/ckpt.pt hf/gpt2_gqa --gguf gpt2_gqa.gguf --gguf_type q8_0

The folder (config.json, model.safetensors, generation_config.json, tokenizer files, README.md model card)
loads with `transformers.AutoModelForCausalLM.from_pretrained(OUT_DIR)`: as GPT2LMHeadModel (learned
positions), Starcoder2ForCausalLM (RoPE, with or without GQA), or, with trust_remote_code=True, the modelling
code copied into the folder (MoE; learned positions with GQA). The mapping lives in gptkit/interop/hf_format.py.
With --gguf, the GPT-2 and Starcoder2 families are also written as one GGUF file for llama.cpp, Ollama and
LM Studio (gptkit/interop/gguf_export.py). The export's steps are gptkit/interop/checkpoint_export.py's, which
study.py --push_to_hub runs too.
"""

import sys

from gptkit.command_line import OneLineParser
from gptkit.errors import UserError, run_main
from gptkit.interop.checkpoint_export import export_checkpoint
from gptkit.interop.gguf_export import GGUF_TYPES
from gptkit.interop.hf_format import EXPORT_DTYPES
from gptkit.interop.hf_hub import check_repo_id, push_folder
from model import GPT


def main(argv):
    parser = OneLineParser("export_hf.py", __doc__)
    parser.add_argument("checkpoint", help="a training checkpoint (out/.../ckpt.pt)")
    parser.add_argument("out_dir", help="the folder to write (created; files of the same name are replaced)")
    parser.add_argument("--push_to_hub", metavar="REPO_ID", help="then upload the folder to this Hub repository")
    parser.add_argument("--private", action="store_true", help="create the Hub repository as private")
    parser.add_argument("--dtype", default="float32", help=f"weights' dtype: {' or '.join(EXPORT_DTYPES)}")
    parser.add_argument("--gguf", metavar="FILE", help="also write the model as one GGUF file (llama.cpp, Ollama)")
    parser.add_argument("--gguf_type", choices=GGUF_TYPES, help="the GGUF's matrices (default f16)")
    args = parser.parse_args(argv)
    if args.dtype not in EXPORT_DTYPES:
        raise UserError(f"--dtype must be one of {', '.join(EXPORT_DTYPES)}, got {args.dtype!r}")
    if args.private and not args.push_to_hub:
        raise UserError("--private applies to --push_to_hub REPO_ID; give both")
    if args.gguf_type and not args.gguf:
        raise UserError("--gguf_type applies to --gguf FILE; give both")
    if args.push_to_hub:
        check_repo_id(args.push_to_hub)

    gguf_type = args.gguf_type or "f16"
    # the card's loading examples call the model by its Hub name, else by the folder's name
    exported = export_checkpoint(
        args.checkpoint, args.out_dir, GPT, args.dtype, card_name=args.push_to_hub, gguf=args.gguf, gguf_type=gguf_type
    )
    family = exported.family
    print(f"wrote {args.out_dir} ({family}{', trust_remote_code=True' if family == 'gptkit' else ''})")
    if args.gguf:
        print(f"wrote {args.gguf} (GGUF {exported.gguf_architecture}, {gguf_type})")
    if args.push_to_hub:
        print(f"pushed to {push_folder(args.out_dir, args.push_to_hub, args.private)}")


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
