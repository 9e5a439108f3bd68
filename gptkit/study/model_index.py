"""
The evaluation results of a study's run as Hub model card metadata (`model-index`), written by huggingface_hub's
own EvalResult so the Hub shows them: the validation loss at the training length, the loss on windows of 2x and
4x the training length (each RoPE scaling evaluated), and HellaSwag acc_norm where the run logged it. The
export (gptkit/interop/checkpoint_export.py) puts them into the card.

The invariant the tests check: each value in the metadata is the run's figure.
"""

from gptkit.evaluation.long_context_report import methods_with

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
    for scaling, positions in (methods_with(run.evaluation, "positions") if run.evaluation else {}).items():
        loss_at = {entry["length"]: entry["loss"] for entry in positions}
        for ratio in LOSS_RATIOS:
            if ratio * block_size in loss_at:
                name = f"loss at {ratio}x context ({ratio * block_size} tokens, rope_scaling {scaling})"
                loss(loss_at[ratio * block_size], name)
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
