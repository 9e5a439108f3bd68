"""evaluate.py: its numbers against a direct computation with the model, two gloo processes against one, and bad
input as one line with nothing written. It runs in this process (main(argv)) but for two processes and the one
test of what a user sees on the command line."""

import json
import math
import sys
from dataclasses import asdict

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import SINGLE_THREAD, assert_one_line_error, one_line_refusal, run_command, run_script, tiny_gpt
from gptkit.checkpointing.checkpoint import save_checkpoint
from gptkit.data.shards import find_shards, read_shard
from gptkit.errors import UserError

SHAPE = dict(vocab_size=50304, n_kv_head=2)  # GPT-2's tokens
SMALL = ["--windows", "3", "--probe_trials", "2", "--retrieval_trials", "2", "--passkey_trials", "1"]
SMALL += ["--batch_size", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def gpt2_docs(tmp_path_factory):
    """12 documents of the embedded corpus as GPT-2 shards, half of the tokens in the validation split."""
    from gptkit.data.corpus import embedded_documents, prepare_texts

    path = tmp_path_factory.mktemp("data") / "docs"
    prepare_texts(embedded_documents()[:12], path, "gpt2", val_fraction=0.5, workers=1)
    return path


def checkpoint_of(folder, **settings):
    model = tiny_gpt(**SHAPE, **settings)
    path = folder / "ckpt.pt"
    save_checkpoint(path, {"model": model.state_dict(), "model_config": asdict(model.config), "tokenizer": "gpt2"})
    return path, model


@pytest.fixture(scope="module")
def rope_checkpoint(tmp_path_factory):
    return checkpoint_of(tmp_path_factory.mktemp("rope"), pos_emb="rope")


def evaluate_in_processes(*args):
    """evaluate.py under torchrun, on two gloo processes."""
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
    result = run_script("evaluate.py", *args, launcher=torchrun, env=SINGLE_THREAD)
    assert result.returncode == 0, result.stderr[-3000:]


def test_losses_by_position_equal_a_direct_computation_over_the_same_windows(rope_checkpoint, gpt2_docs, tmp_path):
    path, model = rope_checkpoint
    arguments = ("--checkpoint", path, "--data_dir", gpt2_docs, *SMALL, "--lengths", "1x,64", "--parts", "positions")
    arguments += ("--windows_from", "docs", "--windows", "50", "--json", tmp_path / "e.json")
    printed = run_command("evaluate.py", *arguments)
    positions = json.loads((tmp_path / "e.json").read_text())["methods"]["none"]["positions"]
    tokens = np.concatenate([read_shard(p)[0] for p in find_shards(gpt2_docs, "val")]).astype(np.int64)
    starts = [i + 1 for i in np.flatnonzero(tokens == 50256) if 50256 not in tokens[i + 1 : i + 66]]
    starts = [s for s in starts if s + 65 <= len(tokens)]  # documents of 65 tokens or more: both lengths read them
    for entry, length in zip(positions, (32, 64)):
        assert entry["windows"] == entry["available"] == len(starts) < 50  # fewer than asked: all of them, said
        assert f"{len(starts)} of {len(starts)}" in printed
        rows = torch.tensor(np.stack([tokens[s : s + length + 1] for s in starts]))
        with torch.no_grad():
            logits, _ = model(rows[:, :-1])
        losses = F.cross_entropy(logits.transpose(1, 2), rows[:, 1:], reduction="none")
        assert entry["loss"] == pytest.approx(losses.mean().item(), abs=1e-5)
        for b in entry["bins"]:
            assert b["loss"] == pytest.approx(losses[:, b["start"] : b["end"]].mean().item(), abs=1e-5)


@pytest.mark.integration
def test_two_gloo_processes_give_the_numbers_of_one(rope_checkpoint, gpt2_docs, tmp_path):
    path, _ = rope_checkpoint
    arguments = ("--checkpoint", path, "--data_dir", gpt2_docs, *SMALL, "--lengths", "1x,2x")
    arguments += ("--rope_scaling", "none,yarn", "--plots", tmp_path / "plots")
    run_command("evaluate.py", *arguments, "--json", tmp_path / "one.json")
    evaluate_in_processes(*arguments, "--json", tmp_path / "two.json")
    one, two = (json.loads((tmp_path / name).read_text()) for name in ("one.json", "two.json"))
    assert two["data"].pop("processes") == 2 and one["data"].pop("processes") == 1
    assert one.keys() == two.keys() and one["methods"].keys() == {"none", "yarn"}
    assert one["methods"]["yarn"]["rope"]["rope_scaling_factor"] == 2.0  # the longest length over the trained one

    def same(a, b):
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        if isinstance(a, float):
            return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
        return a == b

    assert same(one, two)
    for part in ("positions", "perplexity", "probe", "retrieval", "passkey"):
        assert one["methods"]["yarn"][part], part
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["perplexity.png", "positions.png", "probe.png"]


def test_a_learned_position_model_past_block_size_is_one_line_naming_rope(gpt2_docs, tmp_path):
    path, _ = checkpoint_of(tmp_path)
    arguments = ("--checkpoint", path, "--data_dir", gpt2_docs, "--json", tmp_path / "e.json", "--lengths", "1x,2x")
    result = run_script("evaluate.py", *arguments, env=SINGLE_THREAD)
    assert_one_line_error(result, "64 is past block_size 32", "pos_emb='rope'")
    assert not (tmp_path / "e.json").exists()


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["--lengths", "0"], "'0' is not a positive integer"),
        (["--lengths", "1x,abc"], "'abc' is not a positive integer"),
        (["--lengths=-2x"], "'-2x' is not a positive integer"),
        (["--lengths", "1.5x"], "'1.5x' is not a positive integer"),
        (["--rope_scaling", "yarn", "--rope_scaling_factor", "0"], "rope_scaling_factor must be >= 1"),
        (["--rope_scaling", "linear", "--rope_scaling_factor", "0.5"], "rope_scaling_factor must be >= 1"),
        (["--rope_scaling", "none", "--rope_scaling_factor", "2"], "applies to a --rope_scaling method other"),
        (["--rope_scaling", "none,ntk"], "--rope_scaling: unknown 'ntk'"),
        (["--windows_from", "shuffled"], "--windows_from must be one of stream, docs"),
        (["--windows", "0"], "--windows must be >= 1"),
        (["--stride", "33"], "--stride must be between 1 and the shortest length 32"),
        (["--parts", "positions,everything"], "--parts: unknown 'everything'"),
        (["--hf", "x"], "not allowed with argument --checkpoint"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(rope_checkpoint, gpt2_docs, tmp_path, arguments, message):
    from evaluate import main

    path, _ = rope_checkpoint
    common = ["--checkpoint", str(path), "--data_dir", str(gpt2_docs), "--json", str(tmp_path / "e.json")]
    with pytest.raises(UserError, match=message) as error:
        main([*common, "--plots", str(tmp_path / "plots"), *arguments])
    assert "\n" not in str(error.value) and list(tmp_path.iterdir()) == []


def test_a_folder_without_validation_shards_or_with_an_unknown_rope_type_is_refused(rope_checkpoint, tmp_path):
    from evaluate import main
    from gptkit.interop.hf_format import write_folder
    from gptkit.interop.pretrained import read_folder_config

    path, model = rope_checkpoint
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no val shards"):
        main(["--checkpoint", str(path), "--data_dir", str(tmp_path / "empty")])
    write_folder(tmp_path / "hf", asdict(model.config), model.state_dict(), "gpt2")
    content = read_folder_config(tmp_path / "hf")
    content["rope_parameters"]["rope_type"] = "llama3"
    (tmp_path / "hf" / "config.json").write_text(json.dumps(content))
    with pytest.raises(UserError, match="RoPE type 'llama3' is not implemented"):
        main(["--hf", str(tmp_path / "hf"), "--data_dir", str(tmp_path / "empty")])


def test_a_trained_tokenizer_model_is_evaluated_in_bits_per_byte_too(bpe_run, bpe_data_dir, tmp_path):
    """evaluate.py reads the checkpoint's tokenizer and the data folder's, and reports bits per byte beside the
    loss per token: bpb x ln 2 x the bytes of the scored tokens = loss x their number."""
    from gptkit.data.tokenizer import folder_tokenizer

    json_path = tmp_path / "result.json"
    source = ("--checkpoint", bpe_run / "ckpt.pt", "--data_dir", bpe_data_dir)
    run_command("evaluate.py", *source, *SMALL, "--json", json_path)
    result = json.loads(json_path.read_text())
    tokens = np.concatenate([read_shard(path)[0] for path in find_shards(bpe_data_dir, "val")])
    tokenizer = folder_tokenizer(result["model"]["tokenizer"], bpe_data_dir)
    entry = result["methods"]["none"]["perplexity"][0]
    length, scored = result["lengths"][0], entry["non_overlapping"]
    targets = tokens[1 : scored["tokens"] + 1]
    assert scored["windows"] * length == scored["tokens"]
    n_bytes = sum(tokenizer.token_bytes()[t] for t in targets)
    assert scored["bpb"] * math.log(2) * n_bytes == pytest.approx(scored["loss"] * scored["tokens"], rel=1e-6)


def test_a_model_and_data_of_different_tokenizers_are_refused_in_one_line(bpe_run, gpt2_docs, tmp_path):
    with one_line_refusal(f"{gpt2_docs} holds 'gpt2' tokens but {bpe_run / 'ckpt.pt'} reads 'bpe384-"):
        run_command("evaluate.py", "--checkpoint", bpe_run / "ckpt.pt", "--data_dir", gpt2_docs, *SMALL)
