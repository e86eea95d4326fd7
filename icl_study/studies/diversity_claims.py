"""The diversity study's claims (icl_study/studies/diversity.py has its analyses): each measure
reads only this study's tables (results/diversity/) and gives a t-interval over seeds.
Torch-free: the ledger imports it while the workflow parses.
"""

from __future__ import annotations

import math

from icl_study.settings.diversity import settings
from icl_study.jobs import figure_png
from icl_study.studies.diversity_plan import (DIVERSITY_THRESHOLD_FIGURE, DIVERSITY_TRANSIENT_FIGURE,
                                              DIVERSITY_LAYERS_FIGURE)

STUDY = "diversity"

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

    fig1, fig2, fig3 = (figure_png(name) for name in (DIVERSITY_THRESHOLD_FIGURE, DIVERSITY_TRANSIENT_FIGURE, DIVERSITY_LAYERS_FIGURE))
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
