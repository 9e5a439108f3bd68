"""
One ckpt.pt from an FSDP run's sharded checkpoint, for sample.py, hellaswag.py and GPT.from_checkpoint.

    python consolidate.py out/gpt_7b                     # out/gpt_7b/ckpt/ -> out/gpt_7b/ckpt.pt
    python consolidate.py out/gpt_7b --output gpt_7b.pt
    python sample.py --checkpoint out/gpt_7b/ckpt.pt --prompt "The"

One process on the CPU, reading the model's tensors only (for 7B parameters, 28 GB of memory). The file holds
the weights, configs, step and tokenizer but no optimizer state: the FSDP run itself resumes from its folder.
"""

import sys
from pathlib import Path

from gptkit.checkpointing.sharded_checkpoint import consolidate, sharded_checkpoint_path
from gptkit.checkpointing.training_checkpoint import checkpoint_file_in
from gptkit.command_line import OneLineParser
from gptkit.errors import UserError, run_main


def main(argv):
    parser = OneLineParser("consolidate.py", __doc__)
    parser.add_argument("out_dir", help="the run's out_dir, holding the sharded checkpoint folder ckpt/")
    parser.add_argument("--output", help="the file to write (default: OUT_DIR/ckpt.pt)")
    args = parser.parse_args(argv)
    path = sharded_checkpoint_path(args.out_dir)
    if path is None:
        raise UserError(f"no sharded checkpoint in {args.out_dir} (a folder ckpt/ written by an FSDP run)")
    output = Path(args.output) if args.output else checkpoint_file_in(args.out_dir)
    consolidate(path, output)
    print(f"{path} -> {output}")


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
