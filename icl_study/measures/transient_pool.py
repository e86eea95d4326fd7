"""Settings in which the diversity study's effects can show: the transient-ridge pool size against
the measured task-diversity threshold M*, and whether the largest pool's models learned at all.

Transient ridge (Panwar et al. 2024; Carroll et al. 2025) shows below the threshold: ridge-like
early, dMMSE-like at the end. At M close to M* the final model is itself half ridge-like, so
"ridge first, then dMMSE" cannot show. The rule here: M <= M*/2, with M* the geometric mean of
the seeds' thresholds (threshold.csv).

Why a gate and not a pool size computed from M* at plan time: M* is measured by the diversity
sweep in the same run, so a transient pool size read from it would make the DAG depend on a result
(a checkpoint, or a second invocation). The transient runs are the sweep's own runs at one grid M
(their log-spaced checkpoints are the only extra), so the pool size stays configured;
`pool_from_threshold` says which grid M the rule picks from a measured threshold table (the
collect job logs it, and the tier's config states it), and the ledger's gate
(`measure_pool_below_half_threshold`) checks the configured M against the M* measured in the same
run, making every transient claim inconclusive, with the gate named, when it does not hold.

The threshold itself is only meaningful where the largest pool's models learned: a model that has
not reached ridge's fresh-task error at the largest M is not "generalising" however its SPDs
compare. `measure_largest_pool_learned` is that gate: (fresh error − ridge's) / ridge's at the
largest M, per seed.

Torch-free.
"""

from __future__ import annotations

import math

HALF = 2.0  # the transient pool is at most M*/HALF
LEARNED_MARGIN = 0.1  # the largest pool's fresh-task error within 10 % of ridge's


def geometric_threshold(threshold) -> float:
    """2 ** mean(log2 M*) over the seeds whose M* the grid brackets; NaN when none does."""
    values = [float(v) for v in threshold["log2_threshold"] if math.isfinite(float(v))]
    return 2 ** (sum(values) / len(values)) if values else math.nan


def pool_from_threshold(threshold, grid, factor: float = HALF) -> int | None:
    """The largest pool size of `grid` at most M*/factor (M*: `geometric_threshold`); None when no
    seed's M* is bracketed or no grid M is that small."""
    star = geometric_threshold(threshold)
    if not math.isfinite(star):
        return None
    below = [int(m) for m in grid if m <= star / factor]
    return max(below) if below else None


def measure_pool_below_half_threshold(tables, threshold_table: str, transient_table: str):
    """log2(transient M) − log2(M*/HALF) (M*: the seeds' geometric mean): <= 0 when the transient
    pool is at most half the measured threshold (a value gate); NaN when M* is not measured."""
    from icl_study.claims import NO_DATA

    pools = tables[transient_table]["pool_size"].unique()
    return pool_below_half(tables[threshold_table], float(pools[0])) if len(pools) == 1 else NO_DATA


def pool_below_half(threshold, pool_size: float):
    """log2(pool_size) − log2(M*/HALF) against a threshold table (M*: the seeds' geometric mean);
    NaN (NO_DATA) when no seed's M* is measured."""
    from icl_study.claims import NO_DATA, Measurement

    star = geometric_threshold(threshold)
    if not math.isfinite(star):
        return NO_DATA
    return Measurement(math.log2(pool_size) - math.log2(star / HALF), math.nan, math.nan, n_seeds=len(threshold))


def measure_largest_pool_learned(tables, sweep_table: str):
    """(fresh error − ridge's fresh error) / ridge's at the largest M, worst seed (a value gate:
    every seed's model must be within LEARNED_MARGIN of ridge)."""
    from icl_study.claims import NO_DATA, Measurement

    sweep = tables[sweep_table]
    if sweep.empty:
        return NO_DATA
    rows = sweep[sweep["pool_size"] == sweep["pool_size"].max()]
    excess = (rows["fresh_error"] - rows["fresh_error_ridge"]) / rows["fresh_error_ridge"]
    return Measurement(float(excess.max()), math.nan, math.nan, n_seeds=len(rows))


def measure_final_dmmse_like(transient):
    """Per seed at the last logged step: SPD to dMMSE − SPD to ridge on fresh tasks, the largest
    over seeds (a value gate: < 0 when every seed's final model is closer to dMMSE, i.e. the budget
    was long enough for the late phase)."""
    from icl_study.claims import NO_DATA, Measurement

    wide = transient.pivot_table(index=["seed", "step"], columns="metric", values="value").reset_index()
    if wide.empty:
        return NO_DATA
    last = wide.sort_values("step").groupby("seed").last()
    gap = last["fresh_to_dmmse"] - last["fresh_to_ridge"]
    return Measurement(float(gap.max()), math.nan, math.nan, n_seeds=len(gap))
