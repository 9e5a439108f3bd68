"""gptkit/evaluation/core.py: prompts rendered as nanochat renders them; on the shipped bundle, accuracies equal the
ones worked out by hand for a model whose predictions are known, and equal a plain per-prompt computation for a
small GPT."""

import os
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from conftest import CORE_BUNDLE
from gptkit.data.tokenizer import get_tokenizer
from gptkit.distributed import Run
from gptkit.evaluation.core import crop, evaluate_core, example_is_right, fewshot_examples, render_prompts
from gptkit.evaluation.core_bundle import Task, read_bundle
from model import GPT, GPTConfig


def task(task_type, delimiter=" "):
    return Task("t", task_type, 1, delimiter, 0.0, [])


def test_prompts_are_nanochats_character_for_character():
    # nanochat's templates: each few-shot example, then a blank line, then the example; language modelling strips
    # the contexts and the prompt without its continuation
    shot = {"query": "Q1", "choices": ["a1", "b1"], "gold": 1}
    example = {"query": "Q2", "choices": ["a2", "b2"], "gold": 0}
    assert render_prompts(task("multiple_choice"), example, [shot]) == ["Q1 b1\n\nQ2 a2", "Q1 b1\n\nQ2 b2"]
    shot = {"context_options": ["c1", "d1"], "continuation": "e1", "gold": 0}
    example = {"context_options": ["c2", "d2"], "continuation": "e2", "gold": 1}
    assert render_prompts(task("schema", "|"), example, [shot, shot]) == [
        "c1|e1\n\nc1|e1\n\nc2|e2",
        "c1|e1\n\nc1|e1\n\nd2|e2",
    ]
    shot = {"context": " Who? ", "continuation": "me"}
    example = {"context": "What?  ", "continuation": "this"}
    language_modelling = task("language_modeling", "\nAnswer: ")
    prompts = render_prompts(language_modelling, example, [shot])
    assert prompts == ["Who?\nAnswer: me\n\nWhat?\nAnswer:", "Who?\nAnswer: me\n\nWhat?\nAnswer: this"]
    assert render_prompts(language_modelling, example, []) == ["What?\nAnswer:", "What?\nAnswer: this"]


def test_few_shot_examples_are_the_others_drawn_the_same_way_every_time():
    examples = [{"i": i} for i in range(12)]
    for index in range(12):
        shots = fewshot_examples(examples, index, 5)
        assert len(shots) == len({s["i"] for s in shots}) == 5 and examples[index] not in shots
        assert fewshot_examples(examples, index, 5) == shots
    assert len({tuple(s["i"] for s in fewshot_examples(examples, i, 5)) for i in range(12)}) > 1  # seeded by index
    assert fewshot_examples(examples, 3, 0) == []


def test_rows_longer_than_the_context_lose_their_first_tokens():
    rows = [list(range(10)), list(range(4))]
    spans = [(6, 10), (1, 4)]
    assert crop(rows, spans, 6) == [(list(range(4, 10)), (2, 6)), (list(range(4)), (1, 4))]
    assert crop([list(range(10))], [(3, 10)], 6) == [(list(range(4, 10)), (1, 6))]  # token 0 is never scored


def successor(token):
    """The byte the stand-in model expects after token: the next letter after a lowercase one (a after z),
    "a" after a space, a space after anything else ("." and ":" end a context)."""
    if ord("a") <= token <= ord("y"):
        return token + 1
    return ord("a") if token in (ord("z"), ord(" ")) else ord(" ")


class Successor(torch.nn.Module):
    """A byte-level stand-in for a GPT whose predictions are known: logit 8 for successor(token), 0 for the rest.
    A token it expects costs a small loss, any other the same large one, so a continuation's mean loss grows with
    the share of its tokens that are not successors, and greedy decoding gives successors."""

    def __init__(self, block_size):
        super().__init__()
        self.config = SimpleNamespace(block_size=block_size)
        self.register_buffer("table", 8.0 * F.one_hot(torch.tensor([successor(t) for t in range(257)]), 257).float())

    def forward(self, idx, targets=None, reduction="mean"):
        assert idx.size(1) <= self.config.block_size  # cropped before the model reads it
        logits = self.table[idx]
        if targets is None:
            return logits, None
        losses = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1, reduction="none")
        return None, losses.view(targets.shape)


# The shipped bundle's examples worked out for Successor, the scored tokens in brackets and each one's miss (x):
# toy_choice, after the tokens the choices share (" " before them is the query's delimiter):
#   [abc] 0 of 3, [abd] 1/3, [xyz] 1/3 -> 0, right  | [mno] 1/3, [abc] 0 -> 1, wrong
#   [aqrs] 1/4, [bcd] 1/3, [klm] 1/3 -> 0, wrong     | [xa] 2/2, [ab] 0 -> 1, right
#   ab[cxq] 2/3, ab[z] 1/1 -> 0, right (scored whole, "abcxq" 2/5 would lose to "abz" 1/3): 3 of 5
# toy_schema, the shared suffix: "Go.[ abc]" 0 vs "Go[ abc]" 1/4 -> 0: right | the same swapped: wrong
#   "x[b cd]" 3/4 vs "a[b cd]" 2/4 -> 1, right (the continuation " cd" alone would tie): 2 of 3
# toy_completion, greedy from the context: "Go.[ abc]" right, "Go.[ abd]" wrong, "Go[ abc]" wrong (no "."),
#   "Go.  [ abcd]" right (the context is stripped): 2 of 4
# toy_answer, after "\nAnswer:": "[ bcd]" wrong (a after a space), "[ abc]" right, "[ a]" right: 2 of 3
HAND_COMPUTED = {"toy_choice": 3 / 5, "toy_schema": 2 / 3, "toy_completion": 2 / 4, "toy_answer": 2 / 3}
BASELINES = {"toy_choice": 0.25, "toy_schema": 0.5, "toy_completion": 0.0, "toy_answer": 0.0}


@pytest.mark.parametrize("block_size", [64, 8])  # 8: most prompts lose their first tokens
def test_accuracies_are_the_ones_worked_out_by_hand(block_size):
    result = evaluate_core(Successor(block_size), Run(), get_tokenizer("bytes"), read_bundle(CORE_BUNDLE))
    assert {label: r["accuracy"] for label, r in result["tasks"].items()} == pytest.approx(HAND_COMPUTED)
    centred = {label: (HAND_COMPUTED[label] - b) / (1 - b) for label, b in BASELINES.items()}
    assert {label: r["centred"] for label, r in result["tasks"].items()} == pytest.approx(centred)
    assert result["core"] == pytest.approx((7 / 15 + 1 / 3 + 1 / 2 + 2 / 3) / 4)
    assert [r["examples"] for r in result["tasks"].values()] == [5, 3, 4, 3]


def plain_is_right(model, tokenizer, task, index):
    """One prompt at a time, no padding or masks, the loss from the full logits: nanochat's rule written out."""
    example = task.examples[index]
    prompts = render_prompts(task, example, fewshot_examples(task.examples, index, task.num_fewshot))
    rows = [[tokenizer.eot_token, *tokenizer.encode(prompt)] for prompt in prompts]
    if task.task_type == "language_modeling":
        start, row = len(rows[0]), rows[1]
        assert row[:start] == rows[0]
        logits, _ = model(torch.tensor([row]))
        return logits[0, start - 1 : -1].argmax(-1).tolist() == row[start:]
    if task.task_type == "multiple_choice":
        start = len(os.path.commonprefix(rows))
        spans = [(start, len(row)) for row in rows]
    else:
        shared = len(os.path.commonprefix([row[::-1] for row in rows]))
        spans = [(len(row) - shared, len(row)) for row in rows]
    means = []
    for row, (start, end) in zip(rows, spans):
        logits, _ = model(torch.tensor([row]))
        log_probs = F.log_softmax(logits[0].float(), dim=-1)
        means.append(-sum(log_probs[t - 1, row[t]].item() for t in range(start, end)) / (end - start))
    return means.index(min(means)) == example["gold"]


@pytest.mark.parametrize("tokenizer_name,vocab_size", [("bytes", 257), ("gpt2", 50304)])
def test_batched_scores_equal_a_plain_computation_prompt_by_prompt(tokenizer_name, vocab_size):
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=128, vocab_size=vocab_size, n_layer=2, n_head=2, n_embd=32)).eval()
    tokenizer, tasks = get_tokenizer(tokenizer_name), read_bundle(CORE_BUNDLE)
    result = evaluate_core(model, Run(), tokenizer, tasks)
    with torch.no_grad():
        for task in tasks:
            right = [plain_is_right(model, tokenizer, task, i) for i in range(len(task.examples))]
            assert [example_is_right(model, Run(), tokenizer, task, i) for i in range(len(task.examples))] == right
            assert result["tasks"][task.label]["accuracy"] == sum(right) / len(right)
