"""Study 1: which classical predictor does a trained transformer's prediction match?

For one trained model and every reference predictor (OLS min-norm, ridge, Bayes-optimal ridge
λ = σ²/τ², GD with k steps and a tuned learning rate, kNN, averaging), per in-context count k:

- SPD: mean over fresh tasks of (ŷ_model − ŷ_predictor)² at the query after k examples;
- ILWD: ||ŵ_model − ŵ_predictor||², where each ŵ is fitted by least squares to the predictor's
  outputs on `n_probe_queries` queries that share one context D_k (Akyürek et al. 2022), with the
  fit's R² (1 = the predictor is exactly linear in the query).

`sweep_summary` turns the per-run tables of the depth x noise sweep into one row per cell, pooling
the cell's training seeds: the best-matching predictor (smallest SPD averaged over k >= 1), whether
it beats the zero predictor by more than the seed-to-seed spread (only then is it called a match),
and the SPD gap between one-step GD and the Bayes-optimal predictor (OLS at σ = 0, ridge λ = σ²/τ²
otherwise), each with a t-interval over seeds.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from icl_study.baselines import make_predictor
from icl_study.checkpoint import load_model
from icl_study.config import from_dict
from icl_study.intervals import seed_interval
from icl_study.measures.spd import reference_predictors
from icl_study.metrics import bootstrap_ci, fit_implicit_weights, ilwd, spd, squared_error
from icl_study.rng import generator, stream_seed
from icl_study.settings.linreg import MatchingConfig
from icl_study.tasks.regression import RegressionTask, predict

log = logging.getLogger("icl_study.linreg_matching")
COLUMNS = ["run", "n_layer", "noise_std", "predictor", "label", "k", "metric", "value", "ci_low", "ci_high"]


def bayes_predictor_id(noise_std: float) -> str:
    """The Bayes-optimal predictor's id: min-norm OLS (the λ -> 0 ridge) without noise, else ridge(σ²/τ²)."""
    return "least_squares" if noise_std == 0 else "ridge_bayes"


def matching_predictors(task: RegressionTask, cfg: MatchingConfig) -> dict[str, tuple[str, object]]:
    """{id: (label, predictor)}: the error study's baselines (GD lr tuned; `zero` and `averaging`
    included), plus ridge(σ²/τ²) when σ > 0."""
    predictors = reference_predictors(task, cfg)
    # `zero` stays: a model that only shrinks its predictions towards 0 must not be read
    # as "matching one GD step"; sweep_summary names a match only where the best beats it.
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


def cell_name(run: str) -> str:
    """The sweep cell of a run: "L2_noise0_s1" -> "L2_noise0" (seed 0 keeps the plain name)."""
    return re.sub(r"_s\d+$", "", run)


def _seed_spds(table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(SPD per predictor averaged over k >= 1, labels) of one run's matching table."""
    spd_rows = table[(table["metric"] == "spd") & (table["k"] >= 1)]
    labels = spd_rows.drop_duplicates("predictor").set_index("predictor")["label"]
    return spd_rows.groupby("predictor")["value"].mean(), labels


def sweep_summary(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per sweep cell, pooling its seeds (runs "<cell>" and "<cell>_s{seed}").

    best_predictor: smallest SPD (mean over k >= 1, then over seeds), with a t-interval over seeds.
    margin_vs_zero: mean over seeds of SPD(model, zero) − SPD(model, best), margin_spread its
    seed-to-seed standard deviation; best_per_seed: each seed's own best (do the seeds agree?). match: "yes" where best is not `zero` and the margin exceeds the
    spread, "no" otherwise, "1 seed, exploratory" where one seed gives no spread. spd_gap_log10:
    log10 SPD(model, GD 1) / SPD(model, Bayes-optimal), mean and interval over seeds.
    """
    by_cell: dict[str, list[pd.DataFrame]] = {}
    for table in tables:
        by_cell.setdefault(cell_name(table["run"].iloc[0]), []).append(table)
    rows = []
    for cell, cell_tables in by_cell.items():
        spds = pd.DataFrame([_seed_spds(t)[0] for t in cell_tables])  # (n_seeds, n_predictors)
        labels = _seed_spds(cell_tables[0])[1]
        noise_std, n_seeds = float(cell_tables[0]["noise_std"].iloc[0]), len(cell_tables)
        best = spds.mean().idxmin()
        margin = spds["zero"] - spds[best]  # per seed
        spread = float(margin.std(ddof=1)) if n_seeds > 1 else float("nan")
        if n_seeds < 2:
            match = "1 seed, exploratory"
        else:
            match = "yes" if best != "zero" and margin.mean() > spread else "no"
        gap = np.log10(spds["gd_1"] / spds[bayes_predictor_id(noise_std)])
        best_mean, best_low, best_high = seed_interval(spds[best])
        gap_mean, gap_low, gap_high = seed_interval(gap)
        rows.append({"run": cell, "n_layer": int(cell_tables[0]["n_layer"].iloc[0]), "noise_std": noise_std,
                     "n_seeds": n_seeds, "best_predictor": best, "best_label": labels[best],
                     "best_spd": best_mean, "best_spd_low": best_low, "best_spd_high": best_high,
                     "spd_zero": spds["zero"].mean(), "margin_vs_zero": margin.mean(), "margin_spread": spread,
                     "match": match, "best_per_seed": ",".join(spds.idxmin(axis=1)), "spd_ols": spds["least_squares"].mean(), "spd_gd_1": spds["gd_1"].mean(),
                     "spd_bayes": spds[bayes_predictor_id(noise_std)].mean(), "spd_gap_log10": gap_mean,
                     "spd_gap_low": gap_low, "spd_gap_high": gap_high})
    return pd.DataFrame(rows).sort_values(["n_layer", "noise_std"], ignore_index=True)


def sweep_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: the sweep's matching tables -> the depth x noise summary (CSV)."""
    sweep_summary([pd.read_csv(path) for path in inputs]).to_csv(outputs[0], index=False)
