"""Across papers: every lens on the same checkpoints, over training time.

A checkpoint family is one setting's runs over training seeds: from the transience study
(icl_study/studies/transience.py) the bursty few-shot classifier, whose ICL rises and then fades,
and the finite-pool regression model; from the diversity study the transient-ridge runs (a pool
just below the task-diversity threshold). A family's kind (bursty or regression, from its task)
decides its lenses and its ICL metric. Each kept checkpoint (`checkpoints/step_XXXXXXX.pt`) is measured by every lens listed for its
family, one rule job per (family, step, lens), each writing rows of the tidy table

    family, step, lens, metric, value, ci_low, ci_high

(a 95% percentile bootstrap over episodes or tasks; NaN where a lens has no per-episode values).
The lenses, each reusing its study's measurement (icl_study/measures):

- `evaluators` (Study 5): the task's own fixed evaluator batches: ICL and IWL accuracy (bursty),
  in-pool and fresh-task error (regression); equal to the training log at the same step.
- `spd` (Study 1, regression): squared prediction difference at the query (k = n − 1 examples) to
  OLS and one-step GD (learning rate tuned on held-out tasks), on fresh tasks; and to ridge
  (λ = σ²/τ²), the Bayes rule there, which is the excess error over Bayes (`spd_bayes_excess_error`).
- `probe` (Study 1, regression): held-out R² of the ridge probe for Xᵀy and w_OLS at the query,
  best layer.
- `dai` (Study 2): ZS (the query alone), ICL (demonstrations + query) and FT (the query alone after
  SGD, batch 1, one epoch in demonstration order, on the key/value thirds of each fused `qkv`
  projection, with the task's loss on the demonstrations shown one at a time); SimAOU and Kendall τ
  (ICL's head-summed attention over the prompt's demonstration tokens vs FT's implied attention
  q_FT · q_i) per layer at the query, each also on an untrained model of the same shape. A lone
  demonstration is one token: attention over one key has no gradient, so only values move.
- `dual` (Study 3): relative error between a layer's softmax attention output at the query and its
  Ren & Liu dual model (value / normaliser dual models with m positive random features), per layer;
  and the median ||q + k||² over the query's keys, which sets the feature estimator's variance.
- `order` (Study 4): spread (std over P orders of the same demonstrations) of the ICL prediction at
  the query (bursty: probability of the true label; regression: ŷ), and (bursty) the spread of the
  true label's log-probability among episodes answered correctly in every order (the
  earlier fraction of episodes whose label flips is bounded by the error rate).

ICL episodes: bursty holdout-class few-shot episodes (the `icl` evaluator's kind, own draws);
regression fresh tasks w ~ N(0, τ² I). `collect_rule` stacks the cells, pools the seeds (mean, t-interval over seeds) and writes
the rank correlation (Spearman, across checkpoints, pooling the seeds) of each lens metric with the
family's ICL metric; and, for the claims, the partial Spearman ρ given log(step) (per seed, combined
in Fisher z) and whether each seed's ICL falls after its best checkpoint (the claims' gate: with ICL
monotone in step, any metric that drifts with training correlates with it).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from icl_study import metrics
from icl_study.baselines import gradient_descent, least_squares, ridge
from icl_study.checkpoint import load_model
from icl_study.columns import LENS_COLUMNS as COLUMNS
from icl_study.columns import LENS_ICL_HIGHER_IS_BETTER as ICL_HIGHER_IS_BETTER
from icl_study.columns import LENS_ICL_METRIC as ICL_METRIC
from icl_study.columns import LENS_MEMBER_COLUMNS as MEMBER_COLUMNS
from icl_study.columns import LENS_REGRESSION_ONLY as REGRESSION_ONLY
from icl_study.columns import LENSES
from icl_study.config import ConfigError, from_dict
from icl_study.episodes import episode_batch, fresh_task, readout
from icl_study.intervals import fisher_z_ci, partial_correlation, seed_interval
from icl_study.measures.dual_fit import query_dual_error
from icl_study.measures.matched_finetuning import small_model_measures
from icl_study.measures.order import bursty_order_measures, permute_pairs
from icl_study.measures.probes import layer_features, partial_probe, probe_targets, ridge_probe
from icl_study.measures.spd import query_spd, tune_gd_lr
from icl_study.rng import generator, stream_seed
from icl_study.settings.lenses import DaiConfig, DualConfig, OrderConfig, ProbeLensConfig, SpdConfig
from icl_study.tasks import make_task as build_task
from icl_study.tasks.regression import predict
from icl_study.train import build_model

log = logging.getLogger("icl_study.lenses")


LENS_CONFIGS = {"evaluators": None, "spd": SpdConfig, "probe": ProbeLensConfig, "dai": DaiConfig,
                "dual": DualConfig, "order": OrderConfig}


# ---------------------------------------------------------------------------------------------
# Families, episodes, rows
# ---------------------------------------------------------------------------------------------


def family_of(run_cfg) -> str:
    return "bursty" if run_cfg.task == "bursty" else "regression"


def make_task(run_cfg):
    """The run's own task (same seed: the same class tables or task pool as in training)."""
    return build_task(run_cfg.task, run_cfg.task_config, run_cfg.train.seed)


def ci_rows(metric: str, values, n_boot: int, seed: int) -> tuple:
    """(metric, mean, ci_low, ci_high) of per-episode values (NaNs dropped), bootstrapped."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return (metric, np.nan, np.nan, np.nan)
    mean, low, high = metrics.bootstrap_ci(values, n_boot, seed=stream_seed(seed, "bootstrap"))
    return (metric, float(mean), float(low), float(high))


# ---------------------------------------------------------------------------------------------
# Lenses: each (model, run_cfg, cfg, n_boot, seed) -> [(metric, value, ci_low, ci_high)]
# ---------------------------------------------------------------------------------------------


def evaluators_lens(model, run_cfg, cfg, n_boot: int, seed: int) -> list[tuple]:
    """The transience evaluators on the task's fixed evaluation batches, per episode/task."""
    task, family = make_task(run_cfg), family_of(run_cfg)
    if family == "bursty":
        names, rows = list(task.EVALUATORS), []
        for name in ("icl", "iwl"):
            i = names.index(name)  # the evaluator's own generator step, as in BurstyTask.evaluate
            batch = task.eval_batch(name, generator(task.seed, "eval", i), task.cfg.eval_size)
            logits = model(batch["tokens"])[:, -1]  # (B, L)
            if task.EVALUATORS[name]:  # closed: argmax among the context's labels only
                in_context = torch.zeros_like(logits, dtype=torch.bool).scatter(1, batch["ctx_labels"], True)
                logits = logits.masked_fill(~in_context, float("-inf"))
            rows.append(ci_rows(name, (logits.argmax(1) == batch["query_label"]).float(), n_boot, seed))
        return rows
    rows = []
    for kind, batch in task.eval_batches.items():
        err = (predict(model, batch["xs"], batch["ys"]) - batch["ys"]).pow(2).mean(1) / task.cfg.n_dims  # (B,)
        rows.append(ci_rows(f"{kind}_error", err, n_boot, seed))
    return rows


def spd_lens(model, run_cfg, cfg: SpdConfig, n_boot: int, seed: int) -> list[tuple]:
    """SPD at the query to OLS, one-step GD and the Bayes rule ridge(σ²/τ²), on fresh tasks.

    The query (k = n − 1) only: at k near d min-norm OLS interpolates noise and its SPD explodes.
    On fresh tasks ridge(σ²/τ²) is the posterior mean, so SPD to it equals the model's error minus
    the Bayes error: it is named `spd_bayes_excess_error` and is a function of accuracy;
    OLS (σ > 0) and one-step GD are not the Bayes rule."""
    fresh = fresh_task(make_task(run_cfg))
    batch = fresh.sample(seed, cfg.n_tasks, "demo")
    xs, ys = batch["xs"], batch["ys"]
    lr = tune_gd_lr(fresh, 1, cfg.gd_lr_grid, cfg.n_tasks)
    references = {"ols": least_squares(xs, ys), "gd1": gradient_descent(xs, ys, lr, 1),
                  "bayes_excess_error": ridge(xs, ys, lam=fresh.cfg.noise_std**2 / fresh.cfg.w_scale**2)}
    pred = predict(model, xs, ys)
    spd = query_spd(pred, references)  # {name: (B,)}
    # How much closer to ridge than to OLS, per task: SPD to OLS alone is near a function of the
    # error (OLS is close to the Bayes rule), the difference is not (it is linear in the prediction).
    spd["ols_minus_ridge"] = spd["ols"] - spd["bayes_excess_error"]
    return [ci_rows(f"spd_{name}", values, n_boot, seed) for name, values in spd.items()]


def probe_lens(model, run_cfg, cfg: ProbeLensConfig, n_boot: int, seed: int) -> list[tuple]:
    """Held-out R² of the ridge probe for Xᵀy and w_OLS at the query, best layer (no CI); and the
    partial R² of w_OLS given Xᵀy (`r2_w_ols_given_xty`), best layer, as the linreg study judges
    its probes: w_OLS is largely linear in Xᵀy, so raw R² of w_OLS can be Xᵀy's alone."""
    fresh = fresh_task(make_task(run_cfg))
    data = [fresh.sample(step, n, "probe") for step, n in ((2 * seed, cfg.n_train), (2 * seed + 1, cfg.n_test))]
    feats = [layer_features(model, b["xs"], b["ys"]) for b in data]
    targets = [probe_targets(b["xs"], b["ys"]) for b in data]
    rows = []
    for target in ("xty", "w_ols"):
        r2 = [ridge_probe(tr, targets[0][target], te, targets[1][target], cfg.ridge_lambdas)
              for tr, te in zip(*feats)]
        rows.append((f"r2_{target}", max(r2), np.nan, np.nan))
    partial = [partial_probe(tr, targets[0]["w_ols"], targets[0]["xty"], te, targets[1]["w_ols"], targets[1]["xty"],
                             cfg.ridge_lambdas) for tr, te in zip(*feats)]
    rows.append(("r2_w_ols_given_xty", max((r for r in partial if np.isfinite(r)), default=np.nan), np.nan, np.nan))
    return rows


def dai_lens(model, run_cfg, cfg: DaiConfig, n_boot: int, seed: int) -> list[tuple]:
    """Per layer: SimAOU and Kendall τ of the checkpoint and of an untrained model of its shape."""
    family = family_of(run_cfg)
    episodes = episode_batch(make_task(run_cfg), family, cfg.n_episodes, seed)
    untrained = build_model(replace(run_cfg, train=replace(run_cfg.train, seed=cfg.untrained_seed))).eval()
    rows = []
    for suffix, subject in (("", model), ("_untrained", untrained)):
        simaou, tau = small_model_measures(subject, episodes, family, cfg.lr)
        for i in range(len(simaou)):
            rows += [ci_rows(f"simaou_l{i}{suffix}", simaou[i], n_boot, seed),
                     ci_rows(f"kendall_l{i}{suffix}", tau[i], n_boot, seed)]
    return rows


def dual_lens(model, run_cfg, cfg: DualConfig, n_boot: int, seed: int) -> list[tuple]:
    """Per layer: ||dual − attention|| / ||attention|| at the query (over heads), and median ||q + k||²."""
    episodes = episode_batch(make_task(run_cfg), family_of(run_cfg), cfg.n_sequences, seed)
    rows = []
    for i, (rel, spread) in enumerate(query_dual_error(model, episodes.tokens, cfg.n_features, seed)):
        rows += [ci_rows(f"rel_error_l{i}", rel, n_boot, seed), ci_rows(f"sq_norm_q_plus_k_l{i}", spread, n_boot, seed)]
    return rows


def order_lens(model, run_cfg, cfg: OrderConfig, n_boot: int, seed: int) -> list[tuple]:
    """Spread over demonstration orders of the query prediction (and of the predicted label)."""
    family = family_of(run_cfg)
    episodes = episode_batch(make_task(run_cfg), family, cfg.n_episodes, seed)
    B, N = episodes.demo_targets.shape
    perms = torch.rand(cfg.n_perms, B, N, generator=generator(seed, "misc", 100)).argsort(-1)  # (P, B, N)
    perms[0] = torch.arange(N)  # the drawn order first
    with torch.no_grad():
        outs = [readout(family, model(permute_pairs(episodes.tokens, p))) for p in perms]
    if family == "regression":
        return [ci_rows("pred_spread", metrics.order_spread(torch.stack(outs)), n_boot, seed)]  # (P, B) -> (B,)
    per_episode = bursty_order_measures(torch.stack(outs), episodes.targets, episodes.demo_targets)
    return [ci_rows(name, values, n_boot, seed) for name, values in per_episode.items()]


LENS_FUNCTIONS = {"evaluators": evaluators_lens, "spd": spd_lens, "probe": probe_lens, "dai": dai_lens,
                  "dual": dual_lens, "order": order_lens}


# ---------------------------------------------------------------------------------------------
# Rule entries
# ---------------------------------------------------------------------------------------------


def checkpoint_path(model_path: str | Path, step: int) -> Path:
    """The kept checkpoint of `step` beside a run's final model.pt."""
    return Path(model_path).parent / "checkpoints" / f"step_{step:07d}.pt"


def cell_table(model_path: str, params: dict) -> pd.DataFrame:
    """One (family, training seed, lens) cell: the lens's rows for each kept checkpoint in
    params["steps"] (or the single params["step"]) of the run whose model.pt is `model_path`."""
    family, lens = params["family"], params["lens"]
    steps = params["steps"] if "steps" in params else [params["step"]]
    if lens not in LENS_FUNCTIONS:
        raise ConfigError(f"lenses: unknown lens {lens!r} (known: {', '.join(LENSES)})")
    tables = []
    for step in map(int, steps):
        path = checkpoint_path(model_path, step)
        if not path.exists():
            raise ConfigError(f"lenses.families.{family}: no kept checkpoint at step {step} ({path})")
        model, run_cfg = load_model(path)
        if lens in REGRESSION_ONLY and family_of(run_cfg) != "regression":
            raise ConfigError(f"lenses.families.{family}: lens {lens!r} does not apply to a {run_cfg.task} run")
        cfg = from_dict(LENS_CONFIGS[lens], params["settings"], f"lenses.{lens}") if LENS_CONFIGS[lens] else None
        with torch.no_grad():  # the dai lens's finetuning turns gradients back on for itself
            rows = LENS_FUNCTIONS[lens](model, run_cfg, cfg, params["n_boot"], params["seed"])
        member = params.get("member", "seed0")
        table = pd.DataFrame([(family, member, step, lens, *row) for row in rows], columns=MEMBER_COLUMNS)
        log.info("%s %s step %d, %s:\n%s", family, member, step, lens, table[["metric", "value"]].to_string(index=False))
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def cell_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: a run's model.pt (its kept checkpoints lie beside it) -> one cell's CSV."""
    Path(outputs[0]).parent.mkdir(parents=True, exist_ok=True)
    cell_table(inputs[0], params).to_csv(outputs[0], index=False)


def _direction(before: pd.Series, after: pd.Series) -> int:
    """+1 / −1 when `after` lies above / below `before` beyond both 95% intervals (0 otherwise)."""
    lo_a, hi_a = before.fillna({"ci_low": before["value"], "ci_high": before["value"]})[["ci_low", "ci_high"]]
    lo_b, hi_b = after.fillna({"ci_low": after["value"], "ci_high": after["value"]})[["ci_low", "ci_high"]]
    return 1 if lo_b > hi_a else -1 if hi_b < lo_a else 0


def pool_members(members: pd.DataFrame) -> pd.DataFrame:
    """Per (family, step, lens, metric): the mean over training seeds, with a 95% t-interval over
    seeds when there are >= 2 (one seed keeps its bootstrap interval over episodes); n_seeds."""
    rows = []
    for key, group in members.groupby(["family", "step", "lens", "metric"], sort=False):
        values = group["value"].dropna().to_numpy(dtype=float)
        n = len(group)
        if n == 1 or len(values) < 2:
            low, high = group["ci_low"].iloc[0], group["ci_high"].iloc[0]
            mean = values.mean() if len(values) else np.nan
        else:
            mean, low, high = seed_interval(values)
        rows.append((*key, mean, low, high, n))
    return pd.DataFrame(rows, columns=["family", "step", "lens", "metric", "value", "ci_low", "ci_high", "n_seeds"])[COLUMNS]


def partial_spearman_over_seeds(paired: pd.DataFrame) -> tuple[float, float, float, int, int]:
    """Partial Spearman ρ of `value` and `icl` given log(step), per seed, combined over seeds.

    paired: index (member, step), columns value, icl. A correlation across checkpoints alone means
    little when both drift with training time, so each seed's ρ is taken after regressing the
    ranks of both on the rank of log(step) (= the rank of step), on that seed's own checkpoints.
    The seeds' ρ_i are combined in Fisher z, weighted by n_i − 4 (the inverse variance of atanh ρ_i
    with one control), and the interval is fisher_z_ci(n_controls=1) on the pooled weight. A seed
    with n_i ≤ 4 checkpoints adds nothing; a seed whose metric or ICL has the ranks of step
    (or is constant) counts as ρ_i = 0, since it shows nothing beyond training time (dropping it
    would leave the seeds where noise happened to reorder the ranks). It treats checkpoints as
    independent pairs, which a training trajectory is not: read the interval as a lower bound on
    the uncertainty.
    Returns (ρ, low, high, number of seeds used, number of (seed, checkpoint) pairs used)."""
    z_sum, weight, n_seeds, n_pairs = 0.0, 0.0, 0, 0
    for _, p in paired.groupby(level="member"):
        steps = p.index.get_level_values("step").to_numpy(dtype=float)
        if len(p) <= 4:
            continue
        r = partial_correlation(p["value"], p["icl"], np.log(steps), rank=True)
        r = r if np.isfinite(r) else 0.0  # a residual is constant: nothing beyond training time
        w = len(p) - 4  # n − 3 − n_controls
        z_sum += w * np.arctanh(np.clip(r, -1 + 1e-12, 1 - 1e-12))
        weight, n_seeds, n_pairs = weight + w, n_seeds + 1, n_pairs + len(p)
    if n_seeds == 0:
        return np.nan, np.nan, np.nan, 0, 0
    rho, low, high = fisher_z_ci(float(np.tanh(z_sum / weight)), int(weight) + 4, n_controls=1)
    return rho, low, high, n_seeds, n_pairs


def icl_falls(icl_members: pd.DataFrame, higher_is_better: bool) -> tuple[int, int]:
    """(seeds whose ICL falls after its best checkpoint, seeds with >= 2 checkpoints).

    icl_members: one seed's ICL rows per (member, step), columns value, ci_low, ci_high. A seed's
    ICL falls when its best checkpoint comes before the last and the last is worse than the best
    beyond both 95% intervals (over episodes): the precondition for a lens correlation over
    training to say more than "both change with training time"."""
    falls, seeds = 0, 0
    for _, curve in icl_members.groupby("member"):
        curve = curve.set_index("step").sort_index()
        if len(curve) < 2:
            continue
        seeds += 1
        best = curve["value"].idxmax() if higher_is_better else curve["value"].idxmin()
        last = curve.index.max()
        worse = -1 if higher_is_better else 1
        falls += int(best != last and _direction(curve.loc[best], curve.loc[last]) == worse)
    return falls, seeds


def correlations(table: pd.DataFrame, members: pd.DataFrame | None = None,
                 kinds: dict[str, str] | None = None) -> pd.DataFrame:
    """Per family and lens metric: Spearman ρ with the family's ICL metric across checkpoints, and
    the metric's direction (+1 up, −1 down, 0 within the intervals) from the first checkpoint to
    ICL's best one (the rise) and from there to the last (the fall), on the seed-pooled `table`.

    With `members` (per-seed rows): `spearman` pools every (seed, checkpoint) pair, each metric
    paired with its own seed's ICL; `spearman_seed_mean/low/high` is the mean of per-seed ρ with a
    t-interval over seeds; n_seeds. Without: ρ over the pooled table's checkpoints (one member).
    `kinds` maps a family to its kind (bursty | regression, whose ICL metric it uses); by default
    a family's name is its kind.

    The claims read `partial_spearman/low/high` (partial_spearman_over_seeds: given log(step), per
    seed, combined in Fisher z) with `partial_n_seeds` and `n_pairs`, and the family's gate
    `icl_fall_seeds` of `icl_seeds` (icl_falls) with `icl_fall_share`."""
    members = table.assign(member="pooled") if members is None else members
    out = []
    for family, rows in table.groupby("family"):
        kind = (kinds or {}).get(family, family)
        icl = rows[(rows["lens"] == "evaluators") & (rows["metric"] == ICL_METRIC[kind])].set_index("step").sort_index()
        if icl.empty:
            log.warning("lenses: %s has no evaluators cells, so no ICL curve to correlate with", family)
            continue
        best = icl["value"].idxmax() if ICL_HIGHER_IS_BETTER[kind] else icl["value"].idxmin()
        first, last = icl.index.min(), icl.index.max()
        fam_members = members[members["family"] == family]
        icl_m = fam_members[(fam_members["lens"] == "evaluators") & (fam_members["metric"] == ICL_METRIC[kind])]
        falls, icl_seeds = icl_falls(icl_m, ICL_HIGHER_IS_BETTER[kind])
        icl_m = icl_m.set_index(["member", "step"])["value"].rename("icl")
        for (lens, metric), group in rows.groupby(["lens", "metric"], sort=False):
            g = group.set_index("step").sort_index().join(icl["value"].rename("icl"), how="inner")
            m = fam_members[(fam_members["lens"] == lens) & (fam_members["metric"] == metric)]
            paired = m.set_index(["member", "step"]).join(icl_m, how="inner").dropna(subset=["value", "icl"])
            rho = paired["value"].corr(paired["icl"], method="spearman") if len(paired) > 2 else np.nan
            per_seed = [p["value"].corr(p["icl"], method="spearman") for _, p in paired.groupby(level="member") if len(p) > 2]
            per_seed = np.array([r for r in per_seed if np.isfinite(r)])
            seed_mean, seed_low, seed_high = seed_interval(per_seed) if len(per_seed) else (np.nan,) * 3
            partial, partial_low, partial_high, partial_seeds, n_pairs = partial_spearman_over_seeds(paired)
            rise = _direction(g.loc[first], g.loc[best]) if {first, best} <= set(g.index) and best != first else 0
            fall = _direction(g.loc[best], g.loc[last]) if {best, last} <= set(g.index) and best != last else 0
            out.append({"family": family, "lens": lens, "metric": metric, "icl_metric": ICL_METRIC[kind],
                        "n_seeds": m["member"].nunique(), "n_checkpoints": len(g), "spearman": rho,
                        "spearman_seed_mean": seed_mean, "spearman_seed_low": seed_low,
                        "spearman_seed_high": seed_high, "partial_spearman": partial, "partial_low": partial_low,
                        "partial_high": partial_high, "partial_n_seeds": partial_seeds, "n_pairs": n_pairs,
                        "icl_fall_seeds": falls, "icl_seeds": icl_seeds,
                        "icl_fall_share": falls / icl_seeds if icl_seeds else np.nan, "icl_best_step": int(best),
                        "value_first": g["value"].iloc[0], "value_at_icl_best": g["value"].get(best, np.nan),
                        "value_last": g["value"].iloc[-1], "rise_direction": rise, "fall_direction": fall})
    return pd.DataFrame(out)


def collect_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: every cell's CSV -> outputs[0] the seed-pooled lens table, outputs[1] the
    correlation table, outputs[2] (if given) the per-seed table; params["kinds"]: {family: kind}."""
    members = pd.concat([pd.read_csv(path) for path in inputs], ignore_index=True)
    members = members.sort_values(["family", "lens", "metric", "member", "step"], ignore_index=True)[MEMBER_COLUMNS]
    table = pool_members(members).sort_values(["family", "lens", "metric", "step"], ignore_index=True)
    corr = correlations(table, members, params.get("kinds"))
    for frame, path in zip((table, corr, members), outputs):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    log.info("%d cells, %d rows; correlations:\n%s", members.groupby(["family", "member", "step", "lens"]).ngroups,
             len(members), corr.to_string(index=False) if len(corr) else "(none)")
