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

Every claim (icl_study/studies/diversity_claims.py: `claims()`) reads only this study's tables and
returns a t-interval over seeds.
This module imports torch only inside the functions that need it (the Snakefile imports it).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

# The section's settings live in icl_study/settings/diversity.py like every study's; re-exported
# here for the callers that know them as the study's.
from icl_study.measures.optimizer_match import fit_linear, match_layers  # noqa: F401 (the layers' read-outs)
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
    are declared in icl_study/studies/diversity_plan.py)."""
    from icl_study.studies.diversity_plan import diversity_runs

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


def layer_features(model, tokens, position: int) -> list:
    """The residual stream (B, C) at `position` before block 0 (layer 0) and after each block."""
    import torch

    from icl_study.hooks import run_with_cache

    n = model.cfg.n_layer
    names = ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in range(n)]
    with torch.no_grad():
        _, cache = run_with_cache(model, tokens, names=names)
    return [cache[name][:, position] for name in names]


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
    from icl_study.tasks.regression import interleave_xy

    lcfg = layers_settings(params["layers"])
    spd_rows, summary, control = [], [], []
    for index, path in enumerate(inputs):
        model, run_cfg = load_model(path)
        n = run_cfg.task_config["n_points"]
        rows, summ = layer_match_tables(model, interleave_xy, 2 * (n - 1), lcfg, run_cfg.task_config, layers_member(path),
                                        control if index == 0 else None)  # the control depends on the task only
        spd_rows += rows
        summary += summ
        log.info("%s: %s", path, [(r["condition"], r["layer"], r["newton_steps"], r["gd_steps"]) for r in summ])
    for frame, path in zip((pd.DataFrame(summary), pd.DataFrame(spd_rows), pd.DataFrame(control)), outputs):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
