"""gptkit/interop/pretrained.py: what read_pretrained decides a name or folder is (reading its config.json once, and
refusing a foreign folder before its weights), what a warm start takes from the run's config, and GPT-2's weights
in a padded, shorter model. GPT-2 into grouped-query attention, the refused settings and the folders' round trip
are tested in tests/test_model.py and tests/gptkit/interop/test_hf_format.py, through GPT.from_pretrained."""

import json
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from gptkit.errors import UserError
from gptkit.interop.hf_format import write_folder
from gptkit.interop.pretrained import (
    EXPORTED,
    OPENAI_GPT2,
    WARM_START_SETTINGS,
    PretrainedWeights,
    read_pretrained,
    warm_start_overrides,
)
from model import GPT, GPTConfig, load_model
from train import build_model

RUN_CONFIG = GPTConfig(block_size=32, vocab_size=320, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, dropout=0.1)


def config_reads(monkeypatch):
    """A list that grows by one each time a config.json is read."""
    reads, read_text = [], Path.read_text

    def counted(path, *args, **kwargs):
        if path.name == "config.json":
            reads.append(path)
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counted)
    return reads


def test_gpt2_folder_is_openai_gpt2_and_ours_an_export_each_config_read_once(tiny_hf_gpt2, tmp_path, monkeypatch):
    model = GPT(RUN_CONFIG)
    write_folder(tmp_path, asdict(model.config), model.state_dict(), "bytes")
    reads = config_reads(monkeypatch)
    gpt2, ours = read_pretrained(str(tiny_hf_gpt2[0])), read_pretrained(tmp_path)
    assert reads == [tiny_hf_gpt2[0] / "config.json", tmp_path / "config.json"]
    assert (gpt2.kind, gpt2.tokenizer, gpt2.model_config["n_layer"]) == (OPENAI_GPT2, "gpt2", 2)
    assert (ours.kind, ours.tokenizer, GPTConfig(**ours.model_config)) == (EXPORTED, "bytes", model.config)
    assert all(torch.equal(ours.state_dict[k], v) for k, v in model.state_dict().items())


def test_each_load_reads_config_json_once(tiny_hf_gpt2, tmp_path, monkeypatch):
    model = GPT(RUN_CONFIG)
    write_folder(tmp_path, asdict(model.config), model.state_dict(), "bytes")
    reads = config_reads(monkeypatch)
    for folder, tokenizer in [(tiny_hf_gpt2[0], "gpt2"), (tmp_path, "bytes")]:
        assert load_model(hf=str(folder))[1].name == tokenizer
        assert len(reads) == 1
        warm_start = SimpleNamespace(init_from=str(folder))  # train.py's --init_from=FOLDER
        assert build_model(RUN_CONFIG, {"n_kv_head": 2}, warm_start, checkpoint=None).config.n_kv_head == 2
        assert len(reads) == 2
        reads.clear()


@pytest.mark.parametrize("model_type", ["mistral", "llama"])  # llama: a family we export, but not our folder
def test_a_foreign_folder_is_refused_in_one_line_before_its_weights_are_read(tmp_path, model_type):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type, "hidden_size": 32}))
    with pytest.raises(UserError) as error:  # no weights in the folder: the refusal comes first
        read_pretrained(tmp_path)
    assert str(error.value) == (
        f"{tmp_path} holds a transformers model of type {model_type!r} that export_hf.py did not write: this "
        "repository reads OpenAI GPT-2 and the gpt2, starcoder2, gptkit, llama, qwen3, arcee folders export_hf.py "
        "writes"
    )


def test_gpt2_takes_the_configs_warm_start_settings_and_those_given(tiny_hf_gpt2):
    overrides = warm_start_overrides(read_pretrained(tiny_hf_gpt2[0]), RUN_CONFIG, {"n_kv_head": 2})
    assert overrides == dict(
        pos_emb="learned", rope_theta=10000.0, vocab_size=320, block_size=32, dropout=0.1, n_kv_head=2
    )
    hub_gpt2 = PretrainedWeights(OPENAI_GPT2, {}, {}, "gpt2")  # what a Hub name reads as
    assert warm_start_overrides(hub_gpt2, RUN_CONFIG, {}).keys() == WARM_START_SETTINGS


def test_a_folder_of_ours_takes_only_the_settings_given(tmp_path):
    model = GPT(RUN_CONFIG)
    write_folder(tmp_path, asdict(model.config), model.state_dict(), "bytes")
    assert warm_start_overrides(read_pretrained(tmp_path), RUN_CONFIG, {"dropout": 0.1}) == {"dropout": 0.1}


def test_gpt2_in_a_padded_vocabulary_and_a_shorter_context_computes_gpt2s_logits(tiny_hf_gpt2):
    folder, hf_model = tiny_hf_gpt2
    model = GPT.from_pretrained(str(folder), vocab_size=320, block_size=32).eval()
    assert model.transformer.wpe.weight.shape[0] == 32 and model.lm_head.weight.shape[0] == 320
    idx = torch.randint(0, 257, (2, 32))
    with torch.no_grad():
        ours, _ = model(idx)
        theirs = hf_model(idx).logits
    assert (ours[..., :257] - theirs).abs().max().item() <= 1e-4  # the fresh rows add logits, change none
