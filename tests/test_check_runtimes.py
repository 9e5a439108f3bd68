"""check_runtimes.py's own machinery, without the runtimes it installs (those take minutes to build): a worker
run as a separate process (here under this Python, the transformers installed here standing in for 4.57) answers
with a folder's tokens, logits and greedy tokens, and compare() finds them equal to model.py's; an answer that
differs is reported as differing. (The check itself, with llama.cpp, is run by hand: LOGBOOK.md.)"""

import sys
from dataclasses import asdict

import pytest

import check_runtimes
from conftest import tiny_gpt
from gptkit.checkpointing.checkpoint import save_checkpoint
from gptkit.interop.hf_format import write_folder

transformers = pytest.importorskip("transformers")


@pytest.mark.integration  # a worker process that imports transformers: ~10 s; the logits in process: test_hf_format.py
def test_worker_answer_of_our_folder_compares_equal(tmp_path):
    # random weights throughout, which make every logit and greedy token depend on them
    model = tiny_gpt(noise=0.1, block_size=128, vocab_size=50304, pos_emb="rope", n_kv_head=2)
    model_config = asdict(model.config)
    save_checkpoint(tmp_path / "ckpt.pt", {"model": model.state_dict(), "model_config": model_config, "step": 1})
    write_folder(tmp_path / "hf", model_config, model.state_dict(), "gpt2")
    text = check_runtimes.test_text()
    reference = check_runtimes.ours(tmp_path / "ckpt.pt", text)
    assert len(reference["text_tokens"]) > len(reference["tokens"]) == 128 - check_runtimes.NEW_TOKENS

    request = check_runtimes.request_of(reference, text, folder=str(tmp_path / "hf"), version=transformers.__version__)
    theirs = check_runtimes.in_worker(sys.executable, "transformers", request, tmp_path)
    row = check_runtimes.compare("transformers here", reference, theirs, text)
    assert row["tokens_equal"] and row["max_logit_difference"] <= 1e-4
    assert row["greedy_equal"] == check_runtimes.NEW_TOKENS

    theirs["tokens"][3] += 1
    theirs["logits"][5, 7] += 0.5
    theirs["greedy"][-1] += 1
    row = check_runtimes.compare("a runtime that differs", reference, theirs, text)
    assert not row["tokens_equal"] and row["max_logit_difference"] == pytest.approx(0.5, abs=1e-4)
    assert row["greedy_equal"] == check_runtimes.NEW_TOKENS - 1
