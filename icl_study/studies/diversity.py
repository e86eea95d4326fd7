"""Beyond the five papers: task diversity, transient ridge, and which optimizer each layer matches.

Three experiments on the finite-pool regression task (`tasks/pool_regression.py`), one model shape:

1. Task-diversity threshold (Raventós et al. 2023). One training job per pool size M (a log-2 grid)
   trains every seed at the same budget. The task's own evaluators (logged by `train.py` at
   log-spaced steps) give in-pool and fresh-task error and the SPD (mean squared prediction
   difference / d, over every position) to dMMSE (the pool posterior mean) and to ridge
   (λ = σ²/τ², the posterior mean under the Gaussian prior). `collect_rule` writes one row per
   (M, seed) at the last step and each seed's threshold M*: the first M at which fresh-task SPD to
   ridge falls below SPD to dMMSE, interpolated linearly on log2 M between the two grid points
   around the first sign change (NaN, with a note, when the grid does not bracket it).
2. Transient ridge (Panwar et al. 2024; Carroll et al. 2025). The runs at `transient_pool_size`
   (just below the threshold) keep log-spaced checkpoints; their curves (SPD to ridge and dMMSE on
   fresh tasks, training loss) over steps are written to transient.csv.
3. Which optimizer does each layer match? (Fu et al. 2024; von Oswald et al. 2023). For the models
   at `layers.pool_size`, the residual stream at the query's x-token after each block (layer 0: the
   embedding) gets a linear read-out (least squares with bias) fitted to y on held-out sequences.
   On test sequences its prediction is compared with iterative Newton (Newton-Schulz on XᵀX) after
   s = 0..S steps and with gradient descent after s = 0..S' steps. A read-out fitted to y is a
   calibrated predictor, while a few-step algorithm's prediction is shrunk towards 0; comparing the
   two directly would favour later steps only because of scale. So each algorithm's prediction is
   calibrated the same way (a·p + b fitted to y on the same fit sequences) before the SPD, and the
   matched step count is the argmin of that SPD. Done on isotropic inputs and on inputs whose
   covariance eigenvalues spread over `condition_spread` (×100; the models were trained on
   isotropic inputs, so this condition is also out of distribution).

Every claim in `claims()` reads only this study's tables and returns a t-interval over seeds.
This module imports torch only inside the functions that need it (the Snakefile imports it).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

# The section's settings live in icl_study/settings/diversity.py like every study's; re-exported
# here for the callers that know them as the study's.
from icl_study.settings.diversity import DiversityConfig, LayersConfig, layers_settings, settings  # noqa: F401

log = logging.getLogger("icl_study.studies.diversity")
STUDY = "diversity"
CONDITIONS = ("isotropic", "ill_conditioned")
FINAL_METRICS = ("pool_error", "fresh_error", "pool_to_ridge", "pool_to_dmmse", "fresh_to_ridge", "fresh_to_dmmse",
                 "pool_error_ridge", "pool_error_dmmse", "fresh_error_ridge", "fresh_error_dmmse")
TRANSIENT_METRICS = ("loss", "fresh_to_ridge", "fresh_to_dmmse", "fresh_error", "pool_error")


# ---------------------------------------------------------------------------------------------
# Config (every key of config.yaml's `diversity:` section, with its default)
# ---------------------------------------------------------------------------------------------


def run_job(section: dict, pool_size: int) -> dict:
    """`train:train_seeds_rule` params of one pool size: its run config and every seed (the runs
    are declared in icl_study/plan.py)."""
    from icl_study.plan import diversity_runs

    run = {run.name: run for run in diversity_runs(section)}[f"M{pool_size}"]
    return {"run": run.config, "seeds": list(run.seeds)}


def run_dir(pool_size: int, seed: int) -> str:
    return f"results/{STUDY}/M{pool_size}/seed{seed}"


def parse_run_path(path: str) -> tuple[int, int]:
    """(M, seed) from results/diversity/M<M>/seed<seed>/..."""
    parts = Path(path).parts
    i = parts.index(STUDY)
    return int(parts[i + 1][1:]), int(parts[i + 2][4:])


# ---------------------------------------------------------------------------------------------
# Experiments 1 and 2: tables from the training logs (no torch)
# ---------------------------------------------------------------------------------------------


def tidy_curves(paths: list[str]):
    """Every run's train_metrics.csv stacked: pool_size, seed, step, metric, value."""
    import pandas as pd

    frames = []
    for path in paths:
        frame = pd.read_csv(path)
        frame["pool_size"], frame["seed"] = parse_run_path(path)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[["pool_size", "seed", "step", "metric", "value"]]


def final_table(curves):
    """One row per (M, seed): every evaluator at the run's last step."""
    last = curves[curves["step"] == curves.groupby(["pool_size", "seed"])["step"].transform("max")]
    wide = last.pivot_table(index=["pool_size", "seed"], columns="metric", values="value").reset_index()
    wide["log2_pool_size"] = wide["pool_size"].map(math.log2)
    wide["spd_gap"] = wide["fresh_to_ridge"] - wide["fresh_to_dmmse"]  # < 0: closer to ridge than to dMMSE
    # the grid's ends by name, so that docs can quote them whatever the tier's grid is
    wide["grid_end"] = ""
    wide.loc[wide["pool_size"] == wide["pool_size"].min(), "grid_end"] = "smallest"
    wide.loc[wide["pool_size"] == wide["pool_size"].max(), "grid_end"] = "largest"
    return wide[["pool_size", "log2_pool_size", "seed", "grid_end", *FINAL_METRICS, "spd_gap", "loss"]]


def crossing(log2_m, gap) -> tuple[float, str]:
    """(log2 M*, note): the first sign change of `gap` from >= 0 to < 0 along increasing M, linearly
    interpolated on log2 M; NaN with a note when the first grid point is already < 0 or none is."""
    if gap[0] < 0:
        return float("nan"), "below grid (SPD to ridge < SPD to dMMSE at the smallest M)"
    for i in range(1, len(gap)):
        if gap[i] < 0:
            frac = gap[i - 1] / (gap[i - 1] - gap[i])
            return float(log2_m[i - 1] + frac * (log2_m[i] - log2_m[i - 1])), "bracketed"
    return float("nan"), "above grid (SPD to ridge >= SPD to dMMSE at every M)"


def threshold_table(final):
    """One row per seed: log2 M*, M* and whether the grid brackets it."""
    import pandas as pd

    rows = []
    for seed, group in final.sort_values("pool_size").groupby("seed"):
        log2_star, note = crossing(group["log2_pool_size"].to_numpy(), group["spd_gap"].to_numpy())
        rows.append({"seed": seed, "log2_threshold": log2_star, "threshold": 2**log2_star, "note": note})
    return pd.DataFrame(rows)


def reference_distance(task_config: dict, seed: int) -> float:
    """SPD between the two references themselves, ridge and dMMSE, on a run's fixed fresh-task
    evaluation batch (mean over positions, / d, as the logged SPDs): the scale that says whether
    "closer to ridge than to dMMSE" can be told apart at this M (at large M the two coincide)."""
    from icl_study.tasks.pool_regression import PoolRegressionTask

    task = PoolRegressionTask(task_config, seed)  # the run's own task: training seeds it with the seed
    refs = task.references["fresh"]
    return float(((refs["ridge"] - refs["dmmse"]) ** 2).mean()) / task.cfg.n_dims


def collect_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: train_metrics.csv of every run -> outputs sweep.csv (one row per M and seed at
    the last step; with params["section"], the diversity config section, also
    `fresh_ridge_to_dmmse`, `reference_distance` of each run), threshold.csv (M* per seed),
    transient.csv (the transient M's curves)."""
    curves = tidy_curves(inputs)
    final = final_table(curves)
    if params.get("section") is not None:
        configs = {m: run_job(params["section"], m)["run"]["task_config"] for m in final["pool_size"].unique()}
        final["fresh_ridge_to_dmmse"] = [reference_distance(configs[m], int(seed))
                                         for m, seed in zip(final["pool_size"], final["seed"])]
    transient = curves[(curves["pool_size"] == params["transient_pool_size"]) & curves["metric"].isin(TRANSIENT_METRICS)]
    for frame, path in zip((final, threshold_table(final), transient), outputs):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    log.info("collected %d runs; thresholds: %s", len(final), threshold_table(final).to_dict("records"))
    from icl_study.measures.transient_pool import pool_from_threshold

    picked = pool_from_threshold(threshold_table(final), sorted(final["pool_size"].unique()))
    log.info("transient pool: configured M = %s; at most M*/2 by this run's thresholds: M = %s%s",
             params["transient_pool_size"], picked, "" if picked == params["transient_pool_size"] else
             " (set diversity.transient_pool_size to it; the ledger's gate checks M <= M*/2)")


def query_distances(pred, refs: dict, ys, n_dims: int) -> dict:
    """At the query (the last position) of a fresh-task batch: the model's SPD (/ d) to ridge and to
    dMMSE, the two references' own SPD, and ridge's error. pred, refs[name], ys: (B, n)."""
    q = {name: ref[:, -1].double() for name, ref in refs.items()}
    p, y = pred[:, -1].double(), ys[:, -1].double()
    return {"query_to_ridge": ((p - q["ridge"]) ** 2).mean().item() / n_dims,
            "query_to_dmmse": ((p - q["dmmse"]) ** 2).mean().item() / n_dims,
            "query_ridge_to_dmmse": ((q["ridge"] - q["dmmse"]) ** 2).mean().item() / n_dims,
            "query_error_ridge": ((q["ridge"] - y) ** 2).mean().item() / n_dims}


def query_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: every run's model.pt -> outputs[0] query.csv, one row per (M, seed): the
    `query_distances` of the model on its own task's fixed fresh-task evaluation batch."""
    import pandas as pd
    import torch

    from icl_study.checkpoint import load_model
    from icl_study.tasks.pool_regression import PoolRegressionTask
    from icl_study.tasks.regression import predict

    rows = []
    for path in inputs:
        model, run_cfg = load_model(path)
        pool_size, seed = parse_run_path(path)
        task = PoolRegressionTask(run_cfg.task_config, seed)  # training seeds the task with the seed
        batch = task.eval_batches["fresh"]
        with torch.no_grad():
            pred = predict(model, batch["xs"], batch["ys"])  # (B, n)
        rows.append({"pool_size": pool_size, "log2_pool_size": math.log2(pool_size), "seed": seed,
                     **query_distances(pred, task.references["fresh"], batch["ys"], task.cfg.n_dims)})
    frame = pd.DataFrame(rows).sort_values(["pool_size", "seed"])
    Path(outputs[0]).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(outputs[0], index=False)
    log.info("query distances of %d models into %s", len(frame), outputs[0])


# ---------------------------------------------------------------------------------------------
# Experiment 3: per-layer read-outs matched to Newton and GD steps
# ---------------------------------------------------------------------------------------------


def sample_sequences(n_seq: int, n_points: int, n_dims: int, noise_std: float, w_scale: float, seed: int, step: int,
                     spread: float = 1.0):
    """Fresh-task sequences {xs (B, n, d), ys (B, n)}; x ~ N(0, diag(λ)) with λ from 1 to `spread`
    (geometric) rescaled to mean 1, so E||x||² = d in either condition. Stream "probe", `step`
    telling the draws apart (never a training batch)."""
    import torch

    from icl_study.rng import generator

    gen = generator(seed, "probe", step)
    eig = torch.logspace(0.0, math.log10(spread), n_dims) if spread > 1 else torch.ones(n_dims)
    eig = eig / eig.mean()
    xs = torch.randn(n_seq, n_points, n_dims, generator=gen) * eig.sqrt()
    ws = w_scale * torch.randn(n_seq, n_dims, generator=gen)
    ys = torch.einsum("bnd,bd->bn", xs, ws) + noise_std * torch.randn(n_seq, n_points, generator=gen)
    return {"xs": xs, "ys": ys}


def gd_path(xs, ys, lr: float, steps: int):
    """Query predictions (steps + 1, B) of 0..steps GD steps from w = 0 on the first n − 1 pairs,
    with `baselines.gradient_descent`'s normalisation (mean loss): one pass, not one call per s."""
    import torch

    X, y, q = xs[:, :-1], ys[:, :-1], xs[:, -1]  # (B, N, d), (B, N), (B, d)
    w, out = torch.zeros_like(q), [torch.zeros_like(q[:, 0])]
    for _ in range(steps):
        residual = (X @ w.unsqueeze(-1)).squeeze(-1) - y  # (B, N)
        w = w - lr * (X.mT @ residual.unsqueeze(-1)).squeeze(-1) / X.shape[1]
        out.append((q * w).sum(-1))
    return torch.stack(out)


def newton_path(xs, ys, steps: int):
    """Query predictions (steps + 1, B) of 0..steps Newton-Schulz iterations, as
    `baselines.iterative_newton` (M_0 = S/||S||₂², M <- 2M − MSM, w = M Xᵀy), in one pass."""
    import torch

    X, y, q = xs[:, :-1], ys[:, :-1], xs[:, -1]
    cov = X.mT @ X  # (B, d, d)
    alpha = 1.0 / torch.linalg.matrix_norm(cov, ord=2).clamp_min(torch.finfo(xs.dtype).tiny) ** 2
    inverse, moment = alpha[:, None, None] * cov, X.mT @ y.unsqueeze(-1)  # (B, d, d), (B, d, 1)
    out = []
    for s in range(steps + 1):
        if s:
            inverse = 2 * inverse - inverse @ cov @ inverse
        out.append((q * (inverse @ moment).squeeze(-1)).sum(-1))
    return torch.stack(out)


def fit_linear(features, target, ridge: float = 1e-6):
    """Least squares with bias: returns `predict(features (B, C)) -> (B,)`. `ridge` is relative to
    the mean feature power, so the fit is scale-free and never singular."""
    import torch

    def design(f):
        return torch.cat([f, torch.ones_like(f[:, :1])], dim=1)  # (B, C + 1)

    A = design(features.double())
    gram = A.T @ A
    gram = gram + ridge * gram.diagonal().mean() * torch.eye(A.shape[1], dtype=A.dtype)
    coef = torch.linalg.solve(gram, A.T @ target.double())

    def predict(f):
        return (design(f.double()) @ coef).to(f.dtype)

    return predict


def layer_features(model, tokens, position: int) -> list:
    """The residual stream (B, C) at `position` before block 0 (layer 0) and after each block."""
    import torch

    from icl_study.hooks import run_with_cache

    n = model.cfg.n_layer
    names = ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in range(n)]
    with torch.no_grad():
        _, cache = run_with_cache(model, tokens, names=names)
    return [cache[name][:, position] for name in names]


def match_layers(fit_layers: list, test_layers: list, fit: dict, test: dict, paths: dict, ridge: float):
    """For each layer: its read-out (fitted to y on `fit`) vs each algorithm's calibrated step-s
    prediction on `test`. `paths[name] = (fit path (S+1, B), test path (S+1, B))`. Returns rows
    (layer, algorithm, steps, spd) and per layer the read-out's normalized error."""
    rows, errors = [], []
    d = fit["xs"].shape[-1]
    calibrated = {}
    for name, (fit_path, test_path) in paths.items():
        calibrated[name] = [fit_linear(fit_path[s][:, None], fit["ys"][:, -1], ridge)(test_path[s][:, None])
                            for s in range(len(fit_path))]
    for layer, (f_fit, f_test) in enumerate(zip(fit_layers, test_layers)):
        readout = fit_linear(f_fit, fit["ys"][:, -1], ridge)(f_test)  # (B,)
        errors.append(((readout - test["ys"][:, -1]) ** 2).mean().item() / d)
        for name, preds in calibrated.items():
            rows += [{"layer": layer, "algorithm": name, "steps": s, "spd": ((readout - p) ** 2).mean().item() / d}
                     for s, p in enumerate(preds)]
    return rows, errors


def choose_gd_lr(data: dict, grid, steps: int) -> float:
    """The GD learning rate of `grid` whose path gets closest to OLS fastest (smallest mean over
    s = 1..steps of the query SPD to least squares): GD at its best, as Fu et al. compare it."""
    import torch

    X, y, q = data["xs"][:, :-1], data["ys"][:, :-1], data["xs"][:, -1]
    ols = (q * (torch.linalg.pinv(X) @ y.unsqueeze(-1)).squeeze(-1)).sum(-1)  # (B,)
    score = {lr: ((gd_path(data["xs"], data["ys"], lr, steps)[1:] - ols) ** 2).mean().nan_to_num(float("inf")).item()
             for lr in grid}
    return min(score, key=score.get)


def layer_match_tables(model, predict_tokens, position: int, lcfg: LayersConfig, task: dict, member: str,
                       control: list | None = None):
    """Both conditions for one model: (spd rows, summary rows). `predict_tokens(xs, ys)` lays out
    the model's tokens; `position` is the query's token index. With a list as `control`, the
    matcher's control (k-step GD and Newton fed as pseudo-layers, `measures/optimizer_match.py`)
    on the same sequences is appended to it."""
    from icl_study.measures.optimizer_match import control_rows

    spd_rows, summary = [], []
    for c, condition in enumerate(CONDITIONS):
        spread = lcfg.condition_spread if condition == "ill_conditioned" else 1.0
        data = {split: sample_sequences(n, task["n_points"], task["n_dims"], task["noise_std"], task.get("w_scale", 1.0),
                                        lcfg.seed, 2 * c + i, spread)
                for i, (split, n) in enumerate((("fit", lcfg.n_fit), ("test", lcfg.n_test)))}
        lr = choose_gd_lr(data["fit"], lcfg.gd_lr_grid, lcfg.max_gd_steps)
        paths = {"newton": tuple(newton_path(data[s]["xs"], data[s]["ys"], lcfg.max_newton_steps) for s in ("fit", "test")),
                 "gd": tuple(gd_path(data[s]["xs"], data[s]["ys"], lr, lcfg.max_gd_steps) for s in ("fit", "test"))}
        layers = {s: layer_features(model, predict_tokens(data[s]["xs"], data[s]["ys"]), position) for s in ("fit", "test")}
        rows, errors = match_layers(layers["fit"], layers["test"], data["fit"], data["test"], paths, lcfg.readout_ridge)
        for row in rows:
            row.update(member=member, condition=condition)
        spd_rows += rows
        summary += summarize_matches(rows, errors, member, condition, lr,
                                     {"newton": lcfg.max_newton_steps, "gd": lcfg.max_gd_steps}, lcfg.match_tolerance)
        if control is not None:
            ks = {"newton": lcfg.control_newton_ks, "gd": lcfg.control_gd_ks}
            control += [{**row, "member": member} for row in
                        control_rows(data["fit"], data["test"], paths, ks, lcfg.readout_ridge, lcfg.match_tolerance, condition)]
    return spd_rows, summary


def summarize_matches(rows, errors, member, condition, gd_lr, max_steps, tolerance: float = 0.0) -> list[dict]:
    """One row per layer: the matched Newton and GD step counts (the first step whose SPD is within
    (1 + tolerance) x the curve's minimum; 0: the argmin), their SPDs, and whether the match sits at
    the largest step compared (then it is a lower bound)."""
    from icl_study.measures.optimizer_match import matched_step

    out = []
    for layer, error in enumerate(errors):
        row = {"member": member, "condition": condition, "layer": layer, "last_layer": layer == len(errors) - 1,
               "readout_error": error, "gd_lr": gd_lr}
        for name in max_steps:  # the algorithms compared
            mine = sorted((r for r in rows if r["layer"] == layer and r["algorithm"] == name), key=lambda r: r["steps"])
            best = mine[matched_step([r["spd"] for r in mine], tolerance)]
            row.update({f"{name}_steps": best["steps"], f"{name}_spd": best["spd"],
                        f"{name}_at_max": best["steps"] == max_steps[name]})
        out.append(row)
    return out


def layers_member(path: str) -> str:
    """seed<seed> for a diversity run's model, the run's name for a linreg run's."""
    parts = Path(path).parts
    return f"seed{parse_run_path(path)[1]}" if "diversity" in parts else Path(path).parent.name


def layers_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: the model.pt of every model read out (every seed at layers.pool_size, or
    layers.linreg_runs) -> outputs layers.csv (matched steps per model, condition and layer),
    layers_spd.csv (every SPD) and layers_control.csv (the matcher's control: which step k-step
    GD and Newton pseudo-layers match)."""
    import pandas as pd

    from icl_study.checkpoint import load_model
    from icl_study.tasks.regression import interleave

    lcfg = layers_settings(params["layers"])
    spd_rows, summary, control = [], [], []
    for index, path in enumerate(inputs):
        model, run_cfg = load_model(path)
        n = run_cfg.task_config["n_points"]
        rows, summ = layer_match_tables(model, interleave, 2 * (n - 1), lcfg, run_cfg.task_config, layers_member(path),
                                        control if index == 0 else None)  # the control depends on the task only
        spd_rows += rows
        summary += summ
        log.info("%s: %s", path, [(r["condition"], r["layer"], r["newton_steps"], r["gd_steps"]) for r in summ])
    for frame, path in zip((pd.DataFrame(summary), pd.DataFrame(spd_rows), pd.DataFrame(control)), outputs):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)


# ---------------------------------------------------------------------------------------------
# Claims: each measure reads only this study's tables and gives a t-interval over seeds
# ---------------------------------------------------------------------------------------------

SWEEP, THRESHOLD, TRANSIENT, LAYERS, QUERY, LAYERS_CONTROL = (
    f"{STUDY}/{name}.csv" for name in ("sweep", "threshold", "transient", "layers", "query", "layers_control"))
RAVENTOS = "Raventós et al. 2023"
TRANSIENT_PAPERS = "Panwar et al. 2024; Carroll et al. 2025"
FU = "Fu et al. 2024"


def _interval(values, n_examples: int | None = None):
    import numpy as np

    from icl_study.claims import Measurement, over_seeds

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return Measurement(float("nan"), float("nan"), float("nan"), n_examples, 0)
    return over_seeds(values, n_examples=n_examples)


def _at_pool_size(tables, which: str):
    sweep = tables[SWEEP]
    m = sweep["pool_size"].max() if which == "largest" else sweep["pool_size"].min()
    return sweep[sweep["pool_size"] == m].sort_values("seed")


# Above the threshold, compare at M between ABOVE[0] and ABOVE[1] times the seed's own M*: far
# enough above it to be past the transition, not so far that ridge and dMMSE coincide.
ABOVE = (4.0, 16.0)
# Ridge and dMMSE "differ" at the compared M when their SPD is at least this fraction of ridge's own
# fresh-task error: below it a model can be close to both at once.
REFERENCES_DIFFER = 0.1


def compared_above_threshold(tables):
    """Per seed: the row of query.csv at the grid M in [ABOVE[0], ABOVE[1]] × the seed's M* nearest
    (on log2 M) to the window's middle; None for a seed with no bracketed M* or no M in the window."""
    sweep, threshold = tables[QUERY], tables[THRESHOLD].set_index("seed")
    out = {}
    for seed, rows in sweep.groupby("seed"):
        star = float(threshold.loc[seed, "threshold"]) if seed in threshold.index else float("nan")
        lo, hi = ABOVE[0] * star, ABOVE[1] * star
        inside = rows[(rows["pool_size"] >= lo) & (rows["pool_size"] <= hi)] if math.isfinite(star) else rows.iloc[:0]
        middle = math.log2(star) + math.log2(ABOVE[0] * ABOVE[1]) / 2 if math.isfinite(star) else 0.0
        out[seed] = None if inside.empty else inside.loc[(inside["log2_pool_size"] - middle).abs().idxmin()]
    return out


def _above_threshold(tables, value):
    """value(row) over seeds at the compared M; NaN (with n_seeds) if some seed has no compared M."""
    from icl_study.claims import Measurement

    rows = compared_above_threshold(tables)
    if not rows or any(row is None for row in rows.values()):
        return Measurement(float("nan"), float("nan"), float("nan"), n_seeds=len(rows))
    return _interval([value(row) for row in rows.values()])


def measure_generalises_above_threshold(tables):
    return _above_threshold(tables, lambda r: (r["query_to_ridge"] - r["query_to_dmmse"]) / r["query_ridge_to_dmmse"])


def measure_references_differ(tables):
    return _above_threshold(tables, lambda r: r["query_ridge_to_dmmse"] / r["query_error_ridge"])


def measure_threshold_in_grid(tables):
    """log2 M* over seeds; NaN (with n_seeds) when some seed's M* is not bracketed by the grid."""
    from icl_study.claims import Measurement

    log2_star = tables[THRESHOLD]["log2_threshold"].to_numpy(dtype=float)
    if len(log2_star) == 0 or not all(math.isfinite(v) for v in log2_star):
        return Measurement(float("nan"), float("nan"), float("nan"), n_seeds=len(log2_star))
    return _interval(log2_star)


def measure_unbracketed_seeds(tables):
    """Seeds whose M* the grid does not bracket (an exact count: a value gate)."""
    from icl_study.claims import Measurement

    notes = tables[THRESHOLD]["note"]
    return Measurement(float((notes != "bracketed").sum()), float("nan"), float("nan"), n_seeds=len(notes))


def measure_memorises_at_small_m(tables):
    rows = _at_pool_size(tables, "smallest")
    return _interval(rows["fresh_to_dmmse"] - rows["fresh_to_ridge"])


def measure_fresh_error_falls(tables):
    """Fresh error at the largest M − at the smallest, paired by seed (seeds present at both); NaN
    when the grid has one M (largest − smallest would be a degenerate 0 [0, 0])."""
    from icl_study.claims import NO_DATA

    big, small = _at_pool_size(tables, "largest"), _at_pool_size(tables, "smallest")
    if big["pool_size"].iloc[0] == small["pool_size"].iloc[0]:
        return NO_DATA
    paired = big.merge(small, on="seed", suffixes=("_big", "_small"))
    return _interval(paired["fresh_error_big"] - paired["fresh_error_small"])


def transient_points(transient):
    """Per seed: the ridge-like step, chosen leave-one-seed-out (the argmin of the other seeds'
    mean SPD-to-ridge curve, so no seed picks its own minimum and the rise can be negative), the
    seed's own values there and at the last step, and `steps_after`: how many logged steps follow
    the ridge-like one (0: the curve still approaches ridge at the end of the budget)."""
    wide = transient.pivot_table(index=["seed", "step"], columns="metric", values="value").reset_index()
    out = []
    for seed in sorted(wide["seed"].unique()):
        others = wide[wide["seed"] != seed].groupby("step")["fresh_to_ridge"].mean()
        own = wide[wide["seed"] == seed].set_index("step").sort_index()
        step = int(others.idxmin()) if len(others) else int(own["fresh_to_ridge"].idxmin())
        loss = own["loss"].dropna()
        out.append({"seed": seed, "step": step, "final_step": int(own.index.max()),
                    "steps_after": int((own.index > step).sum()),
                    "ridge_at": own.loc[step, "fresh_to_ridge"], "ridge_final": own["fresh_to_ridge"].iloc[-1],
                    "gap_at": own.loc[step, "fresh_to_dmmse"] - own.loc[step, "fresh_to_ridge"],
                    "gap_final": own["fresh_to_dmmse"].iloc[-1] - own["fresh_to_ridge"].iloc[-1],
                    "loss_at": loss[loss.index >= step].iloc[0], "loss_final": loss.iloc[-1]})
    return out


def _after_ridge_like(tables, final: str, at: str):
    """final − at per seed, over seeds; NaN (with n_seeds) when in some seed the ridge-like step is
    the last logged step: a ridge-like phase that did not end within the budget was not observed,
    and "last − last" would be a degenerate 0 [0, 0]."""
    from icl_study.claims import Measurement

    points = transient_points(tables[TRANSIENT])
    if any(p["steps_after"] == 0 for p in points):
        return Measurement(float("nan"), float("nan"), float("nan"), n_seeds=len(points))
    return _interval([p[final] - p[at] for p in points])


def measure_ridge_observed(tables):
    """Logged steps after the ridge-like step, fewest over seeds (an exact count: a value gate)."""
    from icl_study.claims import NO_DATA, Measurement

    points = transient_points(tables[TRANSIENT])
    if not points:
        return NO_DATA
    fewest = float(min(p["steps_after"] for p in points))
    return Measurement(fewest, float("nan"), float("nan"), n_seeds=len(points))


def measure_ridge_rises(tables):
    return _after_ridge_like(tables, "ridge_final", "ridge_at")


def measure_specialises(tables):
    return _after_ridge_like(tables, "gap_final", "gap_at")


def measure_loss_falls(tables):
    return _after_ridge_like(tables, "loss_final", "loss_at")


def _layers(tables, condition: str):
    layers = tables[LAYERS]
    return layers[layers["condition"] == condition]


def measure_newton_slope(tables):
    import numpy as np

    slopes = [np.polyfit(g["layer"], g["newton_steps"], 1)[0] for _, g in _layers(tables, "isotropic").groupby("member")]
    return _interval(slopes)


# A layer is "active" (still moving towards the solution) up to the first layer whose read-out error
# is within this fraction of the last layer's: the layers after it repeat the converged answer,
# and their flat matched steps would hide the per-layer rate.
ACTIVE_WITHIN = 0.1
# Newton steps are "linear in depth" when a straight line over the active layers explains at least
# this fraction of their variance (Fu et al.: a roughly constant number of Newton steps per layer).
NEWTON_LINEAR_R2 = 0.8


def active_layers(rows):
    """The rows of one model and condition from layer 1 (layer 0 is the embedding) up to the first
    layer whose read-out error <= (1 + ACTIVE_WITHIN) × the last layer's."""
    rows = rows[rows["layer"] >= 1].sort_values("layer")
    if rows.empty:
        return rows
    settled = rows[rows["readout_error"] <= (1 + ACTIVE_WITHIN) * rows["readout_error"].iloc[-1]]["layer"].min()
    return rows[rows["layer"] <= settled]


def _scaling(tables, condition: str):
    from icl_study.measures.optimizer_match import scaling_rows

    import pandas as pd

    rows = _layers(tables, condition)
    if "readout_error" in rows and not rows.empty:
        rows = pd.concat([active_layers(group) for _, group in rows.groupby("member")])
    return scaling_rows(rows)


def measure_newton_linear(tables):
    """R² of matched Newton steps on a straight line over the active layers, per model."""
    return _interval([r["newton_r2"] for r in _scaling(tables, "isotropic")])


def measure_gd_grows_faster(tables):
    """log2(slope of matched GD steps / slope of matched Newton steps) over the active layers, per
    model: a rate ratio (GD steps per Newton step added by a layer), > 0 when GD grows faster; NaN
    for a model whose Newton slope is not positive."""
    return _interval([math.log2(r["gd_over_newton_slope"]) if r["gd_over_newton_slope"] > 0 else math.nan
                      for r in _scaling(tables, "isotropic")])


def measure_control_recovered(tables):
    """Fraction of the control's (algorithm, k) pseudo-layers matched to exactly k by their own
    algorithm, over both conditions (an exact count: a value gate)."""
    from icl_study.claims import NO_DATA, Measurement
    from icl_study.measures.optimizer_match import control_recovery

    control = tables.get(LAYERS_CONTROL)
    if control is None or control.empty:
        return NO_DATA
    return Measurement(control_recovery(control), float("nan"), float("nan"), n_examples=len(control))


def _last_layer_gap(tables, condition: str):
    """GD − Newton matched steps at the last layer, per member (seed), as a Series indexed by member."""
    rows = _layers(tables, condition)
    last = rows[rows["layer"] == rows["layer"].max()].set_index("member")
    return (last["gd_steps"] - last["newton_steps"]).astype(float)


def measure_gd_exceeds_newton(tables):
    return _interval(_last_layer_gap(tables, "isotropic"))


def measure_gap_widens(tables):
    # paired by seed: the same model read out under both conditions (index alignment drops a
    # member measured under one condition only)
    return _interval((_last_layer_gap(tables, "ill_conditioned") - _last_layer_gap(tables, "isotropic")).dropna())


RIDGE_NOT_OBSERVED = "ridge-like phase not observed within the budget"


def claims(config: dict | None = None) -> list:
    """The study's claims (icl_study.claims.Claim), each measured from results/diversity/*.csv; the
    ledger (icl_study/ledger.py) calls it with the run's config, which every claim here ignores."""
    from icl_study.claims import Claim, Gate

    # The transient claims compare the ridge-like step with the last one: the phase must have ended.
    observed = Gate(f"ridge-like step before the last logged step in every seed (logged steps after it, fewest over "
                    f"seeds, > 0; failing: {RIDGE_NOT_OBSERVED})", measure_ridge_observed, on="value")
    not_observed = f"; NaN ({RIDGE_NOT_OBSERVED}) when in some seed it is the last logged step"
    # Settings in which the effects can show (measures/transient_pool.py): the transient pool at most
    # half the measured M*, a budget after which the transient runs end dMMSE-like, and a threshold
    # read only where the largest pool's models reached ridge's fresh-task error.
    from icl_study.measures import transient_pool as tp

    below_half = Gate(f"transient pool at most M*/{tp.HALF:g} (M*: geometric mean of the seeds' thresholds measured in "
                      f"this run; log2 M − log2(M*/{tp.HALF:g}) <= 0)", lambda t: tp.measure_pool_below_half_threshold(
                          t, THRESHOLD, TRANSIENT), direction="less", threshold=1e-9, on="value")
    final_dmmse = Gate("budget long enough: every transient seed ends closer to dMMSE than to ridge (SPD to dMMSE − SPD "
                       "to ridge at the last step, largest over seeds, < 0)", lambda t: tp.measure_final_dmmse_like(
                           t[TRANSIENT]), direction="less", on="value")
    learned = Gate(f"largest pool learned: fresh-task error within {tp.LEARNED_MARGIN:g} of ridge's ((error − ridge's) "
                   f"/ ridge's at the largest M, worst seed, < {tp.LEARNED_MARGIN:g})",
                   lambda t: tp.measure_largest_pool_learned(t, SWEEP), direction="less",
                   threshold=tp.LEARNED_MARGIN, on="value")
    transient_gates = (observed, below_half, final_dmmse)
    # The layer claims stand on the matcher: fed k-step GD / Newton predictions as pseudo-layers,
    # it must give back k for every k of the control.
    matcher = Gate("matcher control: k-step GD and Newton pseudo-layers matched to exactly k (fraction recovered "
                   "> 0.999)", measure_control_recovered, threshold=0.999, on="value")

    fig1, fig2, fig3 = (f"results/figures/diversity_{n}.png" for n in ("threshold", "transient", "layers"))
    grid = [math.log2(m) for m in settings((config or {}).get(STUDY)).pool_sizes]
    window = f"the grid M in [{ABOVE[0]:g}, {ABOVE[1]:g}] × the seed's own M* (nearest the window's middle on log2 M)"
    return [
        Claim(STUDY, RAVENTOS, "diversity.threshold_bracketed", "There is a task-diversity threshold: within the "
              "pool-size grid, fresh-task predictions move from dMMSE-like to ridge-like", "log2 M* (first M where "
              "fresh-task SPD to ridge < SPD to dMMSE, interpolated), mean over seeds; NaN when some seed's M* is not "
              "bracketed by the grid", "equivalent", fig1, measure_threshold_in_grid,
              threshold=(min(grid) + max(grid)) / 2, margin=(max(grid) - min(grid)) / 2, tables=(THRESHOLD, SWEEP),
              gates=(learned, Gate("M* bracketed by the grid in every seed (seeds not bracketed < 1)", measure_unbracketed_seeds,
                          direction="less", threshold=0.5, on="value"),)),
        Claim(STUDY, RAVENTOS, "diversity.generalises", "Above the task-diversity threshold the model's fresh-task "
              "predictions are closer to ridge than to dMMSE", "(SPD to ridge − SPD to dMMSE) / SPD(ridge, dMMSE) at the "
              f"query of fresh tasks, at {window}, per seed; NaN when some seed has no such M", "less", fig1,
              measure_generalises_above_threshold, tables=(QUERY, THRESHOLD, SWEEP),
              gates=(learned, Gate(f"ridge and dMMSE differ at the compared M: their SPD at the query / ridge's query error "
                          f"> {REFERENCES_DIFFER:g}", measure_references_differ, threshold=REFERENCES_DIFFER),)),
        Claim(STUDY, RAVENTOS, "diversity.memorises", "Below the threshold the model behaves like dMMSE (the pool "
              "posterior) on fresh tasks", "SPD to dMMSE − SPD to ridge on fresh tasks at the smallest M, per seed",
              "less", fig1, measure_memorises_at_small_m, tables=(SWEEP,)),
        Claim(STUDY, RAVENTOS, "diversity.fresh_error", "More task diversity lowers the fresh-task error",
              "fresh-task error at the largest M − at the smallest M, per seed", "less", fig1,
              measure_fresh_error_falls, tables=(SWEEP,)),
        Claim(STUDY, TRANSIENT_PAPERS, "diversity.transient_ridge_rises", "Below the threshold the model is ridge-like early "
              "and moves away from ridge later (transient ridge)", "fresh-task SPD to ridge at the last step − at the "
              "ridge-like step (argmin of the other seeds' mean curve), per seed" + not_observed, "greater", fig2,
              measure_ridge_rises, tables=(TRANSIENT, THRESHOLD), gates=transient_gates),
        Claim(STUDY, TRANSIENT_PAPERS, "diversity.transient_specialises", "After the ridge-like phase the model specialises "
              "towards dMMSE", "(SPD to dMMSE − SPD to ridge) at the last step − at the ridge-like step, per seed" + not_observed,
              "less", fig2, measure_specialises, tables=(TRANSIENT, THRESHOLD), gates=transient_gates),
        Claim(STUDY, TRANSIENT_PAPERS, "diversity.transient_loss_falls", "Training loss keeps falling while the model leaves "
              "ridge", "training loss at the last step − at the ridge-like step, per seed" + not_observed, "less", fig2,
              measure_loss_falls, tables=(TRANSIENT, THRESHOLD), gates=transient_gates),
        Claim(STUDY, FU, "diversity.layers_newton_slope", "The number of Newton steps a layer matches grows with depth",
              "least-squares slope of matched Newton steps over layer (isotropic inputs), per model", "greater",
              fig3, measure_newton_slope, tables=(LAYERS, LAYERS_CONTROL), gates=(matcher,)),
        Claim(STUDY, FU, "diversity.layers_newton_linear", "Newton steps are linear in depth: each layer adds a roughly "
              "constant number of Newton steps", f"R² of matched Newton steps on a line over the active layers (1 to the "
              f"first whose read-out error is within {ACTIVE_WITHIN:g} of the last's; isotropic), per model", "greater",
              fig3, measure_newton_linear, threshold=NEWTON_LINEAR_R2, tables=(LAYERS, LAYERS_CONTROL), gates=(matcher,)),
        Claim(STUDY, FU, "diversity.layers_gd_grows_faster", "The GD steps a layer matches grow faster with depth than "
              "the Newton steps", "log2(slope of matched GD steps / slope of matched Newton steps) over the active "
              "layers (isotropic), per model", "greater", fig3, measure_gd_grows_faster, tables=(LAYERS, LAYERS_CONTROL),
              gates=(matcher,)),
        Claim(STUDY, FU, "diversity.layers_gd_slower", "GD needs more steps than Newton to match the last layer",
              "matched GD steps − matched Newton steps at the last layer (isotropic), per model", "greater", fig3,
              measure_gd_exceeds_newton, tables=(LAYERS, LAYERS_CONTROL), gates=(matcher,)),
        Claim(STUDY, FU, "diversity.layers_gap_widens", "On ill-conditioned inputs the GD–Newton gap widens",
              "(GD − Newton matched steps at the last layer) ill-conditioned − isotropic, per model", "greater", fig3,
              measure_gap_widens, tables=(LAYERS, LAYERS_CONTROL), gates=(matcher,)),
    ]
