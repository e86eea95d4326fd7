"""Study 1, issue 3: which classical predictor does a trained transformer's prediction match?

For one trained model and every reference predictor (OLS min-norm, ridge, Bayes-optimal ridge
λ = σ²/τ², GD with k steps and a tuned learning rate, kNN, averaging), per in-context count k:

- SPD: mean over fresh tasks of (ŷ_model − ŷ_predictor)² at the query after k examples;
- ILWD: ||ŵ_model − ŵ_predictor||², where each ŵ is fitted by least squares to the predictor's
  outputs on `n_probe_queries` queries that share one context D_k (Akyürek et al. 2022), with the
  fit's R² (1 = the predictor is exactly linear in the query).

`sweep_summary` turns the per-run tables of the depth x noise sweep into one row per cell: the
best-matching predictor (smallest SPD averaged over k >= 1) and the SPD gap between one-step GD and
the Bayes-optimal predictor (OLS at σ = 0, ridge λ = σ²/τ² otherwise).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from icl_study.baselines import make_predictor
from icl_study.checkpoint import load_model
from icl_study.config import from_dict
from icl_study.metrics import bootstrap_ci, fit_implicit_weights, ilwd, spd, squared_error
from icl_study.rng import generator, stream_seed
from icl_study.studies.linreg import ErrorEvalConfig, reference_predictors
from icl_study.tasks.regression import RegressionTask, predict

log = logging.getLogger("icl_study.linreg_matching")
COLUMNS = ["run", "n_layer", "noise_std", "predictor", "label", "k", "metric", "value", "ci_low", "ci_high"]


@dataclass(frozen=True)
class MatchingConfig:
    n_tasks: int = 1000  # tasks for SPD
    n_ilwd_tasks: int = 200  # contexts for ILWD
    n_probe_queries: int = 32  # queries per context for the implicit-weight fit
    n_bootstrap: int = 500
    seed: int = 2
    ridge_lambdas: tuple[float, ...] = (0.1, 1.0)
    gd_steps: tuple[int, ...] = (1, 3)
    gd_lr_grid: tuple[float, ...] = (0.1, 0.3, 0.5, 1.0)
    knn_k: int = 3


def bayes_predictor_id(noise_std: float) -> str:
    """The Bayes-optimal predictor's id: min-norm OLS (the λ -> 0 ridge) without noise, else ridge(σ²/τ²)."""
    return "least_squares" if noise_std == 0 else "ridge_bayes"


def matching_predictors(task: RegressionTask, cfg: MatchingConfig) -> dict[str, tuple[str, object]]:
    """{id: (label, predictor)}: the error study's baselines (GD lr tuned) minus `zero`, plus ridge(σ²/τ²)."""
    eval_cfg = ErrorEvalConfig(n_tasks=cfg.n_tasks, seed=cfg.seed, ridge_lambdas=cfg.ridge_lambdas,
                               gd_steps=cfg.gd_steps, gd_lr_grid=cfg.gd_lr_grid, knn_k=cfg.knn_k)
    predictors = reference_predictors(task, eval_cfg)
    predictors.pop("zero")  # matches nothing trained; only clutters the figure
    sigma, tau = task.cfg.noise_std, task.cfg.w_scale
    if sigma > 0:
        lam = sigma**2 / tau**2
        predictors["ridge_bayes"] = (f"ridge (λ=σ²/τ²={lam:g})", make_predictor("ridge", lam=lam))
    return predictors


def query_predictions(fn, xs: torch.Tensor, ys: torch.Tensor, queries: torch.Tensor, k: int) -> torch.Tensor:
    """Predictions (B, m) for m queries that each follow the first k pairs of their task's context.

    xs (B, n, d), ys (B, n), queries (B, m, d). Each (task, query) becomes a sequence of k + 1
    pairs whose last x is the query; the shared predict signature reads position k.
    """
    B, m, d = queries.shape
    context_x = xs[:, None, :k].expand(B, m, k, d).reshape(B * m, k, d)  # (B*m, k, d)
    context_y = ys[:, None, :k].expand(B, m, k).reshape(B * m, k)  # (B*m, k)
    seq_x = torch.cat((context_x, queries.reshape(B * m, 1, d)), dim=1)  # (B*m, k+1, d)
    seq_y = torch.cat((context_y, torch.zeros(B * m, 1, dtype=ys.dtype)), dim=1)  # query's y is never read
    return fn(seq_x, seq_y)[:, k].view(B, m)


def _rows(run: str, shape: tuple, name: str, label: str, metric: str, per_task: np.ndarray, cfg) -> list[tuple]:
    """Bootstrap per-task values (n_tasks, n_k) into tidy rows, one per k (NaN tasks dropped per k)."""
    rows = []
    for k in range(per_task.shape[1]):
        values = per_task[:, k][np.isfinite(per_task[:, k])]
        if len(values) == 0:
            continue
        mean, low, high = bootstrap_ci(values, cfg.n_bootstrap, seed=stream_seed(cfg.seed, "bootstrap", k))
        rows.append((run, *shape, name, label, k, metric, float(mean), float(low), float(high)))
    return rows


def spd_per_task(predictors: dict, task: RegressionTask, cfg: MatchingConfig) -> dict[str, np.ndarray]:
    """{id: (n_tasks, n) squared differences to the model}; their task mean is `metrics.spd`."""
    batch = task.sample(0, cfg.n_tasks, "eval")
    preds = {name: fn(batch["xs"], batch["ys"]) for name, (_, fn) in predictors.items()}  # each (B, n)
    out = {}
    for name, pred in preds.items():
        out[name] = squared_error(preds["model"], pred).numpy()
        assert np.allclose(out[name].mean(0), spd(preds["model"], pred).numpy(), atol=1e-6)
    return out


def ilwd_per_task(predictors: dict, task: RegressionTask, cfg: MatchingConfig) -> tuple[dict, dict]:
    """({id: (n_ilwd_tasks, n) ||ŵ_model − ŵ_id||²}, {id: (n_ilwd_tasks, n) fit R²}), per k."""
    batch = task.sample(1, cfg.n_ilwd_tasks, "eval")
    xs, ys, n = batch["xs"], batch["ys"], task.cfg.n_points
    queries = torch.randn(cfg.n_ilwd_tasks, cfg.n_probe_queries, task.cfg.n_dims,
                          generator=generator(cfg.seed, "probe", 1))  # (B, m, d), x's distribution
    dist = {name: np.zeros((cfg.n_ilwd_tasks, n)) for name in predictors}
    r2 = {name: np.zeros((cfg.n_ilwd_tasks, n)) for name in predictors}
    for k in range(n):
        weights = {}
        for name, (_, fn) in predictors.items():
            preds = query_predictions(fn, xs, ys, queries, k)  # (B, m)
            weights[name], fit_r2 = fit_implicit_weights(queries, preds)
            # Predictions that do not depend on the query (e.g. kNN while k <= its k) differ only by
            # rounding; their R² is undefined, not hugely negative.
            constant = preds.std(-1) <= 1e-6 * preds.abs().mean(-1)
            r2[name][:, k] = torch.where(constant, torch.nan, fit_r2).numpy()
        for name in predictors:
            dist[name][:, k] = squared_error(weights["model"], weights[name]).mean(-1).numpy()  # (B,): mean over d
            assert np.isclose(dist[name][:, k].mean(), ilwd(weights["model"], weights[name]).item(), rtol=1e-5)
    return dist, r2


def model_matching(checkpoint: str | Path, cfg: MatchingConfig) -> pd.DataFrame:
    """Tidy SPD, ILWD and fit-R² rows vs k for one trained model against every predictor."""
    model, run_cfg = load_model(checkpoint)
    task = RegressionTask(run_cfg.task_config, cfg.seed)
    predictors = {"model": ("transformer", lambda xs, ys: predict(model, xs, ys)),
                  **matching_predictors(task, cfg)}
    run, shape = Path(checkpoint).parent.name, (run_cfg.model.n_layer, task.cfg.noise_std)
    with torch.no_grad():
        spds = spd_per_task(predictors, task, cfg)
        dists, r2s = ilwd_per_task(predictors, task, cfg)
    rows = []
    for name, (label, _) in predictors.items():
        if name != "model":
            rows += _rows(run, shape, name, label, "spd", spds[name], cfg)
            rows += _rows(run, shape, name, label, "ilwd", dists[name], cfg)
        rows += _rows(run, shape, name, label, "fit_r2", r2s[name], cfg)
    return pd.DataFrame(rows, columns=COLUMNS)


def matching_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: one checkpoint -> its matching table (CSV)."""
    cfg = from_dict(MatchingConfig, params, "linreg.matching")
    log.info("matching %s against reference predictors (%d SPD tasks, %d ILWD contexts)",
             inputs[0], cfg.n_tasks, cfg.n_ilwd_tasks)
    model_matching(inputs[0], cfg).to_csv(outputs[0], index=False)


def sweep_summary(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per sweep cell: best predictor by SPD averaged over k >= 1, and the GD-vs-Bayes gap."""
    rows = []
    for table in tables:
        spd_rows = table[(table["metric"] == "spd") & (table["k"] >= 1)]
        mean_spd = spd_rows.groupby("predictor")["value"].mean()  # averaged over k
        labels = spd_rows.drop_duplicates("predictor").set_index("predictor")["label"]
        noise_std, best = float(table["noise_std"].iloc[0]), mean_spd.idxmin()
        bayes, gd1 = mean_spd[bayes_predictor_id(noise_std)], mean_spd["gd_1"]
        rows.append({"run": table["run"].iloc[0], "n_layer": int(table["n_layer"].iloc[0]),
                     "noise_std": noise_std, "best_predictor": best, "best_label": labels[best],
                     "best_spd": mean_spd[best], "spd_ols": mean_spd["least_squares"], "spd_gd_1": gd1,
                     "spd_bayes": bayes, "spd_gap_log10": np.log10(gd1 / bayes)})
    return pd.DataFrame(rows).sort_values(["n_layer", "noise_std"], ignore_index=True)


def sweep_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: the sweep's matching tables -> the depth x noise summary (CSV)."""
    sweep_summary([pd.read_csv(path) for path in inputs]).to_csv(outputs[0], index=False)
