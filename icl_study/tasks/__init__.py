"""Task generators: each turns (seed, step) into a batch and defines the training loss."""

from __future__ import annotations

from icl_study.config import ConfigError
from icl_study.tasks.bursty import BurstyTask
from icl_study.tasks.concepts import ConceptsTask
from icl_study.tasks.pool_regression import PoolRegressionTask
from icl_study.tasks.regression import PairedRegressionTask, RegressionTask

TASKS = {"regression": RegressionTask, "bursty": BurstyTask, "pool_regression": PoolRegressionTask,
         "regression_pairs": PairedRegressionTask, "concepts": ConceptsTask}


def make_task(name: str, task_config: dict, seed: int):
    """The task called `name`, configured by its config slice."""
    if name not in TASKS:
        raise ConfigError(f"task: unknown task {name!r} (known: {', '.join(sorted(TASKS))})")
    return TASKS[name](task_config, seed)
