"""Study 5: is emergent in-context learning transient? (Singh et al. 2023 on Chan et al. 2022's data)

Training (`train:train_rule`) logs every evaluator at log-spaced steps into each run's
train_metrics.csv; this module only reads those tables (no torch), so it is cheap:

- `collect_rule`: one tidy table of every run's curves (dataset, size, weight_decay, seed, step,
  metric, value) and a summary table with one row per run: peak and final ICL, the step of the
  peak, the drop from the peak, whether training loss kept falling after the peak, the final IWL
  accuracy as a count of correct evaluation episodes with its Wilson interval and whether it rose
  above chance (1/n_labels), and for the finite-pool regression runs the minimum and final
  fresh-task error.

The runs themselves (`runs`, `run_params`, `run_tag`) are declared in icl_study/studies/transience_plan.py
(`log_steps` in icl_study/plan.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

from icl_study.jobs import figure_png
from icl_study.plan import log_steps  # noqa: F401 (the runs' steps, declared in the plan)
from icl_study.studies.transience_plan import (TRANSIENCE_CURVES_FIGURE, TRANSIENCE_PEAK_FINAL_FIGURE,
                                               TRANSIENCE_REGRESSION_FIGURE)
from icl_study.studies.transience_plan import run_tag  # noqa: F401 (the runs' names, declared in its plan)
from icl_study.studies.transience_plan import transience_run_params as run_params  # noqa: F401
from icl_study.studies.transience_plan import transience_runs as runs  # noqa: F401

log = logging.getLogger("icl_study.studies.transience")
# numpy, pandas and the package's own modules are imported inside the functions: the workflow
# imports this module while it parses the rules, where every import adds to `snakemake -n`'s time.

ICL_METRIC = "icl"  # the headline evaluator: few-shot on holdout classes (chance 0.5)


def parse_run_path(path: str) -> dict:
    """(dataset, size, weight_decay, seed) from results/transience/<dataset>/<size>/wd<wd>/seed<s>/..."""
    parts = Path(path).parts
    i = parts.index("transience")
    dataset, size, wd, seed = parts[i + 1 : i + 5]
    return {"dataset": dataset, "size": size, "weight_decay": float(wd[2:]), "seed": int(seed[4:])}


def tidy_curves(paths: list[str]):
    """Every run's train_metrics.csv stacked into one tidy table with the run's coordinates."""
    import pandas as pd

    frames = []
    for path in paths:
        frame = pd.read_csv(path)
        for key, value in parse_run_path(path).items():
            frame[key] = value
        frames.append(frame)
    columns = ["dataset", "size", "weight_decay", "seed", "step", "split", "metric", "value"]
    return pd.concat(frames, ignore_index=True)[columns]


def summarize_run(curve) -> dict:
    """One run's peak/final numbers from its rows of the tidy table (one dataset, one run)."""
    wide = curve.pivot_table(index="step", columns="metric", values="value").sort_index()
    loss = wide["loss"].dropna()
    out = {"final_step": int(wide.index.max()), "final_loss": float(loss.iloc[-1])}
    if ICL_METRIC in wide:
        icl = wide[ICL_METRIC].dropna()
        peak_step = int(icl.idxmax())
        after = loss[loss.index >= peak_step]
        out.update(peak_icl=float(icl.max()), peak_step=peak_step, final_icl=float(icl.iloc[-1]),
                   icl_drop=float(icl.max() - icl.iloc[-1]),
                   final_iwl=float(wide["iwl"].dropna().iloc[-1]),
                   final_icl_flip=float(wide["icl_flip"].dropna().iloc[-1]),
                   loss_at_peak=float(after.iloc[0]), loss_fell_after_peak=bool(after.iloc[-1] < after.iloc[0]))
    if "fresh_error" in wide:
        fresh = wide["fresh_error"].dropna()
        out.update(min_fresh_error=float(fresh.min()), min_fresh_step=int(fresh.idxmin()),
                   final_fresh_error=float(fresh.iloc[-1]), fresh_rise=float(fresh.iloc[-1] - fresh.min()),
                   final_pool_error=float(wide["pool_error"].dropna().iloc[-1]))
    return out


IWL_NEVER = "IWL never appeared within the budget"


def iwl_counts(final_iwl: float, eval_size: int, n_labels: int) -> dict:
    """The final IWL accuracy as a count of correct episodes out of `eval_size` (the evaluator is an
    accuracy on a fixed batch), its Wilson 95% interval, chance 1/n_labels, and `iwl_appeared`:
    the whole interval above chance. IWL is the competitor transience is about: without it, ICL
    that did not fade says only that the budget was too short for anything to replace it."""
    from icl_study.intervals import wilson_ci

    correct = int(round(final_iwl * eval_size))
    _, low, high = wilson_ci(correct, eval_size)
    chance = 1.0 / n_labels
    return {"iwl_correct": correct, "iwl_episodes": eval_size, "iwl_chance": chance,
            "final_iwl_wilson_low": low, "final_iwl_wilson_high": high, "iwl_appeared": bool(low > chance)}


def summarize(curves, eval_shapes: dict | None = None):
    """One row per run (dataset, size, weight_decay, seed) with `summarize_run`'s columns; for a
    bursty run whose (size, weight_decay, seed) has an entry (eval_size, n_labels) in
    `eval_shapes`, also `iwl_counts`'s columns."""
    import pandas as pd

    keys = ["dataset", "size", "weight_decay", "seed"]
    rows = []
    for key, group in curves.groupby(keys):
        row = {**dict(zip(keys, key)), **summarize_run(group)}
        shape = (eval_shapes or {}).get(key[1:])
        if shape is not None and "final_iwl" in row:
            row.update(iwl_counts(row["final_iwl"], *shape))
        rows.append(row)
    return pd.DataFrame(rows)


def eval_shapes(section: dict) -> dict:
    """{(size, weight_decay, seed): (eval_size, n_labels)} of every bursty run of the config section,
    from the run's own task config (so the count and chance are the run's, arms included)."""
    from icl_study.config import from_dict
    from icl_study.tasks.bursty import BurstyTaskConfig

    out = {}
    for dataset, size, wd, seed in runs(section):
        if dataset == "bursty":
            task = from_dict(BurstyTaskConfig, run_params(section, dataset, size, wd, seed)["task_config"], "task")
            out[(size, float(wd), int(seed))] = (task.eval_size, task.n_labels)
    return out


FADE_THRESHOLD = 0.05  # ICL drop from peak to final called fading: ~4 binomial SEs of a 512-episode evaluator at 0.9


def settings_summary(summary):
    """One row per setting (dataset, size, weight_decay) over its seeds: n_seeds, and the mean with a
    95% Student-t interval over seeds (NaN with one seed) of peak ICL, final ICL, the drop and the
    final loss; `fades`: "yes" if every seed's drop exceeds FADE_THRESHOLD, "no" if none does, else
    "mixed"; for bursty runs with IWL counts, the counts pooled over seeds (`iwl_correct`,
    `iwl_episodes`, `iwl_chance`) and `iwl`: "IWL above chance" in every seed, IWL_NEVER in none,
    else "mixed"."""
    import pandas as pd

    from icl_study.intervals import seed_interval

    rows = []
    for key, group in summary.groupby(["dataset", "size", "weight_decay"]):
        row = dict(zip(["dataset", "size", "weight_decay"], key), n_seeds=len(group))
        for column in ("peak_icl", "final_icl", "icl_drop", "final_iwl", "final_loss", "min_fresh_error",
                       "final_fresh_error", "fresh_rise"):
            if column not in group or group[column].isna().all():
                continue
            mean, low, high = seed_interval(group[column].to_numpy(dtype=float))
            row.update({column: mean, f"{column}_low": low, f"{column}_high": high})
        if "icl_drop" in group and group["icl_drop"].notna().all():
            fading = group["icl_drop"] > FADE_THRESHOLD
            row["fades"] = "yes" if fading.all() else "no" if not fading.any() else "mixed"
        if "iwl_appeared" in group and group["iwl_appeared"].notna().all():
            appeared = group["iwl_appeared"].astype(bool)
            row.update(iwl_correct=int(group["iwl_correct"].sum()), iwl_episodes=int(group["iwl_episodes"].sum()),
                       iwl_chance=float(group["iwl_chance"].iloc[0]),
                       iwl="IWL above chance" if appeared.all() else IWL_NEVER if not appeared.any() else "mixed")
        rows.append(row)
    return pd.DataFrame(rows)


def collect_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: train_metrics.csv files -> outputs[0] curves.csv, outputs[1] summary.csv (one row
    per run, with its setting's n_seeds; peak step and drop per seed), outputs[2] (if given)
    settings.csv (intervals over seeds), outputs[3] (if given) l2.csv (`l2_table`: the weight-decay
    sweep at the base size, one row per decay).
    params["section"] (the transience config section, optional) gives each bursty run's evaluation
    size and label count, for the IWL counts."""
    import numpy as np

    curves = tidy_curves(inputs)
    summary = summarize(curves, eval_shapes(params["section"]) if params.get("section") else None)
    summary["n_seeds"] = summary.groupby(["dataset", "size", "weight_decay"])["seed"].transform("count")
    section = params.get("section") or {}
    decays = tuple(section.get("weight_decays", ()))
    frames = (curves, summary, settings_summary(summary),
              l2_table(summary, section.get("base_size", "base"), decays) if decays else summary.iloc[:0])
    for frame, path in zip(frames, outputs):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    log.info("collected %d runs into %s", len(summary), ", ".join(outputs))
    with_icl = summary.dropna(subset=["peak_icl"]) if "peak_icl" in summary else summary.iloc[:0]
    for _, row in with_icl.iterrows():
        appeared = row.get("iwl_appeared")  # numpy bool, or NaN / absent without IWL counts
        never = f" ({IWL_NEVER})" if isinstance(appeared, (bool, np.bool_)) and not appeared else ""
        log.info("%s %s wd=%g seed=%d: ICL peak %.3f at step %d, final %.3f; IWL final %.3f%s",
                 row.dataset, row["size"], row.weight_decay, row.seed, row.peak_icl, row.peak_step,
                 row.final_icl, row.final_iwl, never)


# --- claims: Singh et al. 2023, measured on settings.csv and summary.csv (intervals over seeds) ----

SINGH = "Singh et al. 2023"
SETTINGS_TABLE = "transience/settings.csv"
SUMMARY_TABLE = "transience/summary.csv"
# Weight decay keeps ICL only if it is compared at a matched fit: the decayed arm's final training
# loss must be within this many nats of the undecayed arm's (a decay that stops the model fitting at
# all, e.g. loss 0.76 vs 0.03, keeps ICL for the wrong reason).
LOSS_MARGIN = 0.1


def _setting(tables: dict, dataset: str, size: str, weight_decay: float, column: str):
    """(mean, low, high, n_seeds) of one settings.csv column for one setting; None if absent."""
    frame = tables[SETTINGS_TABLE]
    row = frame[(frame["dataset"] == dataset) & (frame["size"] == size) & (frame["weight_decay"] == weight_decay)]
    if row.empty or column not in row or row[column].isna().all():
        return None
    row = row.iloc[0]
    return float(row[column]), float(row[f"{column}_low"]), float(row[f"{column}_high"]), int(row["n_seeds"])


def _seed_measurement(tables, dataset, size, weight_decay, column):
    from icl_study.claims import NO_DATA, Measurement

    found = _setting(tables, dataset, size, weight_decay, column)
    return NO_DATA if found is None else Measurement(*found[:3], n_seeds=found[3])


def iwl_above_chance(tables, size: str, weight_decay: float):
    """Final IWL accuracy − chance (1/n_labels) of one bursty setting, from the correct-episode
    counts pooled over its seeds, with the Wilson 95% interval; NO_DATA without counts."""
    from icl_study.claims import NO_DATA, Measurement
    from icl_study.intervals import wilson_ci

    frame = tables[SETTINGS_TABLE]
    row = frame[(frame["dataset"] == "bursty") & (frame["size"] == size) & (frame["weight_decay"] == weight_decay)]
    if row.empty or "iwl_correct" not in row or row["iwl_correct"].isna().all():
        return NO_DATA
    row = row.iloc[0]
    p, low, high = wilson_ci(int(row["iwl_correct"]), int(row["iwl_episodes"]))
    chance = float(row["iwl_chance"])
    return Measurement(p - chance, low - chance, high - chance, n_examples=int(row["iwl_episodes"]),
                       n_seeds=int(row["n_seeds"]))


def iwl_gate(size: str, weight_decay: float):
    """The competitor transience is about must have appeared: ICL that did not fade before IWL rose
    above chance is a budget too short, not a contradiction."""
    from icl_study.claims import Gate

    return Gate(f"IWL rose above chance (final IWL accuracy − 1/n_labels, Wilson over the seeds' pooled "
                f"evaluation episodes, > 0; failing: {IWL_NEVER})",
                lambda t: iwl_above_chance(t, size, weight_decay))


def _paired_by_seed(tables, size: str, decays: tuple[float, float], column: str):
    """Per seed present in both arms: column at decays[0] − at decays[1], mean and t-interval over seeds."""
    from icl_study.claims import NO_DATA, over_seeds

    frame = tables[SUMMARY_TABLE]
    rows = frame[(frame["dataset"] == "bursty") & (frame["size"] == size)]
    if column not in rows:
        return NO_DATA
    wide = rows.pivot_table(index="seed", columns="weight_decay", values=column)
    if not set(decays) <= set(wide.columns):
        return NO_DATA
    diff = (wide[decays[0]] - wide[decays[1]]).dropna()
    return over_seeds(diff.to_numpy())


def matched_decay(tables, size: str, decays) -> float:
    """The largest decay after decays[0] whose final training loss (mean over the seeds it shares
    with decays[0], paired) is within LOSS_MARGIN of decays[0]'s: Singh et al.'s comparison at a
    matched fit (small decays remove the fading, large ones over-regularise). With none within
    the margin: the largest decay (whose loss gate then fails, naming why)."""
    frame = tables[SUMMARY_TABLE]
    rows = frame[(frame["dataset"] == "bursty") & (frame["size"] == size)]
    wide = rows.pivot_table(index="seed", columns="weight_decay", values="final_loss") if "final_loss" in rows else None
    matched = [wd for wd in decays[1:] if wide is not None and {decays[0], wd} <= set(wide.columns)
               and (wide[wd] - wide[decays[0]]).dropna().mean() < LOSS_MARGIN]
    return max(matched) if matched else max(decays[1:])


def l2_table(summary, size: str, decays):
    """One row per weight decay of the sweep (size `size`): n_seeds and mean [t-interval] over seeds
    of the ICL drop, peak step and final loss, and the final loss's paired difference from decays[0]
    (the matched-fit comparison)."""
    import pandas as pd

    from icl_study.intervals import seed_interval

    rows = summary[(summary["dataset"] == "bursty") & (summary["size"] == size)]
    base = rows[rows["weight_decay"] == decays[0]].set_index("seed")
    out = []
    for wd in decays:
        arm = rows[rows["weight_decay"] == wd].set_index("seed")
        row = {"weight_decay": wd, "n_seeds": len(arm)}
        for column in ("icl_drop", "peak_step", "final_loss", "final_iwl"):
            if column in arm and len(arm):
                row[column], row[f"{column}_low"], row[f"{column}_high"] = seed_interval(arm[column].to_numpy(dtype=float))
        paired = (arm["final_loss"] - base["final_loss"]).dropna() if "final_loss" in arm else []
        if len(paired):
            row["loss_vs_first"], row["loss_vs_first_low"], row["loss_vs_first_high"] = seed_interval(paired.to_numpy())
        out.append(row)
    return pd.DataFrame(out)


def claims(config: dict) -> list:
    """Singh et al.'s claims: ICL fades after it emerges (in each bursty arm, and in the p_bursty < 1
    sweep), gated on IWL having appeared; weight decay keeps it, gated on a matched training loss; a
    finite task pool makes fresh-task generalisation transient."""
    from icl_study.claims import Claim, Gate
    from icl_study.measures.transient_pool import HALF

    section = config["transience"]
    decays, base = section["weight_decays"], section["base_size"]
    curves, regression = figure_png(TRANSIENCE_CURVES_FIGURE), figure_png(TRANSIENCE_REGRESSION_FIGURE)
    fade = "ICL drop from its peak to the last step (peak − final holdout ICL accuracy), mean over seeds"
    out = []
    for arm, spec in section.get("arms", {}).items():
        wd = spec["weight_decays"][0]
        overrides = ", ".join(f"{key} {value}" for key, value in spec.get("task", {}).items())
        out.append(Claim(
            study="transience", paper=SINGH, claim_id=f"transience.fades.{arm}",
            claim="Emergent in-context learning is transient: it fades with more training while the loss keeps falling.",
            measure=f"{fade}, arm {arm} ({overrides or 'no task overrides'}), weight decay {wd:g}; the drop is ≥ 0 by "
                    f"construction, so it must exceed {FADE_THRESHOLD:g}",
            direction="greater", threshold=FADE_THRESHOLD, figure=curves, tables=(SETTINGS_TABLE,),
            gates=(iwl_gate(arm, wd),),
            compute=lambda t, arm=arm, wd=wd: _seed_measurement(t, "bursty", arm, wd, "icl_drop")))
    out.append(Claim(
        study="transience", paper=SINGH, claim_id="transience.fades.sweep",
        claim="Emergent in-context learning is transient: it fades with more training while the loss keeps falling.",
        measure=f"{fade}, the weight-decay sweep's data (bursty.task.p_bursty "
                f"{section['bursty']['task'].get('p_bursty', 1):g}), size {base}, weight decay {decays[0]:g}",
        direction="greater", threshold=FADE_THRESHOLD, figure=curves, tables=(SETTINGS_TABLE,),
        gates=(iwl_gate(base, decays[0]),),
        compute=lambda t: _seed_measurement(t, "bursty", base, decays[0], "icl_drop")))
    if len(decays) > 1:
        sweep = ", ".join(f"{wd:g}" for wd in decays[1:])
        out.append(Claim(
            study="transience", paper=SINGH, claim_id="transience.l2_keeps_icl",
            claim="L2 regularisation (weight decay) makes in-context learning persist.",
            measure=f"ICL drop at weight decay {decays[0]:g} minus at the matched decay (size {base}): the largest of "
                    f"{sweep} whose final training loss is within {LOSS_MARGIN:g} nats of decay {decays[0]:g}'s (mean "
                    f"over seeds; none: the largest decay), paired by seed, mean and t-interval over seeds",
            direction="greater", figure=figure_png(TRANSIENCE_PEAK_FINAL_FIGURE), tables=(SUMMARY_TABLE,),
            gates=(Gate(f"matched training loss: final loss at the matched decay − at {decays[0]:g}, paired by "
                        f"seed, below {LOSS_MARGIN:g} nats (else the decay keeps ICL by not fitting)",
                        lambda t: _paired_by_seed(t, base, (matched_decay(t, base, decays), decays[0]), "final_loss"),
                        direction="less", threshold=LOSS_MARGIN),),
            compute=lambda t: _paired_by_seed(t, base, (decays[0], matched_decay(t, base, decays)), "icl_drop")))
    pool = Gate(f"pool at most M*/{HALF:g}, M* measured in this run by the diversity sweep on the same task and model "
                f"(log2 M − log2(M*/{HALF:g}) <= 0; no M* for a task or model other than the sweep's)",
                lambda t: regression_pool_below_half(t, config), direction="less", threshold=1e-9, on="value")
    for wd in section["regression_weight_decays"][:1]:
        out.append(Claim(
            study="transience", paper="Singh et al. 2023 (after Raventós et al. 2023)",
            claim_id="transience.regression_transient",
            claim="With a finite pool of regression tasks, generalisation to fresh tasks is transient.",
            measure=f"rise of the fresh-task error from its minimum to the last step, mean over seeds, weight decay "
                    f"{wd:g}; ≥ 0 by construction, so it must exceed {FADE_THRESHOLD:g}",
            direction="greater", threshold=FADE_THRESHOLD, figure=regression, tables=(SETTINGS_TABLE, THRESHOLD_TABLE),
            gates=(pool,), compute=lambda t, wd=wd: _seed_measurement(t, "regression", "pool", wd, "fresh_rise")))
    return out


THRESHOLD_TABLE = "diversity/threshold.csv"  # M* per seed, from the diversity sweep (no study imports another)
SHAPE_KEYS = {"task": ("n_dims", "n_points", "noise_std", "w_scale"),
              "model": ("n_layer", "n_head", "d_model", "d_mlp", "attention", "layer_norm")}


def regression_pool_below_half(tables: dict, config: dict):
    """log2(regression pool) − log2(M*/2) with the diversity sweep's M* (measures/transient_pool.py),
    when the finite-pool regression runs share that sweep's task and model (an M* measured for
    another shape says nothing about theirs); NO_DATA otherwise."""
    from icl_study.claims import NO_DATA
    from icl_study.measures.transient_pool import pool_below_half

    ours, sweep = config["transience"]["regression"], config["diversity"]
    if any(ours[part].get(key) != sweep[part].get(key) for part, keys in SHAPE_KEYS.items() for key in keys):
        return NO_DATA
    return pool_below_half(tables[THRESHOLD_TABLE], float(ours["task"]["pool_size"]))
