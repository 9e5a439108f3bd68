"""export_hf.py as a user runs it, and the way back: the folder loads in transformers with the checkpoint's
logits, and hellaswag.py, sample.py and train.py read it as they read the checkpoint."""

import json
import os
from dataclasses import asdict

import pytest
import torch

import export_hf
from conftest import run_script
from gptkit.checkpointing.checkpoint import load_checkpoint, save_checkpoint
from gptkit.config import TrainConfig
from gptkit.data.corpus import embedded_documents, prepare_texts
from gptkit.data.tokenizer import get_tokenizer
from gptkit.errors import UserError
from gptkit.evaluation.hellaswag import read_examples, render_example, score_endings
from model import GPT, GPTConfig
from train import build_model

transformers = pytest.importorskip("transformers")

# Invented multiple-choice items in HellaSwag's format. No context ends with a space: lm-eval would move such
# a space into the continuation, where ours keeps it in the context, and the tokens would differ.
ITEMS = [
    {"ctx": "The baker slides the tray into the oven and", "label": 1,
     "endings": ["the tray sings.", "waits for the bread to rise.", "it snows.", "paints the oven blue."]},
    {"ctx": "After the rain stopped, the children", "label": 0,
     "endings": ["jumped into the puddles.", "ate the clouds.", "became trees.", "flew to 1999."]},
    {"ctx": "He plugged in the kettle, and a minute later", "label": 2,
     "endings": ["the kettle left.", "it was Tuesday in Rome.", "the water was boiling.", "nothing, never."]},
    {"ctx": "To open the jar, she", "label": 3,
     "endings": ["sold it.", "read it a poem.", "put it in the rain.", "twisted the lid hard."]},
]  # fmt: skip


def tiny_model(vocab_size, **toggles):
    torch.manual_seed(0)
    config = GPTConfig(block_size=64, vocab_size=vocab_size, n_layer=2, n_head=4, n_embd=32, **toggles)
    model = GPT(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def save_run(run_dir, model, tokenizer_name):
    """A checkpoint as train.py saves it, with the run's metrics.jsonl beside it."""
    run_dir.mkdir()
    train_config = asdict(TrainConfig(total_batch_tokens=1024, max_iters=7, device="cpu"))
    checkpoint = {"model": model.state_dict(), "model_config": asdict(model.config), "train_config": train_config}
    save_checkpoint(run_dir / "ckpt.pt", {**checkpoint, "step": 7, "tokenizer": tokenizer_name})
    (run_dir / "metrics.jsonl").write_text(json.dumps({"step": 7, "val_loss": 4.3211}) + "\n")
    return run_dir / "ckpt.pt"


def export(checkpoint, out_dir, *flags, env=None):
    return run_script("export_hf.py", checkpoint, out_dir, *flags, env=env)


@pytest.fixture(scope="module")
def gpt2_export(tmp_path_factory):
    """(checkpoint, folder, model): a GPT-2-tokenized RoPE + GQA + MoE model, exported with its modelling code."""
    root = tmp_path_factory.mktemp("gpt2_run")
    model = tiny_model(50304, pos_emb="rope", n_kv_head=2, n_expert=4)
    checkpoint = save_run(root / "run", model, "gpt2")
    result = export(checkpoint, root / "hf")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "trust_remote_code=True" in result.stdout
    return checkpoint, root / "hf", model


@pytest.fixture(scope="module")
def bytes_export(tmp_path_factory):
    """(checkpoint, folder, model): a byte-level GPT-2-shaped model, untied and without biases."""
    root = tmp_path_factory.mktemp("bytes_run")
    model = tiny_model(257, tie_embeddings=False, bias=False)
    checkpoint = save_run(root / "run", model, "bytes")
    result = export(checkpoint, root / "hf")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(gpt2)" in result.stdout
    return checkpoint, root / "hf", model


def test_folder_loads_in_transformers_with_the_checkpoint_logits(gpt2_export):
    _, folder, model = gpt2_export
    expected = {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "README.md"}
    assert expected | {"modeling_gptkit.py"} <= {path.name for path in folder.iterdir()}
    options = dict(trust_remote_code=True, dtype=torch.float32)
    hf_model = transformers.AutoModelForCausalLM.from_pretrained(folder, **options).eval()
    assert type(hf_model).__name__ == "GPTKitForCausalLM"
    idx = torch.randint(0, 50257, (2, 64))
    with torch.no_grad():
        assert (hf_model(idx).logits - model(idx)[0]).abs().max().item() <= 1e-4
    card = (folder / "README.md").read_text()
    assert "final validation loss: 4.3211" in card and "tokens: 7,168" in card
    assert "--total_batch_tokens=1024" in card and "--max_iters=7" in card


@pytest.mark.parametrize("exported", ["gpt2_export", "bytes_export"])  # each scored in its own tokens
def test_hellaswag_through_the_folder_equals_the_checkpoint(exported, request, tmp_path):
    checkpoint, folder, _ = request.getfixturevalue(exported)
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(item) + "\n" for item in ITEMS))
    results = []
    for source in (("--hf", folder), ("--checkpoint", checkpoint)):
        out = tmp_path / f"{source[0][2:]}.json"
        result = run_script("hellaswag.py", *source, "--data", data, "--device", "cpu", "--json", out)
        assert result.returncode == 0, result.stderr[-3000:]
        results.append(json.loads(out.read_text()))
    assert results[0] == results[1]
    assert results[0]["examples"] == 4


def test_sample_reads_the_folder_with_its_own_tokenizer(bytes_export):
    checkpoint, folder, _ = bytes_export
    texts = []
    for source in (("--hf", folder), ("--checkpoint", checkpoint)):
        options = ("--prompt", "def main(", "--temperature", "0", "--num_samples", "1", "--max_new_tokens", "30")
        result = run_script("sample.py", *source, *options, "--device", "cpu")
        assert result.returncode == 0, result.stderr[-3000:]
        texts.append(result.stdout)
    assert texts[0] == texts[1] and texts[0].startswith("def main(")


def test_training_from_the_folder_starts_from_the_checkpoint_weights(bytes_export, tmp_path):
    checkpoint, folder, model = bytes_export
    prepare_texts(embedded_documents()[:3], tmp_path / "data", "bytes", workers=1)
    still = ["--learning_rate=0", "--min_lr=0", "--warmup_iters=0", "--lr_decay_iters=1"]  # weights stay as loaded
    common = [f"--data_dir={tmp_path / 'data'}", "--micro_batch_size=2", "--total_batch_tokens=128", "--max_iters=1"]
    common += ["--eval_interval=0", "--compile=False", "--device=cpu", f"--init_from={folder}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = run_script("train.py", *common, *still, f"--out_dir={tmp_path / 'out'}", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    trained = load_checkpoint(tmp_path / "out" / "ckpt.pt")
    assert trained["model_config"] == asdict(model.config)
    resumed = GPT.from_checkpoint(trained).eval()
    idx = torch.randint(0, 257, (2, 64))
    with torch.no_grad():
        assert torch.equal(resumed(idx)[0], model(idx)[0])

    with pytest.raises(
        UserError, match=r"^the folder's model differs from the settings given: n_layer=3 \(the folder: 2\)$"
    ):
        build_model(GPTConfig(), {"n_layer": 3}, TrainConfig(init_from=str(folder)), checkpoint=None)


def test_push_without_token_or_network_is_one_line_and_keeps_the_folder(bytes_export, tmp_path):
    checkpoint, _, model = bytes_export
    no_token = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    no_token.update(HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1")
    for env in (no_token, {**no_token, "HF_TOKEN": "hf_invented"}):
        result = export(checkpoint, tmp_path / "hf", "--push_to_hub", "someone/tiny-gpt", env=env)
        assert result.returncode == 1
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "upload it later with `hf upload someone/tiny-gpt" in result.stderr
        folder_model = GPT.from_pretrained(str(tmp_path / "hf")).eval()
        idx = torch.randint(0, 257, (1, 32))
        with torch.no_grad():
            assert torch.equal(folder_model(idx)[0], model(idx)[0])
        (tmp_path / "hf" / "model.safetensors").unlink()


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["OUT", "--dtype", "float16"], "--dtype must be one of float32, bfloat16, got 'float16'"),
        (["OUT", "--dtype"], "argument --dtype: expected one argument"),
        (["OUT", "--push_to_hub", "a/b/c"], "'a/b/c' is not a Hub repository name"),
        (["OUT", "--private"], "--private applies to --push_to_hub"),
        (["OUT", "--epochs", "3"], "unrecognized arguments: --epochs 3"),
        ([], "the following arguments are required: out_dir"),
    ],
)
def test_wrong_flags_are_one_line_errors_before_any_work(bytes_export, tmp_path, arguments, message):
    checkpoint, _, _ = bytes_export
    with pytest.raises(UserError) as error:
        export_hf.main([str(checkpoint), *(str(tmp_path / "hf") if a == "OUT" else a for a in arguments)])
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "hf").exists()


def test_a_missing_checkpoint_ends_as_one_line_on_the_command_line(tmp_path):
    result = run_script("export_hf.py", tmp_path / "none.pt", tmp_path / "hf")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: no checkpoint at {tmp_path / 'none.pt'}"


def test_lm_eval_scores_the_folder_as_our_scorer_does(gpt2_export, tmp_path):
    """lm-eval's acc picks the ending of the largest summed log-probability, as our summed-loss choice does.
    Both read context + " " + ending: lm-eval encodes the joined text and splits it after the context's tokens,
    we encode the two apart; GPT-2's pre-tokenizer starts a word at the space, so the tokens are the same."""
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    _, folder, model = gpt2_export
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(item) + "\n" for item in ITEMS))
    (tmp_path / "tasks").mkdir()
    task = {
        "task": "invented_choice",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "{{ctx}}",
        "doc_to_choice": "{{endings}}",
        "doc_to_target": "{{label}}",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    }
    (tmp_path / "tasks" / "invented_choice.yaml").write_text(json.dumps(task))  # JSON is YAML
    evaluation = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={folder},trust_remote_code=True,dtype=float32",
        tasks=["invented_choice"],
        task_manager=TaskManager(include_path=str(tmp_path / "tasks"), include_defaults=False),
        device="cpu",
        batch_size=4,
        bootstrap_iters=0,
    )
    tokenizer, right = get_tokenizer("gpt2"), 0
    for sample, item in zip(evaluation["samples"]["invented_choice"], read_examples(data), strict=True):
        summed_loss, _ = score_endings(model, *render_example(tokenizer, item, 64))
        their_log_probs = torch.tensor([log_prob for log_prob, _ in sample["filtered_resps"]])
        assert (their_log_probs + summed_loss).abs().max().item() <= 1e-4
        right += summed_loss.argmin().item() == item["label"]
    assert evaluation["results"]["invented_choice"]["acc,none"] == right / len(ITEMS)


@pytest.fixture(scope="module")
def rope_checkpoint(tmp_path_factory):
    """(checkpoint, model): a GPT-2-tokenized RoPE + GQA model with theta 500, which GGUF holds as Starcoder2."""
    model = tiny_model(50304, pos_emb="rope", n_kv_head=2, rope_theta=500.0)
    return save_run(tmp_path_factory.mktemp("rope_run") / "run", model, "gpt2"), model


def test_gguf_is_written_beside_the_folder(rope_checkpoint, tmp_path):
    """--gguf FILE (with the hyphenated --gguf-type) writes the GGUF too; the tests of gptkit/interop/gguf_export.py
    read it."""
    reader = pytest.importorskip("transformers.integrations.gguf.reader")
    path = tmp_path / "gguf" / "tiny.gguf"  # a folder that does not exist yet is created
    result = export(rope_checkpoint[0], tmp_path / "hf", "--gguf", path, "--gguf-type", "q8_0")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wrote {path} (GGUF starcoder2, q8_0)" in result.stdout
    metadata, tensor_names = reader.read_gguf_metadata(str(path))
    assert metadata["general.name"] == "hf" and metadata["general.file_type"] == 7  # LlamaFileType.MOSTLY_Q8_0
    assert metadata["starcoder2.rope.freq_base"] == 500.0 and "output.weight" not in tensor_names  # tied
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["rope_theta"] == 500.0


@pytest.mark.parametrize(
    "source,arguments,message",
    [
        ("gpt2", ["--gguf", "GGUF"], "no GGUF for this model: llama.cpp has no architecture for this Mixture of"),
        ("bytes", ["--gguf", "GGUF"], "no GGUF for a model of 'bytes' tokens: llama.cpp refuses byte-level"),
        ("rope", ["--gguf", "GGUF", "--gguf_type", "q4_0"], "invalid choice: 'q4_0' (choose from 'f32', 'f16', 'bf16'"),
        ("rope", ["--gguf_type", "q8_0"], "--gguf_type applies to --gguf FILE; give both"),
        ("rope", ["--gguf", "FILE/model.gguf"], "FILE is not a writable folder"),
    ],
)
def test_gguf_refusals_are_one_line_and_write_nothing(
    gpt2_export, bytes_export, rope_checkpoint, tmp_path, source, arguments, message
):
    """A model without a GGUF architecture (the MoE), a byte-level tokenizer, an unknown type, a type without a
    file, a path that cannot be written: one line, and neither the folder nor the GGUF is written."""
    checkpoint = {"gpt2": gpt2_export, "bytes": bytes_export, "rope": rope_checkpoint}[source][0]
    (tmp_path / "FILE").write_text("not a folder")
    spelled = {"GGUF": str(tmp_path / "model.gguf"), "FILE/model.gguf": str(tmp_path / "FILE" / "model.gguf")}
    with pytest.raises(UserError) as error:
        export_hf.main([str(checkpoint), str(tmp_path / "hf"), *(spelled.get(a, a) for a in arguments)])
    assert message in str(error.value) and "\n" not in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE"]
