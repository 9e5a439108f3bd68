"""
Run what export_hf.py writes in the runtimes people use, and compare with model.py: llama.cpp (through
llama-cpp-python, a CPU build), llama.cpp's own converter (convert_hf_to_gguf.py) on the transformers folder,
and transformers 4.57 (many serving stacks still pin 4.x). Not part of the test suite: the first run builds
llama.cpp from the package index (about 9 minutes on 2 cores) into a virtualenv kept for later runs.

    python check_runtimes.py                                # everything; tools in .runtimes/, results in runtime_check/
    python check_runtimes.py --parts llama_cpp transformers4

For each family that GGUF has (GPT-2: learned positions; Starcoder2: RoPE + GQA with theta 500, context 128 so
that nothing leans on the defaults), a small GPT-2-tokenized model is trained for a few hundred steps (so that
its greedy tokens are not coin flips) and exported with --gguf at every type. Each runtime then gives its tokens
of a test text, its logits at every position of our tokens of it, and 20 greedy tokens after a 32-token prompt,
all compared with model.py's. Expect ~1e-3 in the logits at f32: llama.cpp's CPU GELU rounds its input through
fp16 (the cache is kept in f32 here, so that is the only rounding).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from gptkit.command_line import OneLineParser
from gptkit.errors import run_main

ROOT = Path(__file__).resolve().parent
LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"  # its source package holds llama.cpp and the converter
TRANSFORMERS_4 = ("transformers==4.57.1", "tokenizers==0.22.1", "huggingface_hub==0.36.0")
PARTS = ("llama_cpp", "converter", "transformers4")
FAMILIES = {  # family -> model flags for train.py
    "gpt2": ["--pos_emb=learned"],
    "starcoder2": ["--pos_emb=rope", "--n_kv_head=2", "--rope_theta=500"],
}
SHAPE = ["--vocab_size=50304", "--block_size=128", "--n_layer=2", "--n_head=4", "--n_embd=64"]
PROMPT_TOKENS, NEW_TOKENS = 32, 20


def log(message):
    print(message, flush=True)


def run(command, env=None, log_file=None):
    """Run a command; on failure, end with its last output lines."""
    result = subprocess.run(list(map(str, command)), env=env, capture_output=True, text=True)
    if log_file:
        Path(log_file).write_text(result.stdout + result.stderr)
    if result.returncode:
        sys.exit(f"failed: {' '.join(map(str, command))}\n{(result.stdout + result.stderr)[-3000:]}")
    return result


# ----------------------------------------------------------------------------------------------------------
# The tools, installed once into .runtimes/


def setup(tools):
    """llama-cpp-python built in its own virtualenv, llama.cpp's converter taken from the same source package,
    and transformers 4.57 in a folder put first on PYTHONPATH (it uses this repository's torch)."""
    tools.mkdir(parents=True, exist_ok=True)
    sdist_dir, venv = tools / "sdist", tools / "llama_cpp_venv"
    if not list(sdist_dir.glob("*.tar.gz")):
        log(f"downloading the {LLAMA_CPP_PYTHON} source package")
        run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary=:all:", LLAMA_CPP_PYTHON,
             "-d", sdist_dir])  # fmt: skip
    sdist = next(sdist_dir.glob("*.tar.gz"))
    if not (venv / "built").exists():
        log(f"building llama.cpp (CPU) into {venv}: about 9 minutes on 2 cores; log in {tools / 'build.log'}")
        run([sys.executable, "-m", "venv", venv])
        env = {**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
        run([venv / "bin" / "pip", "install", "-v", sdist, "numpy"], env=env, log_file=tools / "build.log")
        (venv / "built").touch()
    converter = tools / "llama.cpp"
    if not (converter / "convert_hf_to_gguf.py").exists():
        with tarfile.open(sdist) as archive:
            prefix = archive.getnames()[0].split("/")[0] + "/vendor/llama.cpp/"
            wanted = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")
            members = [m for m in archive.getmembers() if m.name.removeprefix(prefix).startswith(wanted)]
            for member in members:
                member.name = member.name.removeprefix(prefix)
            archive.extractall(converter, members=members, filter="data")
    transformers4 = tools / "transformers_4_57"
    if not (transformers4 / "transformers").exists():
        log(f"installing {TRANSFORMERS_4[0]} into {transformers4}")
        run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", transformers4, *TRANSFORMERS_4])
    return venv / "bin" / "python", converter, transformers4


# ----------------------------------------------------------------------------------------------------------
# The models: trained briefly, exported as a user would


def train_and_export(work, families):
    """{family: checkpoint}, each exported as work/family/hf and work/family/TYPE.gguf."""
    # imported here, not at the top: the workers' Python has no torch
    from gptkit.checkpointing.training_checkpoint import checkpoint_file_in
    from gptkit.data.corpus import embedded_documents, prepare_texts
    from gptkit.interop.gguf_export import GGUF_TYPES

    data = work / "data" / "docs"
    if not data.exists():
        prepare_texts(embedded_documents(), data, "gpt2", workers=1)
    checkpoints = {}
    for family in families:
        out, checkpoint = work / family, checkpoint_file_in(work / family)
        if not checkpoint.exists():
            log(f"training the {family} model")
            steps = ["--max_iters=300", "--learning_rate=3e-3", "--min_lr=3e-4", "--warmup_iters=30"]
            steps += ["--lr_decay_iters=300", "--micro_batch_size=8", "--total_batch_tokens=1024"]
            quiet = ["--eval_interval=0", "--log_interval=100", "--compile=False", "--device=cpu"]
            flags = [f"--data_dir={data}", f"--out_dir={out}", *SHAPE, *FAMILIES[family], *steps, *quiet]
            run([sys.executable, ROOT / "train.py", *flags])
        for gguf_type in GGUF_TYPES:
            options = ["--gguf", out / f"{gguf_type}.gguf", "--gguf_type", gguf_type]
            run([sys.executable, ROOT / "export_hf.py", checkpoint, out / "hf", *options])
        checkpoints[family] = checkpoint
    return checkpoints


def test_text():
    from gptkit.data.corpus import embedded_documents

    return embedded_documents()[7][:400]  # prose with punctuation, digits and newlines


def ours(checkpoint, text):
    """tiktoken's tokens of text, model.py's logits of as many as fit with the greedy tokens, and its greedy
    tokens after the prompt."""
    import torch

    from gptkit.checkpointing.checkpoint import load_checkpoint
    from gptkit.data.tokenizer import get_tokenizer
    from model import GPT

    model = GPT.from_checkpoint(load_checkpoint(checkpoint)).eval()
    text_tokens = get_tokenizer("gpt2").encode(text)
    tokens = text_tokens[: model.config.block_size - NEW_TOKENS]  # the logits are compared where they fit
    with torch.no_grad():
        logits = model(torch.tensor([tokens]))[0][0].numpy()
        prompt = torch.tensor([tokens[:PROMPT_TOKENS]])
        greedy = model.generate(prompt, NEW_TOKENS, temperature=0)[0, PROMPT_TOKENS:].tolist()
    return dict(text_tokens=text_tokens, tokens=tokens, logits=logits, greedy=greedy, n_ctx=model.config.block_size)


def in_worker(python, worker, request, work, env=None):
    """Run this file's worker of that name under another Python; returns its answer (a dict of arrays)."""
    import numpy as np

    request_path, answer_path = work / f"{worker}_request.json", work / f"{worker}_answer.npz"
    request_path.write_text(json.dumps(request))
    run([python, __file__, "--worker", worker, request_path, answer_path], env=env)
    with np.load(answer_path) as answer:
        return {name: answer[name] for name in answer.files}


def compare(label, reference, theirs, text):
    import numpy as np

    tokens_equal = theirs["tokens"].tolist() == reference["text_tokens"]
    if "text" in theirs:
        tokens_equal = tokens_equal and str(theirs["text"]) == text  # and their decoding gives the text back
    difference = float(np.abs(theirs["logits"] - reference["logits"]).max())
    greedy = sum(a == b for a, b in zip(theirs["greedy"].tolist(), reference["greedy"]))
    row = dict(runtime=label, tokens_equal=tokens_equal, max_logit_difference=difference, greedy_equal=greedy)
    log(f"{label:<50} tokens {'equal' if tokens_equal else 'DIFFER'}  max |logit diff| {difference:.2e}  "
        f"greedy {greedy}/{NEW_TOKENS}")  # fmt: skip
    return row


# ----------------------------------------------------------------------------------------------------------
# The workers: each runs under the runtime's own Python and answers with numpy arrays only


def without_extra_buffers():
    """Have llama-cpp-python load models without llama.cpp's extra weight buffers (AMX tiles, repacked
    layouts; llama.cpp's --no-repack), which its Llama class does not expose: a CPU can advertise AMX that its
    hypervisor does not enable (the 2-core dev machine: SIGILL at `tilezero` on the first q8_0 product).
    What is left is llama.cpp's plain CPU kernels, the same q8_0 arithmetic without the tile units."""
    import llama_cpp.llama_cpp as api

    defaults = api.llama_model_default_params

    def params():
        model_params = defaults()
        model_params.use_extra_bufts = False
        return model_params

    api.llama_model_default_params = params


def llama_cpp_worker(request):
    import numpy as np
    from llama_cpp import GGML_TYPE_F32, Llama

    without_extra_buffers()
    n_ctx = request["n_ctx"]
    options = dict(n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, type_k=GGML_TYPE_F32, type_v=GGML_TYPE_F32)
    llm = Llama(model_path=request["gguf"], n_threads=os.cpu_count(), verbose=False, **options)
    # add_bos=True asks for BOS only where the file says to add it: our files say not to
    their_tokens = llm.tokenize(request["text"].encode(), add_bos=True)
    llm.eval(request["tokens"])
    logits = np.array(llm.scores[: len(request["tokens"])])
    llm.reset()
    llm.eval(request["tokens"][:PROMPT_TOKENS])
    greedy = []
    for _ in range(NEW_TOKENS):
        greedy.append(int(np.argmax(llm.scores[llm.n_tokens - 1])))
        llm.eval(greedy[-1:])
    text = llm.detokenize(their_tokens).decode()
    return dict(tokens=np.array(their_tokens), logits=logits, greedy=np.array(greedy), text=np.array(text))


def transformers_worker(request):
    import numpy as np
    import torch
    import transformers

    assert transformers.__version__ == request["version"], transformers.__version__
    model = transformers.AutoModelForCausalLM.from_pretrained(request["folder"], torch_dtype=torch.float32).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(request["folder"])
    with torch.no_grad():
        logits = model(torch.tensor([request["tokens"]])).logits[0].numpy()
        tokens = request["tokens"][:PROMPT_TOKENS]
        for _ in range(NEW_TOKENS):  # greedy, recomputing the whole text each step
            tokens.append(int(model(torch.tensor([tokens])).logits[0, -1].argmax()))
    their_tokens = tokenizer(request["text"])["input_ids"]
    text = tokenizer.decode(their_tokens)
    greedy = np.array(tokens[PROMPT_TOKENS:])
    return dict(tokens=np.array(their_tokens), logits=logits, greedy=greedy, text=np.array(text))


WORKERS = {"llama_cpp": llama_cpp_worker, "transformers": transformers_worker}


# ----------------------------------------------------------------------------------------------------------
# The checks


def request_of(reference, text, **where):
    """What a worker needs: where the model is, the text, our tokens of it and the context length."""
    return {"text": text, "tokens": reference["tokens"], "n_ctx": reference["n_ctx"], **where}


def check_llama_cpp(llama_python, family, reference, text, work):
    from gptkit.interop.gguf_export import GGUF_TYPES

    rows = []
    for gguf_type in GGUF_TYPES:
        request = request_of(reference, text, gguf=str(work / family / f"{gguf_type}.gguf"))
        theirs = in_worker(llama_python, "llama_cpp", request, work)
        rows.append(compare(f"{family} llama.cpp, our GGUF {gguf_type}", reference, theirs, text))
    return rows


def convert(converter, folder, gguf_path):
    """llama.cpp's converter (with its own gguf-py) on a transformers folder, at f32."""
    env = {**os.environ, "PYTHONPATH": str(converter / "gguf-py")}
    command = [sys.executable, converter / "convert_hf_to_gguf.py", folder, "--outtype", "f32", "--outfile", gguf_path]
    return subprocess.run(list(map(str, command)), env=env, capture_output=True, text=True)


def check_converter(llama_python, converter, family, reference, text, work):
    """llama.cpp's converter on our folder; for GPT-2 also on the folder without n_ctx, as transformers 5
    alone writes it, where the converter stops."""
    folder, converted = work / family / "hf", work / family / "converted_f32.gguf"
    result = convert(converter, folder, converted)
    if result.returncode:
        sys.exit(f"llama.cpp's converter failed on {folder}:\n{result.stderr[-3000:]}")
    theirs = in_worker(llama_python, "llama_cpp", request_of(reference, text, gguf=str(converted)), work)
    rows = [compare(f"{family} llama.cpp, its converter on our folder", reference, theirs, text)]
    if family == "gpt2":
        bare = work / family / "hf_without_n_ctx"
        shutil.copytree(folder, bare, dirs_exist_ok=True)
        config = json.loads((bare / "config.json").read_text())
        config.pop("n_ctx")
        (bare / "config.json").write_text(json.dumps(config))
        result = convert(converter, bare, work / family / "bare.gguf")
        error = (result.stderr.strip().splitlines() or [""])[-1]
        log(f"{family} converter on the folder without n_ctx: exit code {result.returncode}, {error}")
        rows.append(dict(runtime=f"{family} converter without n_ctx", exit_code=result.returncode, error=error))
    return rows


def check_transformers4(transformers4, family, reference, text, work):
    version = TRANSFORMERS_4[0].split("==")[1]
    request = request_of(reference, text, folder=str(work / family / "hf"), version=version)
    env = {**os.environ, "PYTHONPATH": str(transformers4)}  # 4.57 first, this repository's torch and the rest after
    theirs = in_worker(sys.executable, "transformers", request, work, env=env)
    return [compare(f"{family} transformers {version}, the folder", reference, theirs, text)]


def main(argv):
    parser = OneLineParser("check_runtimes.py", __doc__)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--families", nargs="+", choices=list(FAMILIES), default=list(FAMILIES))
    parser.add_argument("--tools", type=Path, default=ROOT / ".runtimes", help="where the runtimes are installed")
    parser.add_argument("--out", type=Path, default=ROOT / "runtime_check", help="models and results")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)  # NAME REQUEST ANSWER, under another Python
    args = parser.parse_args(argv)
    if args.worker:
        import numpy as np

        name, request_path, answer_path = args.worker
        np.savez(answer_path, **WORKERS[name](json.loads(Path(request_path).read_text())))
        return

    llama_python, converter, transformers4 = setup(args.tools)
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoints = train_and_export(args.out, args.families)
    text, rows = test_text(), []
    for family, checkpoint in checkpoints.items():
        reference = ours(checkpoint, text)
        if "llama_cpp" in args.parts:
            rows += check_llama_cpp(llama_python, family, reference, text, args.out)
        if "converter" in args.parts:
            rows += check_converter(llama_python, converter, family, reference, text, args.out)
        if "transformers4" in args.parts:
            rows += check_transformers4(transformers4, family, reference, text, args.out)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    log(f"results in {args.out / 'results.json'}")


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
