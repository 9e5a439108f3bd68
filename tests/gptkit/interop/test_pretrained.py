"""gptkit/interop/pretrained.py: what a warm start takes from the run's config, and GPT-2's weights in a padded, shorter
model. GPT-2 into grouped-query attention, the refused settings and the folders' round trip are tested in
tests/test_model.py and tests/gptkit/interop/test_hf_format.py, through GPT.from_pretrained."""

from dataclasses import asdict

import torch

from gptkit.interop.hf_format import write_folder
from gptkit.interop.pretrained import WARM_START_SETTINGS, warm_start_overrides
from model import GPT, GPTConfig

RUN_CONFIG = GPTConfig(block_size=32, vocab_size=320, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, dropout=0.1)


def test_gpt2_takes_the_configs_warm_start_settings_and_those_given(tiny_hf_gpt2):
    overrides = warm_start_overrides(str(tiny_hf_gpt2[0]), RUN_CONFIG, {"n_kv_head": 2})
    assert overrides == dict(
        pos_emb="learned", rope_theta=10000.0, vocab_size=320, block_size=32, dropout=0.1, n_kv_head=2
    )
    assert warm_start_overrides("gpt2-medium", RUN_CONFIG, {}).keys() == WARM_START_SETTINGS  # a Hub name
    assert WARM_START_SETTINGS <= set(overrides)


def test_a_folder_of_ours_takes_only_the_settings_given(tmp_path):
    model = GPT(RUN_CONFIG)
    write_folder(tmp_path, asdict(model.config), model.state_dict(), "bytes")
    assert warm_start_overrides(str(tmp_path), RUN_CONFIG, {"dropout": 0.1}) == {"dropout": 0.1}


def test_gpt2_in_a_padded_vocabulary_and_a_shorter_context_computes_gpt2s_logits(tiny_hf_gpt2):
    folder, hf_model = tiny_hf_gpt2
    model = GPT.from_pretrained(str(folder), vocab_size=320, block_size=32).eval()
    assert model.transformer.wpe.weight.shape[0] == 32 and model.lm_head.weight.shape[0] == 320
    idx = torch.randint(0, 257, (2, 32))
    with torch.no_grad():
        ours, _ = model(idx)
        theirs = hf_model(idx).logits
    assert (ours[..., :257] - theirs).abs().max().item() <= 1e-4  # the fresh rows add logits, change none
