"""
The CORE score: DCLM's in-context tasks (Li et al. 2024), scored as nanochat scores them (its nanochat/core_eval.py and
scripts/base_eval.py), in the model's own tokens.

Each example becomes prompts: its few-shot examples first (drawn from the task's other examples with a seed of
the example's index), each ended by a blank line, then the example itself.
- multiple_choice: one prompt per choice, the same query; the choice of the lowest mean loss per token wins.
- schema: one prompt per context option, the same continuation; the option under which the continuation has the
  lowest mean loss per token wins.
- language_modeling: the context and its continuation; right when greedy decoding gives the continuation exactly.
The tokens scored are those the prompts do not share: after the common prefix (multiple choice), in the common
suffix (schema), after the context (language modelling).

A prompt's tokens start with end-of-text, where nanochat's start with its BOS token: our models see end-of-text
before every training document (gptkit/data/tokenizer.py's encode_document), so the prompt reads as the start of
a document. nanochat does the same for GPT-2, whose only special token it is. A prompt longer than the model's
block_size loses its first tokens.

A task's accuracy is centred on its random baseline (0 for guessing, 1 for always right): (acc - b) / (1 - b).
CORE is the mean of the centred accuracies.

The invariants the tests check: the prompts are nanochat's, character for character; the accuracies are the ones
computed by hand for a model whose predictions are known; the batched scores equal a plain per-prompt computation.
"""

import random

import torch
from tqdm import tqdm

from gptkit.distributed import all_reduce_sum, rank_share
from gptkit.evaluation.hellaswag import score_endings

FEWSHOT_SEED = 1234  # nanochat's: example i's few-shot examples are drawn with the seed 1234 + i
SHOT_END = "\n\n"  # after each few-shot example


def fewshot_examples(examples, index, count):
    """count of the examples other than examples[index], drawn with a seed of index: the same ones every time."""
    if count == 0:
        return []
    others = [i for i in range(len(examples)) if i != index]
    return [examples[i] for i in random.Random(FEWSHOT_SEED + index).sample(others, count)]


def render_prompts(task, example, shots):
    """The texts the model reads for example after the few-shot examples shots (see the module docstring)."""
    between = task.continuation_delimiter
    if task.task_type == "multiple_choice":
        before = "".join(f"{s['query']}{between}{s['choices'][s['gold']]}{SHOT_END}" for s in shots)
        return [f"{before}{example['query']}{between}{choice}" for choice in example["choices"]]
    if task.task_type == "schema":
        before = "".join(f"{s['context_options'][s['gold']]}{between}{s['continuation']}{SHOT_END}" for s in shots)
        return [f"{before}{option}{between}{example['continuation']}" for option in example["context_options"]]
    # language modelling: the context alone, then with the continuation. Contexts are stripped (some end in
    # spaces), and so is the prompt without the continuation, so that its tokens begin the other prompt's.
    before = "".join(f"{s['context'].strip()}{between}{s['continuation']}{SHOT_END}" for s in shots)
    context = f"{before}{example['context'].strip()}{between}"
    return [context.strip(), context + example["continuation"]]


def common_length(rows):
    """The length of the prefix all rows share."""
    length = 0
    for column in zip(*rows):
        if any(token != column[0] for token in column):
            break
        length += 1
    return length


def token_rows(task_type, tokenizer, prompts):
    """(rows, spans): the rows of tokens to read, each starting with end-of-text, and the (start, end) of each
    row's scored tokens. A language-modelling example is one row: its continuation's tokens are those after the
    context's (after the first token where the two differ, should the tokenizer merge across the boundary)."""
    rows = [[tokenizer.eot_token, *tokenizer.encode(prompt)] for prompt in prompts]
    if task_type == "multiple_choice":
        start = common_length(rows)
        return rows, [(start, len(row)) for row in rows]
    if task_type == "schema":
        shared = common_length([row[::-1] for row in rows])
        return rows, [(len(row) - shared, len(row)) for row in rows]
    return rows[1:], [(common_length(rows), len(rows[1]))]


def crop(rows, spans, max_len):
    """[(row, span)]: rows longer than max_len lose their first tokens, as nanochat crops them, and their spans
    move along. A span starts at 1 at the earliest: the first token has no prediction."""
    cropped = []
    for row, (start, end) in zip(rows, spans):
        cut = max(len(row) - max_len, 0)
        cropped.append((row[cut:], (max(start - cut, 1), end - cut)))
    return cropped


@torch.no_grad()
def example_is_right(model, run, tokenizer, task, index):
    """Whether the model answers task.examples[index] right."""
    example = task.examples[index]
    prompts = render_prompts(task, example, fewshot_examples(task.examples, index, task.num_fewshot))
    rows = crop(*token_rows(task.task_type, tokenizer, prompts), model.config.block_size)
    tokens = torch.full((len(rows), max(len(row) for row, _ in rows)), tokenizer.eot_token, dtype=torch.long)
    scored = torch.zeros_like(tokens, dtype=torch.bool)
    for i, (row, (start, end)) in enumerate(rows):
        tokens[i, : len(row)] = torch.tensor(row)
        scored[i, start:end] = True
    tokens, scored = tokens.to(run.device), scored.to(run.device)
    if task.task_type == "language_modeling":
        with run.autocast():
            logits, _ = model(tokens)
        greedy = logits[0, :-1].argmax(dim=-1)  # position t's prediction of token t + 1
        return bool((greedy == tokens[0, 1:])[scored[0, 1:]].all())
    with run.autocast():
        _, mean_loss = score_endings(model, tokens, scored)
    mean_loss = mean_loss.float().nan_to_num(nan=float("inf"))  # an option with no tokens of its own never wins
    return mean_loss.argmin().item() == example["gold"]


def centred(accuracy, random_baseline):
    """accuracy on a scale where guessing (random_baseline, in percent) is 0 and always right is 1."""
    return (accuracy - 0.01 * random_baseline) / (1 - 0.01 * random_baseline)


def evaluate_core(model, run, tokenizer, tasks, progress=False):
    """{"core": the mean centred accuracy, "tasks": {label: {"type", "shots", "examples", "accuracy", "centred"}}}
    over tasks (gptkit/evaluation/core_bundle.py's), each task's examples split across the run's processes
    (gptkit.distributed.Run). tokenizer: the model's (encode, eot_token)."""
    was_training = model.training
    model.eval()
    shares = [rank_share(len(task.examples), run) for task in tasks]
    bar = tqdm(total=sum(map(len, shares)), desc="CORE", disable=not (progress and run.is_master))
    results = {}
    for task, mine in zip(tasks, shares):
        bar.set_postfix(task=task.label, refresh=False)
        counts = torch.zeros(2)  # examples, right: on the host until they are summed over the processes
        for i in mine:  # an index past the end repeats the last example, left out of the counts
            right = example_is_right(model, run, tokenizer, task, min(i, len(task.examples) - 1))
            counts += torch.tensor([float(i < len(task.examples)), float(right and i < len(task.examples))])
            bar.update()
        examples, right = all_reduce_sum(counts.to(run.device), run.world_size).tolist()
        accuracy = right / examples
        results[task.label] = dict(
            type=task.task_type,
            shots=task.num_fewshot,
            examples=int(examples),
            accuracy=accuracy,
            centred=centred(accuracy, task.random_baseline),
        )
    bar.close()
    model.train(was_training)
    core = sum(result["centred"] for result in results.values()) / len(results)
    return {"core": core, "tasks": results}


def format_table(result):
    """The result as a table, a task a line, then CORE."""
    lines = [f"{'task':<34} {'type':<18} {'shots':>5} {'examples':>8} {'accuracy':>8} {'centred':>8}"]
    for label, task in result["tasks"].items():
        lines.append(
            f"{label:<34} {task['type']:<18} {task['shots']:>5} {task['examples']:>8} "
            f"{task['accuracy']:>8.4f} {task['centred']:>8.4f}"
        )
    lines.append(f"CORE {result['core']:.4f} over {len(result['tasks'])} tasks")
    return "\n".join(lines)
