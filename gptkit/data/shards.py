"""
Token shards: one file of token ids behind a 64-byte header that describes it.

    magic b"GPTSHARD" | version u16 | bytes per token u16 | token count u64 | tokenizer name (32 bytes) | padding

Tokens are uint16 while the tokenizer's vocabulary fits (GPT-2's does), uint32 otherwise. Files are written
to a temporary name and renamed, so a shard on disk is always complete.
"""

import os
import struct
from pathlib import Path

import numpy as np

from gptkit.errors import UserError

MAGIC = b"GPTSHARD"
VERSION = 1
HEADER = struct.Struct("<8sHHQ32s12x")  # 64 bytes
TOKEN_DTYPES = {2: np.uint16, 4: np.uint32}  # a token's numpy dtype, by its size in bytes (the header says it)


def token_dtype(vocab_size):
    return np.uint16 if vocab_size <= 2**16 else np.uint32


def write_shard(path, tokens, tokenizer_name, vocab_size):
    path = Path(path)
    tokens = np.asarray(tokens, dtype=token_dtype(vocab_size))
    header = HEADER.pack(MAGIC, VERSION, tokens.itemsize, len(tokens), tokenizer_name.encode())
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as f:
        f.write(header)
        f.write(tokens.tobytes())
    os.replace(temporary, path)


def read_header(path):
    """(tokenizer name, token count, numpy dtype) of a shard; a UserError for anything else."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(HEADER.size)
    except OSError as e:
        raise UserError(f"cannot read shard {path}: {e.strerror}") from None
    if len(raw) < HEADER.size or raw[: len(MAGIC)] != MAGIC:
        raise UserError(f"{path} is not a token shard (no {MAGIC.decode()} header); re-run the prepare script")
    magic, version, itemsize, count, name = HEADER.unpack(raw)
    if version != VERSION or itemsize not in TOKEN_DTYPES:
        raise UserError(f"{path}: unsupported shard version {version} or token size {itemsize}")
    expected_size = HEADER.size + count * itemsize
    actual_size = path.stat().st_size
    if actual_size != expected_size:
        raise UserError(f"{path} is truncated or damaged: {actual_size} bytes, header says {expected_size}")
    return name.rstrip(b"\0").decode(), count, TOKEN_DTYPES[itemsize]


def read_shard(path):
    """(tokens as a read-only memory map, tokenizer name)."""
    name, count, dtype = read_header(path)
    return np.memmap(path, dtype=dtype, mode="r", offset=HEADER.size, shape=(count,)), name


def find_shards(data_dir, split):
    """The sorted shard files of a split ("train" or "val") in data_dir, as the prepare scripts name them."""
    paths = sorted(Path(data_dir).glob(f"*_{split}_*.bin"))
    if not paths:
        raise UserError(f"no {split} shards (*_{split}_*.bin) in {data_dir}: run a prepare script first (README, Data)")
    return paths
