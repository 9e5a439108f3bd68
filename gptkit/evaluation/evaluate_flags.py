"""
evaluate.py's flags. They live in the package so that study.py can check a study's evaluation settings against
them before any run without importing another command; evaluate.py reads its command line with them.
"""

from gptkit.command_line import OneLineParser, add_model_source
from gptkit.model_parts.rope import SCALINGS

PARTS = ("positions", "perplexity", "probe", "retrieval", "passkey")


def parse_arguments(argv, description=""):
    """evaluate.py's flags read from argv (description: its help text)."""
    parser = OneLineParser("evaluate.py", description)
    add_model_source(parser)
    parser.add_argument("--data_dir", required=True, help="a data folder; its validation shards are read")
    parser.add_argument("--lengths", help="evaluation lengths: tokens or multiples of block_size (default 1x,2x,4x)")
    parser.add_argument("--windows", type=int, default=64, help="windows per length (default 64)")
    parser.add_argument("--windows_from", default="stream", help="stream (default) or docs")
    parser.add_argument("--stride", type=int, help="the sliding window's step (default: half of each length)")
    parser.add_argument("--rope_scaling", help=f"methods to compare: {','.join(SCALINGS)}")
    parser.add_argument("--rope_scaling_factor", type=float, help="their factor")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"what to measure (default {','.join(PARTS)})")
    parser.add_argument("--probe_span", type=int, default=16, help="random tokens copied (16)")
    parser.add_argument("--probe_trials", type=int, default=16, help="rows per distance (16)")
    parser.add_argument("--retrieval_trials", type=int, default=32, help="keys per distance (32)")
    parser.add_argument("--passkey_trials", type=int, default=8, help="keys per length, depth")
    parser.add_argument("--batch_size", type=int, default=8, help="rows per forward pass")
    parser.add_argument("--seed", type=int, default=0, help="of the probes' random tokens and keys")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", help="auto: bfloat16 on GPUs that have it, float32 on CPUs")
    parser.add_argument("--json", help="write the result to this file")
    parser.add_argument("--plots", help="write positions.png, perplexity.png and probe.png into this folder")
    return parser.parse_args(argv)
