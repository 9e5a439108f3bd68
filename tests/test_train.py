import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import (
    CORE_BUNDLE,
    HELLASWAG_EXAMPLES,
    ROOT,
    TINY_RUN,
    assert_one_line_error,
    losses,
    one_line_refusal,
    train,
    train_in_process,
)
from gptkit.checkpointing.checkpoint import load_checkpoint
from gptkit.distributed import Run
from gptkit.evaluation.core import evaluate_core
from gptkit.evaluation.core_bundle import read_bundle
from gptkit.evaluation.hellaswag import evaluate_hellaswag
from gptkit.training.metrics import read_metrics
from model import load_model


def test_resumed_run_equals_uninterrupted_run(data_dir, tmp_path):
    # dropout makes the RNG state matter; the loader's position, the optimizer and the LR matter anyway
    common = ("--dropout=0.1", "--eval_interval=3", "--eval_iters=2")
    train("--max_iters=12", *common, data_dir=data_dir, out_dir=tmp_path / "whole")
    train("--max_iters=6", *common, data_dir=data_dir, out_dir=tmp_path / "halves")
    assert load_checkpoint(tmp_path / "halves" / "ckpt.pt")["step"] == 6
    train("--max_iters=12", "--init_from=resume", *common, data_dir=data_dir, out_dir=tmp_path / "halves")
    whole, halves = losses(tmp_path / "whole"), losses(tmp_path / "halves")
    assert sorted(whole) == sorted(halves) == list(range(1, 13))
    assert whole == halves  # identical floats, not merely close
    assert whole[12] < whole[1]


@pytest.mark.integration
def test_two_processes_equal_one_process_with_twice_the_accumulation(data_dir, tmp_path):
    # 256 tokens per step: one process 2 micro-steps of 4 x 32, or two processes 1 micro-step each
    train_in_process("--max_iters=5", data_dir=data_dir, out_dir=tmp_path / "one")
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
    train("--max_iters=5", data_dir=data_dir, out_dir=tmp_path / "two", launcher=torchrun)
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert sorted(one) == sorted(two) == [1, 2, 3, 4, 5]
    for step in one:
        assert one[step] == pytest.approx(two[step], abs=1e-5)


# Bad values of a TrainConfig or GPTConfig field (--dtype=float8, --n_head=3, ...) are checked on the dataclasses:
# tests/gptkit/test_config.py and tests/test_model.py; here, what train.py's own settings reader adds.
@pytest.mark.parametrize(
    "flag,message",
    [
        ("--n_layrs=2", "unknown config key 'n_layrs'"),
        ("--n_layer=two", "config key 'n_layer' must be int"),
    ],
)
def test_config_errors_are_one_line(data_dir, tmp_path, flag, message):
    with one_line_refusal(message):
        train_in_process(flag, data_dir=data_dir, out_dir=tmp_path)


def test_a_batch_that_does_not_split_into_micro_batches_is_one_line(data_dir, tmp_path):
    # found once the model and the process count are known, after the run lock: so in a process of its own
    result = train("--total_batch_tokens=300", data_dir=data_dir, out_dir=tmp_path, check=False)
    assert_one_line_error(result, "total_batch_tokens 300 is not a multiple of micro_batch_size")


def test_unknown_key_in_a_config_file_names_the_valid_keys(data_dir, tmp_path):
    config = tmp_path / "bad.py"
    config.write_text("import math\nn_layer = 2\nlearning_rat = math.pi\n")
    with one_line_refusal(r"unknown config key 'learning_rat' \(.*bad.py\); valid keys: .*learning_rate"):
        train_in_process(str(config), data_dir=data_dir, out_dir=tmp_path)


def test_sigterm_saves_a_checkpoint_that_resumes(data_dir, tmp_path):
    out_dir = tmp_path / "run"
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        *TINY_RUN,
        f"--data_dir={data_dir}",
        f"--out_dir={out_dir}",
        "--max_iters=100000",
        "--lr_decay_iters=100000",
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def logged_steps():  # whole lines only: the run may be writing the next one right now
        path = out_dir / "metrics.jsonl"
        return path.read_text().count("\n") if path.exists() else 0

    deadline = time.time() + 120
    while time.time() < deadline and logged_steps() < 3:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "stopped by a signal" in stdout
    step = load_checkpoint(out_dir / "ckpt.pt")["step"]
    assert step >= 3
    resume = (f"--max_iters={step + 2}", "--lr_decay_iters=100000", "--init_from=resume")
    train_in_process(*resume, data_dir=data_dir, out_dir=out_dir)
    assert load_checkpoint(out_dir / "ckpt.pt")["step"] == step + 2


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(data_dir, tiny_run_copy):
    good = load_checkpoint(tiny_run_copy / "ckpt.pt")
    result = train(
        "--max_iters=30",
        "--init_from=resume",
        "--learning_rate=1e30",
        "--min_lr=1e30",
        "--checkpoint_interval=1",
        data_dir=data_dir,
        out_dir=tiny_run_copy,
        check=False,
    )
    assert_one_line_error(result, "stopping", "the checkpoint of step 2")
    kept = load_checkpoint(tiny_run_copy / "ckpt.pt")
    for name, tensor in kept["model"].items():
        assert torch.isfinite(tensor).all(), name
    assert kept["step"] >= good["step"]


def test_damaged_checkpoint_is_a_one_line_error(data_dir, tmp_path):
    (tmp_path / "ckpt.pt").write_bytes(b"not a checkpoint at all")
    result = train("--max_iters=2", "--init_from=resume", data_dir=data_dir, out_dir=tmp_path, check=False)
    assert_one_line_error(result, "not a readable checkpoint")


@pytest.mark.integration  # wandb starts a service process of its own
def test_wandb_offline_writes_its_run_files(data_dir, tmp_path):
    pytest.importorskip("wandb")
    train("--max_iters=2", "--wandb_log=True", "--wandb_mode=offline", data_dir=data_dir, out_dir=tmp_path)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


def test_metrics_and_config_are_written(data_dir, tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 99, "loss": 1.0}\n')  # an older run in the same folder
    train_in_process("--max_iters=3", "--eval_interval=3", "--eval_iters=2", data_dir=data_dir, out_dir=tmp_path)
    records = read_metrics(tmp_path / "metrics.jsonl")
    train_records = [r for r in records if "loss" in r]
    assert [r["step"] for r in train_records] == [1, 2, 3]
    assert {"loss", "lr", "grad_norm", "step_ms", "tokens_per_s", "tokens"} <= set(train_records[0])
    assert [r["val_loss"] for r in records if "val_loss" in r][0] > 0
    assert (tmp_path / "config.json").exists()


def test_missing_data_is_a_one_line_error(tmp_path):
    result = train("--max_iters=1", data_dir=tmp_path / "nothing", out_dir=tmp_path / "out", check=False)
    assert_one_line_error(result, "no train shards")


@pytest.mark.integration
def test_compiled_training_equals_eager(data_dir, tmp_path):
    # every toggle at once: RoPE, GQA and MoE through torch.compile (the MoE takes its compile-friendly path)
    model = ("--pos_emb=rope", "--n_kv_head=1", "--n_expert=4", "--max_iters=3")
    train_in_process(*model, data_dir=data_dir, out_dir=tmp_path / "eager")
    train(*model, "--compile=True", data_dir=data_dir, out_dir=tmp_path / "compiled")  # compiled caches: not here
    eager, compiled = losses(tmp_path / "eager"), losses(tmp_path / "compiled")
    assert sorted(eager) == sorted(compiled) == [1, 2, 3]
    for step in eager:
        assert eager[step] == pytest.approx(compiled[step], abs=1e-4)


# GPT-2 tokens, so that HellaSwag can run during training
GPT2_RUN = ("--vocab_size=50304", "--max_iters=2", "--eval_iters=1", "--sample_tokens=8")


@pytest.fixture(scope="module")
def busy_run(tmp_path_factory, gpt2_data_dir):
    """(out_dir, stdout) of a run with every interval on: log and checkpoint each step, the rest every 2 steps."""
    out_dir = tmp_path_factory.mktemp("busy")
    on = ("--eval_interval=2", "--log_interval=1", "--checkpoint_interval=1", "--sample_interval=2")
    on += ("--hellaswag_interval=2", f"--hellaswag_data={HELLASWAG_EXAMPLES}")
    on += ("--core_interval=2", f"--core_bundle={CORE_BUNDLE}")
    return out_dir, train_in_process(*GPT2_RUN, *on, data_dir=gpt2_data_dir, out_dir=out_dir)


def test_hellaswag_accuracy_is_logged_while_training(busy_run):
    records = [r for r in read_metrics(busy_run[0] / "metrics.jsonl") if "hellaswag_acc_norm" in r]
    assert [r["step"] for r in records] == [2]
    assert records[0]["hellaswag_acc_norm"] in (0.0, 0.25, 0.5, 0.75, 1.0)


def test_hellaswag_and_core_on_byte_level_data_score_as_the_commands_score_the_checkpoint(data_dir, tmp_path):
    evaluations = ("--hellaswag_interval=1", f"--hellaswag_data={HELLASWAG_EXAMPLES}", "--core_interval=1")
    train_in_process("--max_iters=1", *evaluations, f"--core_bundle={CORE_BUNDLE}", data_dir=data_dir, out_dir=tmp_path)
    logged = {key: r[key] for r in read_metrics(tmp_path / "metrics.jsonl") for key in r if r["step"] == 1}
    model, tokenizer = load_model(tmp_path / "ckpt.pt")  # the model of step 1, the one evaluated
    assert tokenizer.name == "bytes"
    hellaswag = evaluate_hellaswag(model, Run(), tokenizer, data_path=HELLASWAG_EXAMPLES)
    assert logged["hellaswag_acc_norm"] == hellaswag["acc_norm"]
    assert logged["core"] == pytest.approx(evaluate_core(model, Run(), tokenizer, read_bundle(CORE_BUNDLE))["core"])


def test_missing_hellaswag_file_stops_before_training(tmp_path, gpt2_data_dir):
    missing = f"--hellaswag_data={tmp_path / 'none.jsonl'}"
    result = train(
        "--hellaswag_interval=1",
        missing,
        "--vocab_size=50304",
        "--max_iters=2",
        data_dir=gpt2_data_dir,
        out_dir=tmp_path,
        check=False,
    )
    assert result.returncode == 1 and "not found" in result.stderr
    assert not (tmp_path / "metrics.jsonl").exists()  # no step was taken


def test_train_with_auto_micro_batch_logs_the_choice(data_dir, tmp_path):
    auto = ("--micro_batch_size=auto", "--total_batch_tokens=640", "--max_iters=1")
    printed = train_in_process(*auto, data_dir=data_dir, out_dir=tmp_path)
    assert "micro_batch_size auto: 10 (gradient accumulation 2)" in printed


# Bad training values (--max_iters=-1, --micro_batch_size=0, --dtype=float8, ...): tests/gptkit/test_config.py on
# TrainConfig, and what train.py does around them: tests/test_train_bad_input.py


# ----------------------------------------------------------------------------------------------------------
# No silent drops: a warm start or a resume that cannot honour a model setting refuses it


def gpt2_warm_start(folder, *flags):
    """Flags for a warm start from the tiny GPT-2 folder: TINY_RUN's shape, but GPT-2's 4 heads."""
    return (f"--init_from={folder}", "--n_head=4", "--max_iters=1", *flags)


def test_gpt2_warm_start_that_cannot_honour_a_flag_stops_naming_it(data_dir, tmp_path, tiny_hf_gpt2):
    result = train(*gpt2_warm_start(tiny_hf_gpt2[0], "--n_layer=4"), data_dir=data_dir, out_dir=tmp_path, check=False)
    # transformers reports its loading progress on stderr first; the error is the one last line
    assert result.returncode == 1 and "Traceback" not in result.stderr
    message = "error: a GPT-2 warm start keeps GPT-2's shape; these settings cannot be honoured: n_layer=4 (GPT-2: 2)"
    assert result.stderr.strip().splitlines()[-1] == message
    assert not (tmp_path / "ckpt.pt").exists()


def test_gpt2_warm_start_into_grouped_query_attention_trains(data_dir, tmp_path, tiny_hf_gpt2):
    train_in_process(*gpt2_warm_start(tiny_hf_gpt2[0], "--n_kv_head=2"), data_dir=data_dir, out_dir=tmp_path)
    checkpoint = load_checkpoint(tmp_path / "ckpt.pt")
    assert checkpoint["model_config"]["n_kv_head"] == 2 and checkpoint["step"] == 1
    assert checkpoint["model"]["transformer.h.0.attn.c_attn.weight"].shape == (32 + 2 * 2 * 8, 32)


def test_resume_with_another_model_shape_is_refused_and_keeps_the_checkpoint(data_dir, tiny_run_copy):
    saved = (tiny_run_copy / "ckpt.pt").read_bytes()
    other_shape = ("--max_iters=4", "--init_from=resume", "--n_layer=4", "--n_embd=64")
    result = train(*other_shape, data_dir=data_dir, out_dir=tiny_run_copy, check=False)
    assert_one_line_error(result, "n_embd=64 (the checkpoint: 32), n_layer=4 (the checkpoint: 2)")
    assert (tiny_run_copy / "ckpt.pt").read_bytes() == saved
    train_in_process("--max_iters=3", "--init_from=resume", "--dropout=0.1", data_dir=data_dir, out_dir=tiny_run_copy)
    assert load_checkpoint(tiny_run_copy / "ckpt.pt")["step"] == 3


def test_a_rope_run_continues_at_a_longer_block_size_with_yarn_keeping_its_original_length(
    data_dir, tmp_path, tiny_run_copy
):
    train_in_process("--max_iters=2", "--pos_emb=rope", data_dir=data_dir, out_dir=tmp_path)
    longer = ("--max_iters=4", "--init_from=resume", "--pos_emb=rope", "--block_size=64", "--micro_batch_size=2")
    yarn = ("--rope_scaling=yarn", "--rope_scaling_factor=2")
    printed = train_in_process(*longer, *yarn, data_dir=data_dir, out_dir=tmp_path)
    assert "block_size 32 -> 64: the data stream starts from its beginning" in printed
    checkpoint = load_checkpoint(tmp_path / "ckpt.pt")
    assert checkpoint["step"] == 4
    config = checkpoint["model_config"]
    assert (config["block_size"], config["rope_scaling"], config["rope_original_block_size"]) == (64, "yarn", 32)
    assert all(torch.isfinite(torch.tensor(loss)) for loss in losses(tmp_path).values())
    # learned positions (tiny_run's) are a table of block_size rows: refused in one line, the checkpoint kept
    saved = (tiny_run_copy / "ckpt.pt").read_bytes()
    result = train(*longer[:2], "--block_size=64", data_dir=data_dir, out_dir=tiny_run_copy, check=False)
    assert_one_line_error(result, "learned positions for 32 tokens: block_size=64 cannot be honoured")
    assert (tiny_run_copy / "ckpt.pt").read_bytes() == saved


# ----------------------------------------------------------------------------------------------------------
# 0 turns an interval off


def records_with(out_dir, key):
    path = out_dir / "metrics.jsonl"
    return [r["step"] for r in read_metrics(path) if key in r] if path.exists() else []


def saved_at(stdout):
    return [int(line.split()[1].rstrip(":")) for line in stdout.splitlines() if "checkpoint saved" in line]


def test_every_interval_at_zero_turns_its_feature_off(busy_run, gpt2_data_dir, tmp_path):
    off = ("--eval_interval=0", "--log_interval=0", "--checkpoint_interval=0", "--sample_interval=0")
    off += ("--hellaswag_interval=0", f"--hellaswag_data={tmp_path / 'none.jsonl'}")  # not even looked for
    off += ("--core_interval=0", f"--core_bundle={tmp_path / 'none'}")
    quiet = train_in_process(*GPT2_RUN, *off, data_dir=gpt2_data_dir, out_dir=tmp_path)
    busy_dir, busy_stdout = busy_run
    for key, steps in (("loss", [1, 2]), ("val_loss", [2]), ("hellaswag_acc_norm", [2]), ("core", [2])):
        assert records_with(busy_dir, key) == steps
        assert records_with(tmp_path, key) == []
    assert saved_at(busy_stdout) == [1, 2] and saved_at(quiet) == [2]  # the final checkpoint always
    assert load_checkpoint(tmp_path / "ckpt.pt")["step"] == 2
    assert "step 2 sample:" in busy_stdout and "sample:" not in quiet


def test_auto_resume_appends_to_the_runs_metrics(data_dir, tiny_run_copy):
    train_in_process("--max_iters=4", "--init_from=auto", data_dir=data_dir, out_dir=tiny_run_copy)
    assert sorted(losses(tiny_run_copy)) == [1, 2, 3, 4]  # the steps before the restart are kept


def test_a_run_on_trained_tokenizer_shards_logs_bits_per_byte_as_computed_directly(bpe_run, bpe_data_dir):
    """The logged val_bpb of the last step equals the checkpoint's summed loss over the same validation windows
    (eval_iters=2 batches of micro_batch_size=4 read in order) over ln 2 and the UTF-8 bytes they spell."""
    import math

    from gptkit.data.dataloader import validation_batches
    from gptkit.data.shards import find_shards
    from gptkit.data.tokenizer import folder_tokenizer, saved_tokenizer
    from model import GPT

    checkpoint = load_checkpoint(bpe_run / "ckpt.pt")
    tokenizer = saved_tokenizer(checkpoint, "ckpt.pt")  # the checkpoint alone knows its tokenizer
    assert tokenizer.definition == (bpe_data_dir / "tokenizer.json").read_text()
    assert tokenizer.name == folder_tokenizer(checkpoint["tokenizer"], bpe_data_dir).name
    model = GPT.from_checkpoint(checkpoint).eval()
    nats = n_bytes = 0.0
    windows = validation_batches(find_shards(bpe_data_dir, "val"), batch_size=4, block_size=32, num_batches=2)
    for x, y in windows:
        with torch.no_grad():
            logits, _ = model(x)
        losses = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        for loss, target in zip(losses.tolist(), y.flatten().tolist()):
            if target != tokenizer.eot_token:
                nats += loss
                n_bytes += len(tokenizer.decode([target]).encode("utf-8", errors="surrogatepass"))
    logged = [r for r in read_metrics(bpe_run / "metrics.jsonl") if "val_bpb" in r]
    assert [r["step"] for r in logged] == [2, 4]
    assert logged[-1]["val_bpb"] == pytest.approx(nats / math.log(2) / n_bytes, rel=1e-4)


def test_resuming_on_shards_of_another_tokenizer_is_one_line_and_writes_nothing(bpe_run, tmp_path):
    import shutil

    from conftest import BPE_VOCAB, snapshot, tiny_bpe
    from gptkit.data.corpus import embedded_documents, prepare_texts

    other = tiny_bpe(documents=10)  # as many tokens, other merges: only the names tell them apart
    prepare_texts(embedded_documents()[:20], tmp_path / "other", other, workers=1)
    out_dir = shutil.copytree(bpe_run, tmp_path / "run")
    before = snapshot(out_dir)
    flags = [f"--vocab_size={BPE_VOCAB}", "--max_iters=6", "--init_from=resume"]
    result = train(*flags, data_dir=tmp_path / "other", out_dir=out_dir, check=False)
    assert_one_line_error(result, f"holds '{other.name}' tokens but {out_dir / 'ckpt.pt'} reads 'bpe384-")
    assert snapshot(out_dir) == before
