"""sample.py: a prompt continued from a checkpoint, the same text for the same seed, and a RoPE model read past its
block_size with a scaling from the flags. sample.py runs in this process, but for the one test of what a user sees
on the command line."""

from dataclasses import asdict

import torch

from conftest import assert_one_line_error, run_command, run_script, tiny_gpt
from gptkit.checkpointing.checkpoint import save_checkpoint


def test_sample_script_continues_a_prompt_from_a_checkpoint(tiny_run):
    args = ("--checkpoint", tiny_run / "ckpt.pt", "--prompt", "def ", "--num_samples", "2", "--max_new_tokens", "30")
    first, again = run_command("sample.py", *args), run_command("sample.py", *args)
    texts = first.split("-" * 80 + "\n")
    assert len(texts) == 3 and all(t.startswith("def ") for t in texts[:2])
    assert first == again  # the same seed gives the same text


def test_sample_reads_a_rope_model_past_block_size_with_a_scaling_from_the_flags(tmp_path):
    model = tiny_gpt(vocab_size=257, n_head=2, pos_emb="rope")
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(8.0)  # sharp attention, so that positions matter to the text
    checkpoint = {"model": model.state_dict(), "model_config": asdict(model.config), "tokenizer": "bytes"}
    save_checkpoint(tmp_path / "ckpt.pt", checkpoint)
    args = ("--checkpoint", tmp_path / "ckpt.pt", "--prompt", "def ", "--num_samples", "1", "--max_new_tokens", "80")
    plain = run_command("sample.py", *args)
    yarn = run_command("sample.py", *args, "--rope_scaling", "yarn", "--rope_scaling_factor", "4")
    assert plain != yarn  # 80 new tokens after a 4-token prompt: past block_size 32, stretched
    prompt = "def first(items):\n    return items[0]\n\n\n"  # 40 bytes: past block_size, and read whole
    whole, cut = (run_command("sample.py", *args[:2], "--prompt", text, *args[4:]) for text in (prompt, prompt[-31:]))
    assert whole.removeprefix(prompt) != cut.removeprefix(prompt[-31:])
    # what a user sees of a bad input: one line on stderr, exit code 1
    refused = run_script("sample.py", *args, "--rope_scaling", "ntk")
    assert_one_line_error(refused, "rope_scaling must be one of none, linear, dynamic, yarn, got 'ntk'")


def test_a_checkpoint_copied_alone_samples_with_its_trained_tokenizer(bpe_run, tmp_path):
    import shutil

    copied = shutil.copy(bpe_run / "ckpt.pt", tmp_path / "ckpt.pt")  # no data folder, no tokenizer.json beside
    args = ("--checkpoint", copied, "--prompt", "The for statement", "--num_samples", "1", "--max_new_tokens", "20")
    printed = run_command("sample.py", *args, "--device", "cpu")
    assert printed.startswith("The for statement") and len(printed) > len("The for statement") + 10
