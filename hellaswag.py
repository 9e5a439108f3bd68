"""
HellaSwag accuracy of a checkpoint or of OpenAI GPT-2.

    python hellaswag.py --hf gpt2                      # OpenAI GPT-2 124M: acc 0.2859, acc_norm 0.2955
    python hellaswag.py --checkpoint out/gpt2_gqa/ckpt.pt --limit 1000
    python hellaswag.py --hf hf/gpt2_gqa               # a folder export_hf.py wrote: the checkpoint's scores
    torchrun --standalone --nproc_per_node=8 hellaswag.py --hf gpt2-xl   # examples split across GPUs

`acc` picks the ending with the lowest summed loss, `acc_norm` the lowest mean loss per token (the common
token-averaged scoring, comparable with published GPT-2 numbers); the scoring lives in gptkit/evaluation/hellaswag.py.
The text is read in the model's own tokens, whatever its tokenizer.
"""

import json
import sys
from pathlib import Path

from gptkit.command_line import OneLineParser, add_model_source
from gptkit.distributed import setup_run, shutdown
from gptkit.errors import run_main
from gptkit.evaluation.hellaswag import evaluate_hellaswag
from model import load_model


def main(argv):
    parser = OneLineParser("hellaswag.py", __doc__)
    add_model_source(parser)
    parser.add_argument("--data", default="", help="a local HellaSwag jsonl (default: download the validation set)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N examples")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", help="also write the result (with per-example predictions) to this file")
    args = parser.parse_args(argv)

    run = setup_run(args.device)
    model, tokenizer = load_model(args.checkpoint, args.hf)
    model.to(run.device)
    result = evaluate_hellaswag(model, run, tokenizer, data_path=args.data, limit=args.limit, progress=True)
    if run.is_master:
        print(
            f"HellaSwag: acc {result['acc']:.4f}, acc_norm {result['acc_norm']:.4f} over {result['examples']} examples"
        )
        summary = {k: v for k, v in result.items() if k != "predictions"}
        print(json.dumps(summary))
        if args.json:
            Path(args.json).write_text(json.dumps(result))
    shutdown(run.world_size)


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
