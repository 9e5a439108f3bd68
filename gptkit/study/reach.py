"""
The report's "steps to reach" column: the target is the best final validation loss among the study's baseline
runs (the runs whose settings match the study file's reach_baseline), and each run's steps to it are
interpolated linearly between its evaluations (steps_to_reach, as plot.py --reach computes it).

The invariant the tests check: the target is the lowest final validation loss of the finished baseline runs,
and each run's steps to it are those of its own validation curve.
"""

from gptkit.study.runs import curve
from gptkit.training.metrics import steps_to_reach


def reach_target(study, facts):
    """(target, baseline run's name, its steps) of the study's reach_baseline, with each run's steps_to_reach
    set (RunFacts, in the order of study.runs); None without a baseline run that finished."""
    wanted = study.file.reach_baseline
    if not wanted:
        return None
    val_losses = {}
    for run, run_facts in zip(study.runs, facts):
        settings = {**vars(run.model_config), **vars(run.train_config)}
        if run_facts.finished and run_facts.last("val_loss") is not None:
            if all(settings.get(key) == value for key, value in wanted.items()):
                val_losses[run_facts.name] = run_facts.last("val_loss")
    if not val_losses:
        return None
    best = min(val_losses, key=val_losses.get)
    for run in facts:
        run.steps_to_reach = steps_to_reach(
            [(step, loss) for step, _, loss in curve(run.records, "val_loss")], val_losses[best]
        )
    return val_losses[best], best, next(run.last_step for run in facts if run.name == best)
