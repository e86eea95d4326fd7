"""Study 1, part one: the squared error of trained transformers vs classical predictors, per k.

For each trained model, fresh tasks are drawn from the distribution it was trained on (with the
evaluation seed, so never a training batch); the model and every baseline predict y at each
position, and the normalized error (squared error / d) is averaged over tasks with a percentile
bootstrap band. One-step (and k-step) GD gets its learning rate tuned on separate held-out tasks,
as Akyurek et al. do, so it is the strongest GD of its step count, not a strawman. Every baseline
also gets metric "minus_model" rows: its error minus the model's on the same tasks, bootstrapped
per task (paired), the interval the claims read.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from icl_study.checkpoint import load_model
from icl_study.config import from_dict
from icl_study.measures.spd import reference_predictors
from icl_study.metrics import bootstrap_ci, normalized_error
from icl_study.settings.linreg import ErrorEvalConfig
from icl_study.tasks.regression import RegressionTask, predict

log = logging.getLogger("icl_study.linreg")
TABLE_COLUMNS = ["run", "predictor", "label", "k", "metric", "value", "ci_low", "ci_high"]


def model_errors(checkpoint: str | Path, cfg: ErrorEvalConfig) -> pd.DataFrame:
    """Tidy rows of normalized error per k for one trained model and every baseline."""
    model, run_cfg = load_model(checkpoint)
    task = RegressionTask(run_cfg.task_config, cfg.seed)
    predictors = {"model": ("transformer", lambda xs, ys: predict(model, xs, ys)),
                  **reference_predictors(task, cfg)}
    errors = {name: [] for name in predictors}
    with torch.no_grad():
        for index in range(0, cfg.n_tasks, cfg.batch_size):
            batch = task.sample(index, min(cfg.batch_size, cfg.n_tasks - index), "eval")
            for name, (_, fn) in predictors.items():
                err = normalized_error(fn(batch["xs"], batch["ys"]), batch["ys"], task.cfg.n_dims)
                errors[name].append(err.numpy())  # (B, n)
    per_task = {name: np.concatenate(errors[name]) for name in predictors}  # each (n_tasks, n)
    labels = {name: label for name, (label, _) in predictors.items()}
    return error_rows(Path(checkpoint).parent.name, per_task, labels, cfg.n_bootstrap, cfg.seed)


def error_rows(run: str, per_task: dict[str, np.ndarray], labels: dict[str, str], n_boot: int,
               seed: int) -> pd.DataFrame:
    """Tidy rows from per-task errors {predictor: (n_tasks, n)}, all on the same tasks: each
    predictor's normalized error per k, and each baseline's error minus the model's ("minus_model"),
    the per-task difference bootstrapped over tasks: pairing removes the task-to-task spread that
    both separate intervals carry."""
    rows = []
    for name, label in labels.items():
        mean, low, high = bootstrap_ci(per_task[name], n_boot, seed=seed)
        rows += [(run, name, label, k, "normalized_error", mean[k], low[k], high[k]) for k in range(len(mean))]
    for name, label in labels.items():
        if name == "model":
            continue
        mean, low, high = bootstrap_ci(per_task[name] - per_task["model"], n_boot, seed=seed)
        rows += [(run, name, label, k, "minus_model", mean[k], low[k], high[k]) for k in range(len(mean))]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def error_table(checkpoints: list[str], params: dict) -> pd.DataFrame:
    """The error-vs-k table for every given checkpoint."""
    cfg = from_dict(ErrorEvalConfig, params, "linreg.eval")
    tables = []
    for checkpoint in checkpoints:
        log.info("evaluating %s on %d fresh tasks", checkpoint, cfg.n_tasks)
        tables.append(model_errors(checkpoint, cfg))
    return pd.concat(tables, ignore_index=True)


def errors_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: checkpoints -> the error-vs-k table (CSV)."""
    error_table(inputs, params).to_csv(outputs[0], index=False)
