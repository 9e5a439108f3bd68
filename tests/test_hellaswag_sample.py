import json
import sys
from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F

from conftest import run_script
from gptkit.checkpoint import save_checkpoint
from gptkit.distributed import Run
from gptkit.hellaswag import evaluate_hellaswag, render_example
from gptkit.sampling import sample
from gptkit.tokenizer import get_tokenizer
from model import GPT, GPTConfig

# Invented examples in HellaSwag's format (not taken from the dataset).
EXAMPLES = [
    {
        "ctx": "The chef cracks two eggs into a bowl and",
        "label": 2,
        "endings": ["paints the fence blue.", "sings to the moon.", "whisks them with a fork.", "parks the truck."],
    },
    {
        "ctx": "A boy ties his shoes, then he",
        "label": 0,
        "endings": ["runs out to the playground.", "melts into the floor.", "orbits the sun twice.", "eats the lamp."],
    },
    {
        "ctx": "She opens the umbrella because",
        "label": 1,
        "endings": ["the cat is hungry.", "it starts to rain heavily on the street.", "pizza.", "the piano is tuned."],
    },
    {
        "ctx": "The team lines up on the field and the referee",
        "label": 3,
        "endings": ["bakes bread.", "knits a scarf for the goalkeeper's aunt.", "sleeps.", "blows the whistle."],
    },
]


@pytest.fixture
def examples_file(tmp_path):
    path = tmp_path / "invented.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES))
    return path


def small_gpt2(**overrides):
    torch.manual_seed(0)
    config = dict(block_size=64, vocab_size=50304, n_layer=2, n_head=2, n_embd=32)
    return GPT(GPTConfig(**{**config, **overrides})).eval()


def plain_choice(model, tokenizer, example):
    """One ending at a time, no padding or masks: the (summed, mean) loss choices written out plainly."""
    context = tokenizer.encode(example["ctx"])
    sums, means = [], []
    for ending in example["endings"]:
        ending_tokens = tokenizer.encode(" " + ending)
        tokens = torch.tensor([context + ending_tokens])
        with torch.no_grad():
            logits, _ = model(tokens)
        log_probs = F.log_softmax(logits[0].float(), dim=-1)
        losses = [-log_probs[len(context) + j - 1, t].item() for j, t in enumerate(ending_tokens)]
        sums.append(sum(losses))
        means.append(sum(losses) / len(losses))
    return sums.index(min(sums)), means.index(min(means))


def test_batched_scores_equal_one_ending_at_a_time(examples_file):
    model = small_gpt2()
    tokenizer = get_tokenizer("gpt2")
    result = evaluate_hellaswag(model, examples_file, Run())
    assert result["examples"] == 4
    for i, prediction, prediction_norm in result["predictions"]:
        assert (prediction, prediction_norm) == plain_choice(model, tokenizer, EXAMPLES[i])
    labels = [e["label"] for e in EXAMPLES]
    assert result["acc"] == sum(p == labels[i] for i, p, _ in result["predictions"]) / 4
    assert result["acc_norm"] == sum(p == labels[i] for i, _, p in result["predictions"]) / 4


def test_an_ending_the_model_prefers_is_counted_right(examples_file):
    tokenizer = get_tokenizer("gpt2")
    model = small_gpt2(tie_embeddings=False)
    example = EXAMPLES[0]
    preferred = set(tokenizer.encode(" " + example["endings"][example["label"]]))
    with torch.no_grad():  # the final LayerNorm outputs a constant; the output layer turns it into fixed logits
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.zero_()
        model.transformer.ln_f.bias[0] = 1.0
        model.lm_head.weight.zero_()
        model.lm_head.weight[:, 0] = -5.0
        model.lm_head.weight[sorted(preferred), 0] = 5.0
    result = evaluate_hellaswag(model, examples_file, Run(), limit=1)
    assert result["predictions"] == [(0, 2, 2)]
    assert result["acc"] == result["acc_norm"] == 1.0


def test_render_marks_only_the_ending_tokens():
    tokenizer = get_tokenizer("gpt2")
    tokens, mask = render_example(tokenizer, EXAMPLES[2], max_len=64)
    context = tokenizer.encode(EXAMPLES[2]["ctx"])
    for row in range(4):
        ending = tokenizer.encode(" " + EXAMPLES[2]["endings"][row])
        assert tokens[row, mask[row]].tolist() == ending
        assert tokens[row, : len(context)].tolist() == context


def test_hf_folder_and_checkpoint_of_the_same_weights_agree(examples_file, tmp_path):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    hf_model = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=64))
    hf_model.save_pretrained(tmp_path / "hf")
    model = GPT.from_pretrained(str(tmp_path / "hf"))
    save_checkpoint(tmp_path / "ckpt.pt", {"model": model.state_dict(), "model_config": asdict(model.config)})

    def run(*source, launcher=(sys.executable,)):
        out = tmp_path / f"{source[0][2:]}{len(launcher)}.json"
        options = ("--data", examples_file, "--device", "cpu", "--json", out)
        result = run_script("hellaswag.py", *source, *options, launcher=launcher)
        assert result.returncode == 0, result.stderr[-2000:]
        return json.loads(out.read_text())

    through_hf = run("--hf", str(tmp_path / "hf"))
    through_checkpoint = run("--checkpoint", str(tmp_path / "ckpt.pt"))
    assert through_hf["predictions"] == through_checkpoint["predictions"]
    assert through_hf["examples"] == 4
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
    two_processes = run("--checkpoint", str(tmp_path / "ckpt.pt"), launcher=torchrun)
    assert two_processes == through_checkpoint  # examples split across ranks, gathered back in order


def test_missing_hellaswag_file_is_a_one_line_error(tmp_path):
    result = run_script("hellaswag.py", "--hf", "gpt2", "--data", tmp_path / "none.jsonl")
    assert result.returncode == 1 and result.stderr.strip().startswith("error: ")


def test_sampling_with_a_seed_is_reproducible():
    model = small_gpt2(pos_emb="rope")
    tokenizer = get_tokenizer("gpt2")
    first = sample(model, tokenizer, "Hello", 2, 20, 1.0, 50, seed=3, device="cpu")
    again = sample(model, tokenizer, "Hello", 2, 20, 1.0, 50, seed=3, device="cpu")
    other = sample(model, tokenizer, "Hello", 2, 20, 1.0, 50, seed=4, device="cpu")
    assert first == again and first != other


@pytest.mark.parametrize("temperature,top_k", [(0.0, 200), (0.8, 1)])
def test_zero_temperature_or_top_k_one_is_greedy(temperature, top_k):
    model = small_gpt2()
    tokenizer = get_tokenizer("gpt2")
    prompt = tokenizer.encode("Hello world")
    tokens = list(prompt)
    for _ in range(15):  # greedy decoding written out: the most likely next token, the whole prefix re-read
        with torch.no_grad():
            logits, _ = model(torch.tensor([tokens]))
        tokens.append(logits[0, -1].argmax().item())
    text = sample(model, tokenizer, "Hello world", 1, 15, temperature, top_k, seed=0, device="cpu")[0]
    assert text == tokenizer.decode(tokens[len(prompt) :])


def test_download_failure_names_the_data_option(tmp_path):
    from gptkit.errors import UserError
    from gptkit.hellaswag import hellaswag_file

    with pytest.raises(UserError, match="--data"):
        hellaswag_file(cache_file=tmp_path / "hellaswag_val.jsonl", url="http://127.0.0.1:9/hellaswag_val.jsonl")
    assert not (tmp_path / "hellaswag_val.jsonl").exists()
