"""
What several test files share: running a command as a user would, a tiny training run, small models, prepared
data folders, and the invented HellaSwag examples and CORE bundle.

Test files mirror the code: tests/test_<command>.py for a root command, tests/gptkit/test_<module>.py for a part
of the package. Helpers are imported with `from conftest import ...`; fixtures are found by pytest.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The real GPT-2 encoding from the tiktoken cache beside the checkout: no download needed in tests or CI.
_cache = ROOT.parent / "shared" / "tiktoken_cache"
if "TIKTOKEN_CACHE_DIR" not in os.environ and _cache.is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(_cache)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_SILENT", "true")

# Invented examples in HellaSwag's format (not taken from the dataset), one JSON object per line.
HELLASWAG_EXAMPLES = ROOT / "tests" / "data" / "hellaswag_examples.jsonl"
# A hand-made CORE bundle in the DCLM eval bundle's layout (invented examples): see its core.yaml.
CORE_BUNDLE = ROOT / "tests" / "data" / "core_bundle"


def run_script(script, *args, cwd=ROOT, launcher=(sys.executable,), env=None):
    """Run one of the repository's scripts in a new process, as a user would; returns the CompletedProcess."""
    command = [*launcher, str(ROOT / script), *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


def assert_one_line_error(result, *expected):
    """The command failed the way every command should: exit code 1 and a single line on stderr, no traceback,
    holding each expected text."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    for text in expected:
        assert text in lines[0], lines[0]


def snapshot(*folders):
    """{path: bytes} of every file in the folders but the run lock (which names its latest holder), to show that
    a refused command changed nothing."""
    from gptkit.training.run_lock import LOCK_NAME

    paths = (p for folder in folders for p in sorted(Path(folder).rglob("*")))
    return {p: p.read_bytes() for p in paths if p.is_file() and p.name != LOCK_NAME}


def torchrun_workers(launcher_pid):
    """{rank: pid} of the processes a running torchrun launcher started (Linux: read from /proc)."""
    workers = {}
    for pid in Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read_text().split():
        environ = Path(f"/proc/{pid}/environ").read_text().split("\0")
        workers.update({int(entry[5:]): int(pid) for entry in environ if entry.startswith("RANK=")})
    return workers


def torchrun_output(launcher, timeout):
    """(stdout, stderr, hung) of a torchrun Popen once it ends; after timeout seconds it and its workers are
    killed (hung=True). torchrun starts each worker in a session of its own: killing the launcher alone would
    leave a hung worker running, holding the output pipes open, and this would wait for ever."""
    try:
        return (*launcher.communicate(timeout=timeout), False)
    except subprocess.TimeoutExpired:
        workers = torchrun_workers(launcher.pid)
        launcher.kill()  # first, so that it restarts none of them
        for pid in workers.values():
            with contextlib.suppress(ProcessLookupError):  # one that ended meanwhile
                os.killpg(pid, signal.SIGKILL)
        return (*launcher.communicate(), True)


# ----------------------------------------------------------------------------------------------------------
# A tiny training run: a byte-level model small enough for a CPU step in milliseconds

TINY_RUN = [
    "--vocab_size=257",
    "--block_size=32",
    "--n_layer=2",
    "--n_head=2",
    "--n_embd=32",
    "--micro_batch_size=4",
    "--total_batch_tokens=256",
    "--learning_rate=3e-3",
    "--min_lr=3e-4",
    "--warmup_iters=2",
    "--lr_decay_iters=12",
    "--eval_interval=0",
    "--log_interval=1",
    "--checkpoint_interval=0",
    "--compile=False",
    "--device=cpu",
]


def losses(out_dir):
    """{step: training loss} from a run's metrics.jsonl."""
    from gptkit.training.metrics import read_metrics

    return {r["step"]: r["loss"] for r in read_metrics(Path(out_dir) / "metrics.jsonl") if "loss" in r}


SINGLE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # processes started by tests share 2 cores


def byte_shards(path, documents=20):
    """Byte-level shards of the first embedded documents in path; returns path."""
    from gptkit.data.corpus import embedded_documents, prepare_texts

    prepare_texts(embedded_documents()[:documents], path, "bytes", workers=1)
    return path


def train(*args, data_dir, out_dir, launcher=(sys.executable,), check=True):
    """train.py with TINY_RUN, then args (later flags win); asserts success unless check=False."""
    result = run_script(
        "train.py",
        *TINY_RUN,
        f"--data_dir={data_dir}",
        f"--out_dir={out_dir}",
        *args,
        launcher=launcher,
        env=SINGLE_THREAD,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """20 documents of the embedded corpus as byte-level shards."""
    return byte_shards(tmp_path_factory.mktemp("data") / "docs")


@pytest.fixture(scope="session")
def gpt2_data_dir(tmp_path_factory):
    """3 documents of the embedded corpus as GPT-2 shards (for HellaSwag during training)."""
    from gptkit.data.corpus import embedded_documents, prepare_texts

    path = tmp_path_factory.mktemp("data") / "gpt2_docs"
    prepare_texts(embedded_documents()[:3], path, "gpt2", workers=1)
    return path


# ----------------------------------------------------------------------------------------------------------
# Small models and checkpoints


def small_gpt2(**overrides):
    """A 2-layer model with GPT-2's vocabulary, seeded, in eval mode."""
    import torch

    from model import GPT, GPTConfig

    torch.manual_seed(0)
    config = dict(block_size=64, vocab_size=50304, n_layer=2, n_head=2, n_embd=32)
    return GPT(GPTConfig(**{**config, **overrides})).eval()


def small_checkpoint():
    """(model, checkpoint dict) of a 1-layer model: what a training checkpoint holds about the model."""
    from model import GPT, GPTConfig

    model = GPT(GPTConfig(block_size=16, vocab_size=64, n_layer=1, n_head=2, n_embd=16))
    return model, {"model": model.state_dict(), "model_config": asdict(model.config), "step": 3}


@pytest.fixture(scope="session")
def tiny_hf_gpt2(tmp_path_factory):
    """(folder, model): a randomly initialised GPT-2 in the transformers format, the shape of TINY_RUN but 4 heads,
    with non-zero biases and LayerNorm gains so that a wrong weight mapping cannot hide. Stands in for `gpt2`
    offline: --init_from and from_pretrained take a folder."""
    transformers = pytest.importorskip("transformers")
    import torch

    shape = dict(n_layer=2, n_head=4, n_embd=32, n_positions=64, vocab_size=257)
    config = transformers.GPT2Config(**shape, bos_token_id=256, eos_token_id=256)  # end-of-text: the last token
    torch.manual_seed(0)
    hf_model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for p in hf_model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    folder = tmp_path_factory.mktemp("hf_gpt2")
    hf_model.save_pretrained(folder)
    return folder, hf_model


# ----------------------------------------------------------------------------------------------------------
# Documents for the prepare scripts

WORDS = "the quick brown fox jumps over a lazy dog while seven wizards quietly hex bad jumbo vows".split()


def make_documents(n, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(5, 60))) for _ in range(n)]


def write_inputs(folder, documents):
    """The same documents as a parquet file, a jsonl file and a folder of text files."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": documents, "id": list(range(len(documents)))}), folder / "docs.parquet")
    with open(folder / "docs.jsonl", "w") as f:
        for doc in documents:
            f.write(json.dumps({"text": doc}) + "\n")
    (folder / "texts").mkdir()
    for i, doc in enumerate(documents):
        (folder / "texts" / f"{i:04d}.txt").write_text(doc)
    return folder / "docs.parquet", folder / "docs.jsonl", folder / "texts"


def gpt2_tokens(documents):
    """Every token of the documents as the prepare scripts write them: end-of-text, then the document."""
    from gptkit.data.tokenizer import encode_document, get_tokenizer

    tokenizer = get_tokenizer("gpt2")
    return [t for doc in documents for t in encode_document(tokenizer, doc)]


# ----------------------------------------------------------------------------------------------------------
# HellaSwag


def hellaswag_examples():
    with open(HELLASWAG_EXAMPLES) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture
def examples_file():
    return HELLASWAG_EXAMPLES
