"""
Sample text from a checkpoint or from OpenAI GPT-2, with the KV cache, on CPU, CUDA or MPS.

    python sample.py --checkpoint out/demo/ckpt.pt --prompt "The for statement"
    python sample.py --hf gpt2 --prompt "Hello, I'm a language model," --num_samples 5 --max_new_tokens 50
    python sample.py --hf gpt2-xl --prompt_file story.txt --temperature 0.7 --top_k 50 --seed 42
    python sample.py --hf hf/demo --prompt "The for statement"   # a folder export_hf.py wrote, with its tokenizer
    python sample.py --checkpoint out/rope/ckpt.pt --prompt_file long.txt --rope_scaling yarn --rope_scaling_factor 4
"""

import argparse
from pathlib import Path

from gptkit.distributed import pick_device
from gptkit.errors import UserError, run_main
from gptkit.sampling import sample
from gptkit.tokenizer import get_tokenizer
from model import load_model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a training checkpoint (out/.../ckpt.pt)")
    parser.add_argument("--hf", help="OpenAI GPT-2 weights: gpt2 ... gpt2-xl, or a transformers folder")
    parser.add_argument("--prompt", default="", help="text to continue (default: start of a document)")
    parser.add_argument("--prompt_file", help="read the prompt from this file")
    parser.add_argument("--num_samples", type=int, default=3)
    parser.add_argument("--max_new_tokens", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=0.8, help="0: greedy decoding")
    parser.add_argument("--top_k", type=int, default=200, help="sample among the k likeliest tokens; 1: greedy")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rope_scaling", "--rope-scaling", help="RoPE past the training length: linear, dynamic, yarn")
    parser.add_argument("--rope_scaling_factor", "--rope-scaling-factor", type=float, help="by this factor")
    args = parser.parse_args()
    prompt = args.prompt
    if args.prompt_file:
        if not Path(args.prompt_file).is_file():
            raise UserError(f"prompt file {args.prompt_file} not found")
        prompt = Path(args.prompt_file).read_text()

    device = pick_device(args.device)
    model, tokenizer_name = load_model(args.checkpoint, args.hf)
    if args.rope_scaling or args.rope_scaling_factor:  # a RoPE model's own settings, unless given
        factor = args.rope_scaling_factor or model.config.rope_scaling_factor
        model.use_rope_settings(rope_scaling=args.rope_scaling or model.config.rope_scaling, rope_scaling_factor=factor)
    model.to(device)
    tokenizer = get_tokenizer(tokenizer_name)
    texts = sample(
        model, tokenizer, prompt, args.num_samples, args.max_new_tokens, args.temperature, args.top_k, args.seed, device
    )
    for text in texts:
        print(prompt + text)
        print("-" * 80)


if __name__ == "__main__":
    run_main(main)
