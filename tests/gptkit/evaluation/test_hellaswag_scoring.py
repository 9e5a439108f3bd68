import pytest
import torch
import torch.nn.functional as F

from conftest import TINY_GPT2, hellaswag_examples, tiny_gpt
from gptkit.data.tokenizer import get_tokenizer
from gptkit.distributed import Run
from gptkit.errors import UserError
from gptkit.evaluation.hellaswag import evaluate_hellaswag, hellaswag_file, render_example


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


@pytest.mark.parametrize("tokenizer_name,vocab_size", [("gpt2", 50304), ("bytes", 257)])  # the model's, whichever
def test_batched_scores_equal_one_ending_at_a_time(examples_file, tokenizer_name, vocab_size):
    model = tiny_gpt(**{**TINY_GPT2, "vocab_size": vocab_size, "block_size": 128})  # byte rows are ~100 tokens
    tokenizer = get_tokenizer(tokenizer_name)
    examples = hellaswag_examples()
    result = evaluate_hellaswag(model, Run(), tokenizer, data_path=examples_file)
    assert result["examples"] == 4
    for i, prediction, prediction_norm in result["predictions"]:
        assert (prediction, prediction_norm) == plain_choice(model, tokenizer, examples[i])
    labels = [e["label"] for e in examples]
    assert result["acc"] == sum(p == labels[i] for i, p, _ in result["predictions"]) / 4
    assert result["acc_norm"] == sum(p == labels[i] for i, _, p in result["predictions"]) / 4


def test_an_ending_the_model_prefers_is_counted_right(examples_file):
    tokenizer = get_tokenizer("gpt2")
    model = tiny_gpt(**TINY_GPT2, tie_embeddings=False)
    example = hellaswag_examples()[0]
    preferred = set(tokenizer.encode(" " + example["endings"][example["label"]]))
    with torch.no_grad():  # the final LayerNorm outputs a constant; the output layer turns it into fixed logits
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.zero_()
        model.transformer.ln_f.bias[0] = 1.0
        model.lm_head.weight.zero_()
        model.lm_head.weight[:, 0] = -5.0
        model.lm_head.weight[sorted(preferred), 0] = 5.0
    result = evaluate_hellaswag(model, Run(), tokenizer, data_path=examples_file, limit=1)
    assert result["predictions"] == [(0, 2, 2)]
    assert result["acc"] == result["acc_norm"] == 1.0


def test_render_marks_only_the_ending_tokens():
    tokenizer = get_tokenizer("gpt2")
    example = hellaswag_examples()[2]
    tokens, mask = render_example(tokenizer, example, max_len=64)
    context = tokenizer.encode(example["ctx"])
    for row in range(4):
        ending = tokenizer.encode(" " + example["endings"][row])
        assert tokens[row, mask[row]].tolist() == ending
        assert tokens[row, : len(context)].tolist() == context


def test_download_failure_names_the_data_option(tmp_path):
    with pytest.raises(UserError, match="--data"):
        hellaswag_file(cache_file=tmp_path / "hellaswag_val.jsonl", url="http://127.0.0.1:9/hellaswag_val.jsonl")
    assert not (tmp_path / "hellaswag_val.jsonl").exists()
