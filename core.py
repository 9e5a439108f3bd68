"""
The CORE score of a checkpoint or of OpenAI GPT-2: DCLM's 22 in-context tasks, scored as nanochat scores them.

    python core.py --hf gpt2                           # OpenAI GPT-2 124M
    python core.py --checkpoint out/gpt2_gqa/ckpt.pt --max_per_task 500 --json core.json
    python core.py --hf hf/gpt2_gqa --bundle ~/eval_bundle     # a bundle unzipped by hand
    torchrun --standalone --nproc_per_node=8 core.py --hf gpt2-xl   # each task's examples split across GPUs

The eval bundle is downloaded once into ~/.cache/gptkit/eval_bundle; offline, --bundle DIR names an unzipped copy.
Each task's accuracy is centred on its random baseline, and CORE is their mean; the scoring lives in
gptkit/evaluation/core.py, the bundle in gptkit/evaluation/core_bundle.py.
"""

import json
import sys
from pathlib import Path

from gptkit.command_line import OneLineParser, add_model_source
from gptkit.distributed import setup_run, shutdown
from gptkit.errors import UserError, run_main
from gptkit.evaluation.core import evaluate_core, format_table
from gptkit.evaluation.core_bundle import load_tasks
from model import load_model


def main(argv):
    parser = OneLineParser("core.py", __doc__)
    add_model_source(parser)
    parser.add_argument("--bundle", default="", help="an unzipped eval bundle (default: downloaded once into a cache)")
    parser.add_argument("--max_per_task", type=int, default=0, help="score only N examples a task (0: all)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    if args.max_per_task < 0:
        raise UserError(f"--max_per_task must be >= 0, got {args.max_per_task}")

    run = setup_run(args.device)
    model, tokenizer = load_model(args.checkpoint, args.hf)
    tasks = load_tasks(args.bundle, args.max_per_task, run)  # read and checked whole before any scoring
    model.to(run.device)
    result = evaluate_core(model, run, tokenizer, tasks, progress=True)
    if run.is_master:
        print(format_table(result))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))
    shutdown(run.world_size)


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
