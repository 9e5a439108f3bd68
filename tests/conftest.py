"""
What several test files share: running a command in this process or as a user would, a tiny training run
(trained once per session), tiny models, prepared data folders, and the invented HellaSwag examples and CORE
bundle.

Test files mirror the code: tests/test_<command>.py for a root command, tests/gptkit/<folder>/test_<module>.py
for a part of the package. Helpers are imported with `from conftest import ...`; fixtures are found by pytest.

Two tiers (pyproject.toml): `pytest` runs the fast one; the tests marked `integration` (several processes,
torch.compile, whole trainings) join it in `make test-all` and CI.
A bad input is checked by calling the command's main(argv) here (`pytest.raises(UserError)`); each command keeps
one test through a real process (run_script) for what the user sees: one line on stderr and exit code 1.
"""

import contextlib
import importlib
import io
import json
import os
import shutil
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
# pytest -n auto starts one worker per core: one thread each (in the worker and in the processes it starts)
# instead of every worker's torch taking every core
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ["OMP_NUM_THREADS"] = "1"

# Invented examples in HellaSwag's format (not taken from the dataset), one JSON object per line.
HELLASWAG_EXAMPLES = ROOT / "tests" / "data" / "hellaswag_examples.jsonl"
# A hand-made CORE bundle in the DCLM eval bundle's layout (invented examples): see its core.yaml.
CORE_BUNDLE = ROOT / "tests" / "data" / "core_bundle"


def run_script(script, *args, cwd=ROOT, launcher=(sys.executable,), env=None):
    """Run one of the repository's scripts in a new process, as a user would; returns the CompletedProcess."""
    command = [*launcher, str(ROOT / script), *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


def run_command(script, *args):
    """main(argv) of one of the repository's commands in this process, as run_main calls it: what it printed on
    stdout. A bad input raises its UserError (pytest.raises); a command's run_script test shows the user's view.
    The signal handlers a command sets (train.py and study.py stop cleanly on SIGTERM and Ctrl-C) are put back."""
    main = importlib.import_module(script.removesuffix(".py")).main
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            main([str(arg) for arg in args])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return printed.getvalue()


@contextlib.contextmanager
def one_line_refusal(match):
    """pytest.raises(UserError, match=match) around a call in this process, and the message is one line: what
    errors.run_main prints after "error: " before it exits with code 1."""
    from gptkit.errors import UserError

    with pytest.raises(UserError, match=match) as error:
        yield error
    assert "\n" not in str(error.value), str(error.value)


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
    """train.py with TINY_RUN, then args (later flags win), in a process of its own as a user runs it; asserts
    success unless check=False."""
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


def train_in_process(*args, data_dir, out_dir):
    """train.py's main with TINY_RUN, then args, in this process: what it printed. For a run, and for a bad input
    refused before the run lock is taken; a refusal after it would leave out_dir locked until this process ends, so
    those go through train(), as does every check of what a new process resumes from."""
    return run_command("train.py", *TINY_RUN, f"--data_dir={data_dir}", f"--out_dir={out_dir}", *args)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """20 documents of the embedded corpus as byte-level shards."""
    return byte_shards(tmp_path_factory.mktemp("data") / "docs")


@pytest.fixture(scope="session")
def tiny_run(data_dir, tmp_path_factory):
    """out_dir of a finished 2-step TINY_RUN on data_dir (ckpt.pt of step 2, metrics.jsonl, config.json), trained
    once per session (per worker under pytest -n): read it, or take tiny_run_copy to write."""
    out_dir = tmp_path_factory.mktemp("tiny_run") / "out"
    train_in_process("--max_iters=2", data_dir=data_dir, out_dir=out_dir)
    return out_dir


@pytest.fixture
def tiny_run_copy(tiny_run, tmp_path):
    """This test's own copy of tiny_run, in tmp_path/run."""
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


@pytest.fixture(scope="session")
def gpt2_data_dir(tmp_path_factory):
    """3 documents of the embedded corpus as GPT-2 shards (for HellaSwag during training)."""
    from gptkit.data.corpus import embedded_documents, prepare_texts

    path = tmp_path_factory.mktemp("data") / "gpt2_docs"
    prepare_texts(embedded_documents()[:3], path, "gpt2", workers=1)
    return path


# ----------------------------------------------------------------------------------------------------------
# Small models and checkpoints


TINY_GPT = dict(block_size=32, vocab_size=101, n_layer=2, n_head=4, n_embd=32)  # head size 8
TINY_GPT2 = dict(block_size=64, vocab_size=50304, n_head=2)  # overrides for GPT-2's (padded) vocabulary
# issue 28's block with every toggle on: only the modelling code shipped in an export folder computes it
EVERY_TOGGLE = dict(
    norm="rmsnorm",
    norm_weights=False,
    qk_norm=True,
    mlp_activation="relu2",
    logit_softcap=15.0,
    zero_init_proj=True,
    embedding_norm=True,
    residual_scalars=True,
    value_embeddings=True,
    tie_embeddings=False,
    bias=False,
)


def tiny_gpt(noise=0.0, **overrides):
    """A GPT of TINY_GPT's shape (overrides win), seeded, in eval mode. noise > 0 adds noise * a normal draw to
    every weight, biases and LayerNorm gains too, so that a wrong weight mapping cannot hide."""
    import torch

    from model import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(**{**TINY_GPT, **overrides})).eval()
    if noise:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(noise * torch.randn_like(p))
    return model


def small_checkpoint():
    """(model, checkpoint dict) of a 1-layer model: what a training checkpoint holds about the model."""
    model = tiny_gpt(block_size=16, vocab_size=64, n_layer=1, n_head=2, n_embd=16)
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


# ----------------------------------------------------------------------------------------------------------
# A trained tokenizer (gptkit/data/bpe.py), small enough to train in a blink

BPE_VOCAB = 384  # a multiple of 128: the model's vocab_size is the tokenizer's own


def tiny_bpe(vocab_size=BPE_VOCAB, documents=20):
    """A BPE tokenizer trained on the first embedded documents (training is deterministic: the same every call)."""
    from gptkit.data.bpe import train_bpe
    from gptkit.data.corpus import embedded_documents
    from gptkit.data.tokenizer import BPETokenizer

    return BPETokenizer(train_bpe(embedded_documents()[:documents], vocab_size, progress=False))


@pytest.fixture(scope="session")
def bpe_data_dir(tmp_path_factory):
    """20 documents of the embedded corpus as shards of tiny_bpe's tokens, its tokenizer.json beside them."""
    from gptkit.data.corpus import embedded_documents, prepare_texts

    path = tmp_path_factory.mktemp("data") / "bpe_docs"
    prepare_texts(embedded_documents()[:20], path, tiny_bpe(), workers=1)
    return path


@pytest.fixture(scope="session")
def bpe_run(bpe_data_dir, tmp_path_factory):
    """The out_dir of a 4-step run on bpe_data_dir that evaluates (bits per byte) and saves a checkpoint."""
    out_dir = tmp_path_factory.mktemp("runs") / "bpe"
    evaluating = ["--eval_interval=2", "--eval_iters=2", "--sample_interval=4", "--sample_tokens=8"]
    train_in_process(
        f"--vocab_size={BPE_VOCAB}",
        "--max_iters=4",
        "--checkpoint_interval=4",
        *evaluating,
        data_dir=bpe_data_dir,
        out_dir=out_dir,
    )
    return out_dir
