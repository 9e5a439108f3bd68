import json
from dataclasses import replace

import pytest

from bench import variant_config
from conftest import assert_one_line_error, run_command, run_script
from model import GPT, GPTConfig

TINY = [
    "--vocab_size=257",
    "--block_size=32",
    "--n_layer=2",
    "--n_head=4",
    "--n_embd=32",
    "--micro_batch_size=4",
    "--device=cpu",
]
FIELDS = {
    "variant",
    "compile",
    "device",
    "dtype",
    "micro_batch_size",
    "block_size",
    "params",
    "active_params",
    "flops_per_token",
    "step_ms",
    "tokens_per_s",
    "tflops",
    "mfu",
    "peak_memory_gb",
}


def test_bench_runs_on_cpu_and_reports_every_field(tmp_path):
    out = tmp_path / "bench.json"
    variants = "--variants=learned,rope,gqa,moe_top1,moe"
    printed = run_command("bench.py", *TINY, variants, "--compile=off", "--warmup=1", "--steps=2", "--json", out)
    rows = json.loads(out.read_text())
    assert [r["variant"] for r in rows] == ["learned", "rope", "gqa", "moe_top1", "moe"]
    base = GPTConfig(vocab_size=257, block_size=32, n_layer=2, n_head=4, n_embd=32)
    for row in rows:
        assert set(row) == FIELDS
        model = GPT(variant_config(base, row["variant"]))
        assert row["flops_per_token"] == model.flops_per_token()  # the count model.py gives train.py too
        assert row["tflops"] == pytest.approx(row["flops_per_token"] * row["tokens_per_s"] / 1e12)
        assert row["tokens_per_s"] == pytest.approx(4 * 32 / (row["step_ms"] / 1000))
        assert row["mfu"] is None  # a CPU has no entry in the peak table
    by_name = {r["variant"]: r for r in rows}
    assert by_name["moe_top1"]["active_params"] == by_name["learned"]["params"] + 2 * 32 * 8  # + the routers
    assert by_name["moe"]["active_params"] > by_name["moe_top1"]["active_params"]
    assert "variant" in printed.splitlines()[0]


def test_variants_change_only_what_they_name():
    base = GPTConfig(n_head=16, n_kv_head=16)
    assert variant_config(base, "gqa").n_kv_head == 4
    assert variant_config(variant_config(base, "gqa"), "mha").n_kv_head == 16
    assert variant_config(base, "rope").pos_emb == "rope" and variant_config(base, "rope").n_layer == 12
    new_block = GPTConfig(norm="rmsnorm", norm_weights=False, qk_norm=True, mlp_activation="relu2", logit_softcap=15.0)
    new_block = replace(new_block, embedding_norm=True, residual_scalars=True, value_embeddings=True, bias=False)
    gpt2_block = variant_config(new_block, "gpt2_block")
    assert gpt2_block == replace(GPTConfig(), bias=False)  # the block's toggles at GPT-2's values, the rest kept


def test_an_unknown_dtype_is_one_line(tmp_path):
    result = run_script("bench.py", *TINY, "--dtype=float8", "--steps=1")
    assert_one_line_error(result, "dtype must be one of auto, float32, bfloat16, float16, got 'float8'")
