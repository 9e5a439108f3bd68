"""
Sample text from a checkpoint or from OpenAI GPT-2, with the KV cache, on CPU, CUDA or MPS.

    python sample.py --checkpoint out/demo/ckpt.pt --prompt "The for statement"
    python sample.py --hf gpt2 --prompt "Hello, I'm a language model," --num_samples 5 --max_new_tokens 50
    python sample.py --hf gpt2-xl --prompt_file story.txt --temperature 0.7 --top_k 50 --seed 42
    python sample.py --hf hf/demo --prompt "The for statement"   # a folder export_hf.py wrote, with its tokenizer
    python sample.py --checkpoint out/rope/ckpt.pt --prompt_file long.txt --rope_scaling yarn --rope_scaling_factor 4
"""

import sys
from pathlib import Path

from gptkit.command_line import OneLineParser, add_model_source
from gptkit.distributed import setup_run
from gptkit.errors import UserError, run_main
from gptkit.evaluation.sampling import sample
from gptkit.model_parts.rope import scaling_settings
from model import load_model


def main(argv):
    parser = OneLineParser("sample.py", __doc__)
    add_model_source(parser)
    parser.add_argument("--prompt", default="", help="text to continue (default: start of a document)")
    parser.add_argument("--prompt_file", help="read the prompt from this file")
    parser.add_argument("--num_samples", type=int, default=3)
    parser.add_argument("--max_new_tokens", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=0.8, help="0: greedy decoding")
    parser.add_argument("--top_k", type=int, default=200, help="sample among the k likeliest tokens; 1: greedy")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rope_scaling", help="RoPE past the training length: linear, dynamic, yarn")
    parser.add_argument("--rope_scaling_factor", type=float, help="by this factor")
    args = parser.parse_args(argv)
    prompt = args.prompt
    if args.prompt_file:
        if not Path(args.prompt_file).is_file():
            raise UserError(f"prompt file {args.prompt_file} not found")
        prompt = Path(args.prompt_file).read_text()

    run = setup_run(args.device)  # the device, and the dtype it computes in (bfloat16 on GPUs that have it)
    model, tokenizer = load_model(args.checkpoint, args.hf)  # the checkpoint's or folder's own tokenizer
    if args.rope_scaling or args.rope_scaling_factor:  # chosen as evaluate.py chooses them (gptkit/model_parts/rope.py)
        name = args.rope_scaling or model.config.rope_scaling
        longest = len(tokenizer.encode(prompt)) + args.max_new_tokens
        model.use_rope_settings(**scaling_settings(model.config, [name], args.rope_scaling_factor, longest)[name])
    model.to(run.device)
    texts = sample(
        model,
        tokenizer,
        prompt,
        run,
        num_samples=args.num_samples,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        seed=args.seed,
    )
    for text in texts:
        print(prompt + text)
        print("-" * 80)


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
