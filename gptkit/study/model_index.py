"""
The evaluation results of a study's run as Hub model card metadata (`model-index`), written by huggingface_hub's
own EvalResult so the Hub shows them: the validation loss at the training length, the loss on windows of 2x and
4x the training length (each RoPE scaling evaluated), and HellaSwag acc_norm where the run logged it.

The invariant the tests check: each value in the metadata is the run's figure, and the card's front matter
still parses as YAML with the card writer's keys kept.
"""

import yaml

LOSS_RATIOS = (2, 4)  # the evaluation lengths the card reports, as multiples of the training length


def eval_results(run):
    """huggingface_hub EvalResults of a run (gptkit/study/runs.py RunFacts)."""
    from huggingface_hub import EvalResult

    data = run.train.get("data_dir", "data").rstrip("/").rsplit("/", 1)[-1]
    results = []

    def loss(value, name):
        results.append(
            EvalResult(
                task_type="text-generation",
                dataset_type=data,
                dataset_name=f"{data} (validation split)",
                dataset_split="validation",
                metric_type="loss",
                metric_name=name,
                metric_value=round(value, 4),
            )
        )

    if run.last("val_loss") is not None:
        loss(run.last("val_loss"), f"validation loss at {run.model['block_size']} tokens")
    block_size = run.model["block_size"]
    for scaling, by_length in (run.evaluation or {}).get("lengths", {}).items():
        for ratio in LOSS_RATIOS:
            entry = by_length.get(str(ratio * block_size))  # lengths as text, as in evaluate_run's dict
            if entry is not None:
                loss(entry["loss"], f"loss at {ratio}x context ({ratio * block_size} tokens, rope_scaling {scaling})")
    if run.hellaswag is not None:
        results.append(
            EvalResult(
                task_type="multiple-choice",
                dataset_type="Rowan/hellaswag",
                dataset_name="HellaSwag",
                dataset_split="validation",
                metric_type="acc_norm",
                metric_value=round(run.hellaswag[0], 4),
            )
        )
    return results


def with_model_index(card, run, repo_id):
    """The model card text with the run's model-index added to its YAML front matter."""
    from huggingface_hub import ModelCardData

    _, front, body = card.split("---\n", 2)
    metadata = yaml.safe_load(front) or {}
    results = eval_results(run)
    if not results:
        return card
    data = ModelCardData(**metadata, model_name=repo_id, eval_results=results)
    return f"---\n{data.to_yaml()}\n---\n{body}"
