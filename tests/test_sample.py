from conftest import run_script, train


def test_sample_script_continues_a_prompt_from_a_checkpoint(data_dir, tmp_path):
    train("--max_iters=2", data_dir=data_dir, out_dir=tmp_path)
    args = ("--checkpoint", tmp_path / "ckpt.pt", "--prompt", "def ", "--num_samples", "2", "--max_new_tokens", "30")
    first, again = run_script("sample.py", *args), run_script("sample.py", *args)
    assert first.returncode == 0, first.stderr
    texts = first.stdout.split("-" * 80 + "\n")
    assert len(texts) == 3 and all(t.startswith("def ") for t in texts[:2])
    assert first.stdout == again.stdout  # the same seed gives the same text
