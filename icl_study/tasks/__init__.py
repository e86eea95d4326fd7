"""Task generators: each turns (seed, step) into a batch and defines the training loss.

The task modules import torch, so they are imported when a task is made: `icl_study.tasks.io`
(what a task needs of the model) stays importable without torch."""

from __future__ import annotations

import importlib

from icl_study.config import ConfigError

TASKS = {"regression": "regression:RegressionTask", "bursty": "bursty:BurstyTask",
         "pool_regression": "pool_regression:PoolRegressionTask",
         "regression_pairs": "regression:PairedRegressionTask", "concepts": "concepts:ConceptsTask"}


def make_task(name: str, task_config: dict, seed: int):
    """The task called `name`, configured by its config slice."""
    if name not in TASKS:
        raise ConfigError(f"task: unknown task {name!r} (known: {', '.join(sorted(TASKS))})")
    module, cls = TASKS[name].split(":")
    return getattr(importlib.import_module(f"icl_study.tasks.{module}"), cls)(task_config, seed)
