"""Reference predictors of linear regression and the squared prediction difference (SPD) to them.

`reference_predictors` is the one list of classical predictors the regression studies compare a
trained transformer with (OLS, ridge, kNN, averaging, zero, GD with a learning rate tuned on
held-out tasks: the strongest GD of its step count, as Akyürek et al. tune it); `query_spd` is the
SPD at the query to each of them.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from icl_study.baselines import make_predictor
from icl_study.metrics import normalized_error, squared_error
from icl_study.tasks.regression import RegressionTask

log = logging.getLogger("icl_study.spd")


def tune_gd_lr(task: RegressionTask, steps: int, grid: tuple[float, ...], n_tasks: int) -> float:
    """The GD learning rate with the lowest mean error over all k, on held-out ("probe") tasks."""
    batch = task.sample(0, n_tasks, "probe")
    errors = [normalized_error(make_predictor("gd", lr=lr, steps=steps)(batch["xs"], batch["ys"]),
                               batch["ys"], task.cfg.n_dims).mean().item() for lr in grid]
    best = grid[int(np.argmin(errors))]
    if best in (grid[0], grid[-1]):
        log.warning("tuned GD lr %.3g for %d step(s) lies on the edge of the grid %s", best, steps, grid)
    return best


def reference_predictors(task: RegressionTask, cfg) -> dict[str, tuple[str, object]]:
    """{predictor id: (display label, predictor)} for every baseline in the comparison. cfg: a
    study config with ridge_lambdas, gd_steps, gd_lr_grid, knn_k and n_tasks (GD tunes its lr on
    min(n_tasks, 1000) held-out tasks)."""
    preds = {"least_squares": ("OLS (min-norm)", make_predictor("least_squares")),
             "averaging": ("averaging", make_predictor("averaging")),
             f"knn_{cfg.knn_k}": (f"{cfg.knn_k}-NN", make_predictor("knn", k=cfg.knn_k)),
             "zero": ("zero", make_predictor("zero"))}
    for lam in cfg.ridge_lambdas:
        preds[f"ridge_{lam:g}"] = (f"ridge (λ={lam:g})", make_predictor("ridge", lam=lam))
    for steps in cfg.gd_steps:
        lr = tune_gd_lr(task, steps, cfg.gd_lr_grid, min(cfg.n_tasks, 1000))
        preds[f"gd_{steps}"] = (f"GD, {steps} step{'s' if steps > 1 else ''} (η={lr:g})",
                                make_predictor("gd", lr=lr, steps=steps))
    return preds


def query_spd(pred: torch.Tensor, references: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{name: (B,) squared difference at the query (last position)} of predictions (B, n) to each reference's."""
    return {name: squared_error(pred, ref)[:, -1] for name, ref in references.items()}
