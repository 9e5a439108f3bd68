"""
The command-line convention every command shares: `main(argv)`, run as `run_main(main, sys.argv[1:])`, parsing
its flags with OneLineParser.

- An argument error (unknown flag, missing required argument, bad type) is a UserError: one line on stderr and
  exit code 1 through errors.run_main, like every other bad input, instead of argparse's usage and exit code 2.
- Flags are spelled with underscores (--max_new_tokens), as train.py's --key=value settings and torchrun's
  --nproc_per_node are; the hyphenated spelling (--max-new-tokens) is read as the same flag, so older spellings
  keep working. Help shows the underscore spelling only.
"""

import argparse
import sys

from gptkit.errors import UserError


def underscored(arg):
    """--foo-bar (or --foo-bar=value) as --foo_bar; anything else as it is. The value after '=' is left alone."""
    if not arg.startswith("--") or arg == "--":
        return arg
    name, equals, value = arg.partition("=")
    return "--" + name[2:].replace("-", "_") + equals + value


class OneLineParser(argparse.ArgumentParser):
    """argparse for a command of this repository: prog is the command's file name, description its docstring."""

    def __init__(self, prog, description, **kwargs):
        formatter = argparse.RawDescriptionHelpFormatter
        epilog = "Flags are spelled with underscores (--foo_bar); --foo-bar is read as the same flag."
        super().__init__(prog=prog, description=description, formatter_class=formatter, epilog=epilog, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        end = args.index("--") if "--" in args else len(args)  # after a bare --, every argument is a value
        return super().parse_known_args([underscored(a) for a in args[:end]] + args[end:], namespace)

    def error(self, message):  # argparse's usage + message would be two lines and exit code 2; ours are one and 1
        raise UserError(f"{message} (see python {self.prog} --help)")


def add_model_source(parser):
    """The model a command reads: a training checkpoint or (--hf) OpenAI GPT-2 or a transformers folder, exactly
    one of the two."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a training checkpoint (out/.../ckpt.pt)")
    source.add_argument("--hf", help="OpenAI GPT-2 weights: gpt2 ... gpt2-xl, or a transformers folder")
