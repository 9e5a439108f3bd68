import json

import pytest

from bench import variant_config
from conftest import run_script
from gptkit.config import TrainConfig
from gptkit.distributed import Run
from gptkit.micro_batch import find_micro_batch_size
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
    result = run_script("bench.py", *TINY, variants, "--compile=off", "--warmup=1", "--steps=2", "--json", out)
    assert result.returncode == 0, result.stderr[-2000:]
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
    assert "variant" in result.stdout.splitlines()[0]


def test_variants_change_only_what_they_name():
    base = GPTConfig(n_head=16, n_kv_head=16)
    assert variant_config(base, "gqa").n_kv_head == 4
    assert variant_config(variant_config(base, "gqa"), "mha").n_kv_head == 16
    assert variant_config(base, "rope").pos_emb == "rope" and variant_config(base, "rope").n_layer == 12


@pytest.mark.parametrize("total_sequences,world_size,expected", [(20, 1, 10), (20, 2, 10), (48, 2, 12), (7, 1, 7)])
def test_auto_micro_batch_divides_the_total_batch_and_falls_back_on_cpu(total_sequences, world_size, expected):
    model = GPT(GPTConfig(vocab_size=257, block_size=32, n_layer=1, n_head=2, n_embd=16))
    cfg = TrainConfig(total_batch_tokens=total_sequences * 32, micro_batch_size="auto")
    chosen = find_micro_batch_size(model, cfg, Run(world_size=world_size, device="cpu"))
    assert chosen == expected
    assert cfg.total_batch_tokens % (chosen * 32 * world_size) == 0


def test_train_with_auto_micro_batch_logs_the_choice(tmp_path):
    from gptkit.corpus import embedded_documents, prepare_texts

    prepare_texts(embedded_documents()[:5], tmp_path / "docs", "bytes", workers=1)
    data_dir, out_dir = f"--data_dir={tmp_path / 'docs'}", f"--out_dir={tmp_path}"
    auto = ("--micro_batch_size=auto", "--total_batch_tokens=640", "--max_iters=1", "--compile=False")
    result = run_script("train.py", *TINY, *auto, data_dir, out_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "micro_batch_size auto: 10 (gradient accumulation 2)" in result.stdout
