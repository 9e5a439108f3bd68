"""
HellaSwag scoring, shared by hellaswag.py and the training loop.

Each example is a context and 4 endings. The model reads context + ending for all 4 endings in one batch; the
loss of the ending's tokens alone decides: `acc` picks the ending with the lowest summed loss, `acc_norm` the
lowest mean loss per token (the common token-averaged scoring, comparable with published GPT-2 numbers).
The text is tokenized with the model's own tokenizer, whichever it is; acc_norm's mean is over that tokenizer's
tokens. The batched scores equal a plain per-ending computation, and every rank's share adds up to the whole set.
"""

import urllib.request
from pathlib import Path

import torch
from tqdm import tqdm

from gptkit.distributed import all_gather_objects, all_reduce_sum, rank_share
from gptkit.errors import UserError
from gptkit.evaluation.example_lines import read_example_lines

VALIDATION_URL = "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl"
CACHE_FILE = Path("data/hellaswag/hellaswag_val.jsonl")


def hellaswag_file(data_path="", cache_file=CACHE_FILE, url=VALIDATION_URL):
    """A local HellaSwag jsonl: data_path, or the validation split downloaded once into the cache file."""
    if data_path:
        if not Path(data_path).is_file():
            raise UserError(f"HellaSwag file {data_path} not found")
        return Path(data_path)
    if not cache_file.exists():
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        print(f"downloading {url} to {cache_file}")
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                data = response.read()
        except OSError as e:
            raise UserError(
                f"could not download HellaSwag ({e}); offline, pass a local copy with --data FILE.jsonl"
            ) from None
        temporary = cache_file.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.replace(cache_file)  # never a half-downloaded file in the cache
    return cache_file


def read_examples(path):
    """The examples of a HellaSwag jsonl file; a line that is not one (bad JSON, a key missing) is a UserError
    naming file and line."""
    return read_example_lines(path, "HellaSwag", example_problem)


def example_problem(example):
    """What makes example unusable (an empty string if nothing does): it needs a context, endings and a label."""
    if not isinstance(example, dict):
        return "a JSON object is expected"
    missing = [key for key in ("ctx", "endings", "label") if key not in example]
    if missing:
        return f"no {', '.join(missing)}"
    endings = example["endings"]
    if not isinstance(endings, list) or not endings or not all(isinstance(e, str) for e in endings):
        return "endings must be a list of strings"
    if not isinstance(example["ctx"], str):
        return "ctx must be a string"
    label = example["label"]
    if isinstance(label, bool) or str(label) not in {str(i) for i in range(len(endings))}:
        return f"label must be the index of an ending, 0 ... {len(endings) - 1}, got {label!r}"
    return ""


def render_example(tokenizer, example, max_len):
    """(tokens, ending_mask) of shape (4, T): each row is context + one ending, padded with zeros;
    the mask marks the ending's tokens. Contexts are cut from the left to fit max_len."""
    context = tokenizer.encode(example["ctx"])
    rows = []
    for ending in example["endings"]:
        ending = tokenizer.encode(" " + ending)  # the space that joins context and ending belongs to the ending
        row = (context + ending)[-max_len:]
        rows.append((row, min(len(ending), len(row))))
    width = max(len(row) for row, _ in rows)
    tokens = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.bool)
    for i, (row, ending_len) in enumerate(rows):
        tokens[i, : len(row)] = torch.tensor(row)
        mask[i, len(row) - ending_len : len(row)] = True
    return tokens, mask


@torch.no_grad()
def score_endings(model, tokens, mask):
    """(summed, mean) loss of each row's ending tokens, given what comes before them."""
    ending = mask[:, 1:]  # the loss at position t is the prediction of token t + 1
    # only the ending's tokens are targets (-1 is ignored): the model's chunked loss, no full-vocabulary logits
    _, losses = model(tokens[:, :-1], tokens[:, 1:].masked_fill(~ending, -1), reduction="none")
    summed = losses.sum(dim=1)
    return summed, summed / ending.sum(dim=1)


def evaluate_hellaswag(model, run, tokenizer, *, data_path="", limit=0, progress=False):
    """{"acc", "acc_norm", "examples", "predictions"} over the examples of data_path (empty: the validation set,
    downloaded once; limit: only the first examples) in the tokens of tokenizer (the model's: encode), split
    across the run's processes (gptkit.distributed.Run)."""
    examples = read_examples(hellaswag_file(data_path))
    examples = examples[:limit] if limit else examples
    mine = rank_share(len(examples), run)  # a rank short of an example scores the last one again, not counted
    was_training = model.training
    model.eval()
    counts = torch.zeros(3, device=run.device)  # examples, right by summed loss, right by mean loss
    predictions = []
    bar = tqdm(mine, desc="HellaSwag", disable=not (progress and run.is_master))
    for i in bar:
        tokens, mask = render_example(tokenizer, examples[min(i, len(examples) - 1)], model.config.block_size)
        with run.autocast():
            summed, mean = score_endings(model, tokens.to(run.device), mask.to(run.device))
        if i >= len(examples):
            continue
        prediction, prediction_norm = summed.argmin().item(), mean.argmin().item()
        label = int(examples[i]["label"])
        counts += torch.tensor([1, prediction == label, prediction_norm == label], device=run.device)
        predictions.append((i, prediction, prediction_norm))
        bar.set_postfix(acc_norm=f"{counts[2].item() / counts[0].item():.4f}", refresh=False)
    all_reduce_sum(counts, run.world_size)
    every_rank = all_gather_objects(predictions, run.world_size)
    predictions = sorted(p for rank_predictions in every_rank for p in rank_predictions)
    model.train(was_training)
    n, right, right_norm = counts.tolist()
    return {"acc": right / n, "acc_norm": right_norm / n, "examples": int(n), "predictions": predictions}
