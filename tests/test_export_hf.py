"""export_hf.py, and the way back: the folder loads in transformers with the checkpoint's logits, and
hellaswag.py, sample.py and train.py read it as they read the checkpoint. The commands run in this process
(main(argv)) but for the one test of what a user sees on the command line."""

import json
from dataclasses import asdict

import pytest
import torch

import export_hf
from conftest import EVERY_TOGGLE, run_command, run_script, tiny_gpt
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


def save_run(run_dir, model, tokenizer_name):
    """A checkpoint as train.py saves it, with the run's metrics.jsonl beside it."""
    run_dir.mkdir()
    train_config = asdict(TrainConfig(total_batch_tokens=1024, max_iters=7, device="cpu"))
    checkpoint = {"model": model.state_dict(), "model_config": asdict(model.config), "train_config": train_config}
    save_checkpoint(run_dir / "ckpt.pt", {**checkpoint, "step": 7, "tokenizer": tokenizer_name})
    (run_dir / "metrics.jsonl").write_text(json.dumps({"step": 7, "val_loss": 4.3211}) + "\n")
    return run_dir / "ckpt.pt"


def export(checkpoint, out_dir, *flags):
    """What export_hf.py printed."""
    return run_command("export_hf.py", checkpoint, out_dir, *flags)


@pytest.fixture(scope="module")
def gpt2_export(tmp_path_factory):
    """(checkpoint, folder, model): a GPT-2-tokenized RoPE + GQA + MoE model, exported with its modelling code."""
    root = tmp_path_factory.mktemp("gpt2_run")
    model = tiny_gpt(noise=0.1, block_size=64, vocab_size=50304, pos_emb="rope", n_kv_head=2, n_expert=4)
    checkpoint = save_run(root / "run", model, "gpt2")
    assert "trust_remote_code=True" in export(checkpoint, root / "hf")
    return checkpoint, root / "hf", model


@pytest.fixture(scope="module")
def bytes_export(tmp_path_factory):
    """(checkpoint, folder, model): a byte-level GPT-2-shaped model, untied and without biases."""
    root = tmp_path_factory.mktemp("bytes_run")
    model = tiny_gpt(noise=0.1, block_size=64, vocab_size=257, tie_embeddings=False, bias=False)
    checkpoint = save_run(root / "run", model, "bytes")
    assert "(gpt2)" in export(checkpoint, root / "hf")
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
        run_command("hellaswag.py", *source, "--data", data, "--device", "cpu", "--json", out)
        results.append(json.loads(out.read_text()))
    assert results[0] == results[1]
    assert results[0]["examples"] == 4


def test_sample_reads_the_folder_with_its_own_tokenizer(bytes_export):
    checkpoint, folder, _ = bytes_export
    texts = []
    for source in (("--hf", folder), ("--checkpoint", checkpoint)):
        options = ("--prompt", "def main(", "--temperature", "0", "--num_samples", "1", "--max_new_tokens", "30")
        texts.append(run_command("sample.py", *source, *options, "--device", "cpu"))
    assert texts[0] == texts[1] and texts[0].startswith("def main(")


def test_training_from_the_folder_starts_from_the_checkpoint_weights(bytes_export, tmp_path):
    checkpoint, folder, model = bytes_export
    prepare_texts(embedded_documents()[:3], tmp_path / "data", "bytes", workers=1)
    still = ["--learning_rate=0", "--min_lr=0", "--warmup_iters=0", "--lr_decay_iters=1"]  # weights stay as loaded
    common = [f"--data_dir={tmp_path / 'data'}", "--micro_batch_size=2", "--total_batch_tokens=128", "--max_iters=1"]
    common += ["--eval_interval=0", "--compile=False", "--device=cpu", f"--init_from={folder}"]
    run_command("train.py", *common, *still, f"--out_dir={tmp_path / 'out'}")
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


NEW_BLOCKS = {  # issue 28's block: as Qwen3 (RMSNorm, QK-norm, SwiGLU), and with every toggle (the custom code)
    "qwen3": dict(pos_emb="rope", norm="rmsnorm", qk_norm=True, mlp_activation="swiglu", mlp_width=64, bias=False),
    "gptkit": {**EVERY_TOGGLE, "pos_emb": "rope"},
}


@pytest.mark.parametrize("family", NEW_BLOCKS)
def test_the_new_block_goes_out_and_back_through_init_from_and_hf(family, tmp_path):
    """export_hf.py writes it; train.py --init_from=FOLDER starts from its weights; sample.py --hf samples what
    --checkpoint samples."""
    model = tiny_gpt(noise=0.1, block_size=64, vocab_size=257, **NEW_BLOCKS[family])
    checkpoint = save_run(tmp_path / "run", model, "bytes")
    assert f"({family}" in export(checkpoint, tmp_path / "hf")
    prepare_texts(embedded_documents()[:3], tmp_path / "data", "bytes", workers=1)
    still = ["--learning_rate=0", "--min_lr=0", "--warmup_iters=0", "--lr_decay_iters=1", "--muon_lr=0"]
    common = [f"--data_dir={tmp_path / 'data'}", "--micro_batch_size=2", "--total_batch_tokens=128", "--max_iters=1"]
    common += ["--eval_interval=0", "--compile=False", "--device=cpu", f"--init_from={tmp_path / 'hf'}"]
    run_command("train.py", *common, *still, f"--out_dir={tmp_path / 'out'}")
    trained = load_checkpoint(tmp_path / "out" / "ckpt.pt")
    assert trained["model_config"] == asdict(model.config)
    idx = torch.randint(0, 257, (2, 64))
    with torch.no_grad():
        assert torch.equal(GPT.from_checkpoint(trained).eval()(idx)[0], model(idx)[0])
    texts = []
    for source in (("--hf", tmp_path / "hf"), ("--checkpoint", checkpoint)):
        options = ("--prompt", "def f(", "--temperature", "0", "--num_samples", "1", "--max_new_tokens", "20")
        texts.append(run_command("sample.py", *source, *options, "--device", "cpu"))
    assert texts[0] == texts[1] and texts[0].startswith("def f(")


def test_push_without_token_or_network_is_one_line_and_keeps_the_folder(bytes_export, tmp_path, monkeypatch, capsys):
    checkpoint, _, model = bytes_export
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for token in (None, "hf_invented"):
        if token:
            monkeypatch.setenv("HF_TOKEN", token)
        with pytest.raises(UserError) as error:
            export(checkpoint, tmp_path / "hf", "--push_to_hub", "someone/tiny-gpt")
        assert "upload it later with `hf upload someone/tiny-gpt" in str(error.value)
        assert "\n" not in str(error.value) and capsys.readouterr().err == ""  # nothing else on stderr
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
    model = tiny_gpt(noise=0.1, block_size=64, vocab_size=50304, pos_emb="rope", n_kv_head=2, rope_theta=500.0)
    return save_run(tmp_path_factory.mktemp("rope_run") / "run", model, "gpt2"), model


def test_gguf_is_written_beside_the_folder(rope_checkpoint, tmp_path):
    """--gguf FILE (with the hyphenated --gguf-type) writes the GGUF too; the tests of gptkit/interop/gguf_export.py
    read it."""
    reader = pytest.importorskip("transformers.integrations.gguf.reader")
    path = tmp_path / "gguf" / "tiny.gguf"  # a folder that does not exist yet is created
    printed = export(rope_checkpoint[0], tmp_path / "hf", "--gguf", path, "--gguf-type", "q8_0")
    assert f"wrote {path} (GGUF starcoder2, q8_0)" in printed
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


@pytest.fixture(scope="module")
def bpe_export(bpe_run, tmp_path_factory):
    """(checkpoint, folder, GGUF file) of the run on trained-tokenizer shards, exported with --gguf."""
    folder, gguf_path = tmp_path_factory.mktemp("bpe_export") / "hf", tmp_path_factory.mktemp("gguf") / "bpe.gguf"
    export(bpe_run / "ckpt.pt", folder, "--gguf", gguf_path, "--gguf_type", "f32")
    return bpe_run / "ckpt.pt", folder, gguf_path


def test_a_trained_tokenizer_travels_with_the_export(bpe_export):
    from gptkit.data.tokenizer import saved_tokenizer

    checkpoint, folder, gguf_path = bpe_export
    ours = saved_tokenizer(load_checkpoint(checkpoint), "ckpt.pt")
    theirs = transformers.AutoTokenizer.from_pretrained(folder)
    for text in ["def f(x):\n    return x  # señor 日本 🎉", "  spaces\n\n\ttabs  ", "It's 1234567."]:
        assert theirs(text)["input_ids"] == ours.encode(text)
    assert json.loads((folder / "config.json").read_text())["gptkit"]["tokenizer"] == ours.name
    assert "bits per byte" in (folder / "README.md").read_text()
    gguf = pytest.importorskip("gguf")
    assert gguf.GGUFReader(gguf_path).fields["tokenizer.ggml.pre"].contents() == "llama-bpe"
    texts = []
    for source in (("--hf", folder), ("--checkpoint", checkpoint)):
        options = ("--prompt", "The for", "--temperature", "0", "--num_samples", "1", "--max_new_tokens", "12")
        texts.append(run_command("sample.py", *source, *options, "--device", "cpu"))
    assert texts[0] == texts[1] and texts[0].startswith("The for")


def test_training_from_a_trained_tokenizer_export_reads_its_tokenizer(bpe_export, bpe_data_dir, tmp_path):
    from conftest import BPE_VOCAB, assert_one_line_error, tiny_bpe, train, train_in_process

    _, folder, _ = bpe_export
    flags = [f"--vocab_size={BPE_VOCAB}", "--max_iters=1", f"--init_from={folder}"]
    train_in_process(*flags, data_dir=bpe_data_dir, out_dir=tmp_path / "same")
    other = tiny_bpe(documents=10)
    prepare_texts(embedded_documents()[:20], tmp_path / "other", other, workers=1)
    result = train(*flags, data_dir=tmp_path / "other", out_dir=tmp_path / "refused", check=False)
    assert_one_line_error(result, f"holds '{other.name}' tokens but {folder} reads 'bpe384-")
