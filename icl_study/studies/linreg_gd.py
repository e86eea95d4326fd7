"""Study 1: a trained 1-layer linear self-attention vs hand-built GD.

Compares a trained 1-layer LSA (`pair_tokens` layout, query loss) with `one_step_gd_model` at the
least-squares-optimal step size η* (closed form, on held-out tasks), on fresh tasks:

- sensitivity cosine: cos(∂ŷ_trained/∂x_q, ∂ŷ_GD/∂x_q) per task (von Oswald et al.'s measure);
- mean |ŷ_trained − ŷ_GD|, next to the two predictors' own errors;
- the query loss along θ(α) = (1 − α) θ_GD + α θ_trained (both are the same `GPT` shape);
- the exactness of the constructions themselves: max |ŷ_construction − ŷ_GD| in float64 for the
  1-layer construction and for stacks of 1..max_steps GD layers.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from icl_study.baselines import gradient_descent
from icl_study.checkpoint import load_model
from icl_study.config import from_dict
from icl_study.gd_construction import (
    lsa_config,
    multi_step_gd_model,
    one_step_gd_model,
    optimal_one_step_lr,
    predict_stack,
)
from icl_study.metrics import cosine
from icl_study.settings.linreg import GDCompareConfig
from icl_study.tasks.regression import RegressionTask, predict_query

log = logging.getLogger("icl_study.linreg_gd")


def query_sensitivity(model: torch.nn.Module, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """∂ŷ/∂x_q (B, d): the gradient of each task's query prediction with respect to its query."""
    xs = xs.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(predict_query(model, xs, ys).sum(), xs)  # tasks are independent
    return grad[:, -1]


def exactness_table(n_dims: int, n_points: int, lr: float, max_steps: int, seed: int) -> pd.DataFrame:
    """max |construction − GD| at the query in float64, for the 1-layer LSA and each stack depth."""
    batch = RegressionTask({"n_dims": n_dims, "n_points": n_points}, seed).sample(2, 256, "eval")
    xs, ys = batch["xs"].double(), batch["ys"].double()
    one = predict_query(one_step_gd_model(n_dims, n_points, lr, torch.float64), xs, ys)
    rows = [("one_layer_lsa", 1, (one - gradient_descent(xs, ys, lr, 1)[:, -1]).abs().max().item())]
    for steps in range(1, max_steps + 1):
        stack = predict_stack(multi_step_gd_model(n_dims, n_points, lr, steps, torch.float64), xs, ys)
        rows.append(("stack", steps, (stack - gradient_descent(xs, ys, lr, steps)[:, -1]).abs().max().item()))
    return pd.DataFrame(rows, columns=["construction", "gd_steps", "max_abs_diff"])


def interpolation_losses(trained, constructed, xs, ys, n_alphas: int) -> pd.DataFrame:
    """Mean squared query error along the straight line from the construction (α=0) to the trained LSA (α=1)."""
    start, end = constructed.state_dict(), trained.state_dict()
    probe = one_step_gd_model(xs.shape[-1], xs.shape[1], 0.0, d_model=constructed.cfg.d_model)  # same shape
    rows = []
    for alpha in np.linspace(0.0, 1.0, n_alphas):
        probe.load_state_dict({name: (1 - alpha) * start[name] + alpha * end[name] for name in start})
        with torch.no_grad():
            loss = (predict_query(probe, xs, ys) - ys[:, -1]).pow(2).mean().item()
        rows.append((float(alpha), loss))
    return pd.DataFrame(rows, columns=["alpha", "query_mse"])


def compare(checkpoint: str, cfg: GDCompareConfig) -> dict[str, pd.DataFrame]:
    """All four tables of the comparison: summary, interpolation, predictions, exactness."""
    trained, run_cfg = load_model(checkpoint)
    task = RegressionTask(run_cfg.task_config, cfg.seed)
    d, n = task.cfg.n_dims, task.cfg.n_points
    width = run_cfg.model.d_model
    if width < d + 1 or dataclasses.replace(run_cfg.model, init="gpt2") != lsa_config(d, n, width):  # any init
        raise ValueError(f"{checkpoint}: not a 1-layer LSA of shape {lsa_config(d, n, width)} (d_model >= d + 1)")
    held_out = task.sample(0, cfg.n_tasks, "probe")
    lr = optimal_one_step_lr(held_out["xs"], held_out["ys"])
    constructed = one_step_gd_model(d, n, lr, d_model=width)
    batch = task.sample(0, cfg.n_tasks, "eval")
    xs, ys = batch["xs"], batch["ys"]
    with torch.no_grad():
        pred_trained, pred_gd = predict_query(trained, xs, ys), predict_query(constructed, xs, ys)
    sens = cosine(query_sensitivity(trained, xs, ys), query_sensitivity(constructed, xs, ys))  # (B,)
    summary = {"eta_star": lr, "sensitivity_cosine_mean": sens.mean().item(),
               "sensitivity_cosine_median": sens.median().item(),
               "mean_abs_diff_trained_gd": (pred_trained - pred_gd).abs().mean().item(),
               "mse_trained": (pred_trained - ys[:, -1]).pow(2).mean().item(),
               "mse_gd": (pred_gd - ys[:, -1]).pow(2).mean().item(),
               "mse_zero": ys[:, -1].pow(2).mean().item()}
    log.info("trained LSA vs GD(η*=%.3g): %s", lr, {k: round(v, 4) for k, v in summary.items()})
    predictions = pd.DataFrame({"y_gd": pred_gd.numpy(), "y_trained": pred_trained.numpy(),
                                "y_true": ys[:, -1].numpy(), "sensitivity_cosine": sens.detach().numpy()})
    return {"summary": pd.DataFrame(list(summary.items()), columns=["metric", "value"]),
            "interpolation": interpolation_losses(trained, constructed, xs, ys, cfg.n_alphas),
            "predictions": predictions,
            "exactness": exactness_table(d, n, lr, cfg.max_steps, cfg.seed)}


def compare_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: the trained LSA of every training seed -> the first one's summary, interpolation,
    predictions and exactness tables (CSV), and (outputs[4], if given) seeds.csv: one row per LSA
    with its mean sensitivity cosine to GD at η* (the claim's interval is over these)."""
    cfg = from_dict(GDCompareConfig, params, "linreg.gd")
    rows = []
    for index, path in enumerate(inputs):
        tables = compare(path, cfg)
        if index == 0:
            for name, out in zip(("summary", "interpolation", "predictions", "exactness"), outputs):
                tables[name].to_csv(out, index=False)
        summary = dict(zip(tables["summary"]["metric"], tables["summary"]["value"]))
        rows.append({"model": Path(path).parent.name, "sensitivity_cosine_mean": summary["sensitivity_cosine_mean"],
                     "eta_star": summary["eta_star"], "n_tasks": cfg.n_tasks})
    if len(outputs) > 4:
        pd.DataFrame(rows).to_csv(outputs[4], index=False)
