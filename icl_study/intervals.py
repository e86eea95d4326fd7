"""Intervals over training seeds, tasks or test examples, torch-free (collect steps and the claims
ledger import it without paying for torch; icl_study.metrics re-exports the bootstraps)."""

from __future__ import annotations

import numpy as np
from scipy import stats


def seed_interval(values, alpha: float = 0.05) -> tuple[float, float, float]:
    """(mean, low, high) over training seeds: a Student-t (1 − alpha) interval of the mean,
    mean ± t_{n−1} s / sqrt(n). One seed: (value, NaN, NaN), since no spread can be estimated."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(1 - alpha / 2, len(values) - 1) * values.std(ddof=1) / len(values) ** 0.5
    return mean, mean - half, mean + half


def bootstrap_ci(
    values: np.ndarray, n_boot: int, alpha: float = 0.05, *, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 (tasks) with a percentile-bootstrap (1 − alpha) confidence interval.

    values: (n_tasks, ...). Resamples tasks with replacement `n_boot` times from
    `np.random.default_rng(seed)` (pass e.g. `rng.stream_seed(seed, "bootstrap")`), so the
    interval is a pure function of its arguments. Returns (mean, low, high), each of shape (...).
    """
    values = np.asarray(values)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.shape[0], size=(n_boot, values.shape[0]))  # (n_boot, n_tasks)
    boot_means = values[idx].mean(axis=1)  # (n_boot, n_tasks, ...) -> (n_boot, ...)
    low, high = np.percentile(boot_means, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
    return values.mean(axis=0), low, high


def _by_cluster(values, clusters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-NaN values (n,), the unique cluster ids (c,) and each value's cluster index (n,)."""
    values, clusters = np.asarray(values, dtype=float), np.asarray(clusters)
    keep = ~np.isnan(values)
    ids, which = np.unique(clusters[keep], return_inverse=True)
    return values[keep], ids, which


def cluster_bootstrap_ci(
    values: np.ndarray, clusters: np.ndarray, n_boot: int, alpha: float = 0.05, *, seed: int
) -> tuple[float, float, float, int]:
    """Mean of per-row values with a cluster-bootstrap (1 − alpha) percentile interval.

    values: (n_rows,) floats (NaN rows dropped); clusters: (n_rows,) ids, e.g. the test example a
    row belongs to when each example has one row per demonstration set. Each resample draws the
    unique clusters with replacement, and a drawn cluster brings all its rows, so rows of one
    example are never counted as independent evidence. The statistic is the mean over the drawn
    rows (the pooled mean; with equal cluster sizes, the mean of cluster means). Returns
    (mean, low, high, number of clusters); (nan, nan, nan, 0) when no row is left.
    """
    values, ids, which = _by_cluster(values, clusters)
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan"), 0
    sums = np.bincount(which, weights=values, minlength=len(ids))  # (n_clusters,)
    counts = np.bincount(which, minlength=len(ids)).astype(float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(ids), size=(n_boot, len(ids)))  # (n_boot, n_clusters)
    boot = sums[idx].sum(1) / counts[idx].sum(1)  # (n_boot,)
    low, high = np.percentile(boot, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(values.mean()), float(low), float(high), len(ids)


# --- statistics that fit the data: paired differences, proportions, correlations, few clusters ----
# (docs/definitions.md, "Intervals", states when each is used)

FEW_CLUSTERS = 20  # below this many clusters a percentile bootstrap is too narrow: t on cluster means


def cluster_t_ci(values: np.ndarray, clusters: np.ndarray, alpha: float = 0.05) -> tuple[float, float, float, int]:
    """Mean of the cluster means with a Student-t (1 − alpha) interval over clusters: for fewer than
    FEW_CLUSTERS clusters, where a percentile bootstrap under-covers. NaN rows are dropped; one
    cluster gives (mean, NaN, NaN, 1). Returns (mean, low, high, number of clusters)."""
    values, ids, which = _by_cluster(values, clusters)
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan"), 0
    means = np.bincount(which, weights=values) / np.bincount(which)  # (n_clusters,)
    return (*seed_interval(means, alpha), len(ids))


def cluster_ci(values: np.ndarray, clusters: np.ndarray, n_boot: int, alpha: float = 0.05, *,
               seed: int) -> tuple[float, float, float, int]:
    """The interval that fits the number of clusters with data (NaN rows dropped): the cluster
    bootstrap from FEW_CLUSTERS on, a t-interval on cluster means below it."""
    _, ids, _ = _by_cluster(values, clusters)
    if len(ids) < FEW_CLUSTERS:
        return cluster_t_ci(values, clusters, alpha)
    return cluster_bootstrap_ci(values, clusters, n_boot, alpha, seed=seed)


def wilson_ci(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float, float]:
    """A proportion with its Wilson score (1 − alpha) interval: never the degenerate [1, 1] a
    percentile bootstrap gives for 25 successes out of 25 (Wilson: [0.87, 1]). n = 0: NaNs."""
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    z = stats.norm.ppf(1 - alpha / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if successes == 0 else float(max(0.0, centre - half))
    high = 1.0 if successes == n else float(min(1.0, centre + half))
    return p, low, high


def exact_ci(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float, float]:
    """A proportion with its Clopper-Pearson exact (1 − alpha) interval (from the beta quantiles)."""
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    low = 0.0 if successes == 0 else float(stats.beta.ppf(alpha / 2, successes, n - successes + 1))
    high = 1.0 if successes == n else float(stats.beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    return successes / n, low, high


def fisher_z_ci(r: float, n: int, alpha: float = 0.05, n_controls: int = 0) -> tuple[float, float, float]:
    """A (partial) correlation with its Fisher-z (1 − alpha) interval, tanh(atanh r ± z / sqrt(n − 3
    − n_controls)): it stays inside [−1, 1], unlike a t-interval on r. NaN bounds where n is too
    small for the interval (n ≤ 3 + n_controls) or r is NaN; |r| = 1 is clipped just inside."""
    if not np.isfinite(r) or n - 3 - n_controls <= 0:
        return float(r), float("nan"), float("nan")
    z = np.arctanh(np.clip(r, -1 + 1e-12, 1 - 1e-12))
    half = stats.norm.ppf(1 - alpha / 2) / np.sqrt(n - 3 - n_controls)
    return float(r), float(np.tanh(z - half)), float(np.tanh(z + half))


def partial_correlation(x: np.ndarray, y: np.ndarray, controls: np.ndarray, rank: bool = False) -> float:
    """Correlation of x and y after regressing both on `controls` (n, c) with an intercept; with
    rank=True all three are ranked first (a partial Spearman ρ). x, y: (n,). NaN when a residual is
    constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    z = np.asarray(controls, dtype=float).reshape(len(x), -1)  # (n, c)
    if rank:
        x, y = stats.rankdata(x), stats.rankdata(y)
        z = np.column_stack([stats.rankdata(col) for col in z.T])
    design = np.column_stack([np.ones(len(x)), z])  # (n, 1 + c)
    rx = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    ry = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    if rx.std() < 1e-12 or ry.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def two_way_bootstrap_ci(values: np.ndarray, n_boot: int, alpha: float = 0.05, *,
                         seed: int) -> tuple[float, float, float]:
    """Mean of an (n_examples, n_sets) table (e.g. per-example accuracy gain under each demonstration
    set) with a two-way bootstrap: each resample draws examples and demonstration sets independently,
    with replacement, so both are random effects and an interval over three demonstration sets is
    not presented as if the sets were fixed. NaN cells are ignored. Returns (mean, low, high)."""
    values = np.asarray(values, dtype=float)  # (n_examples, n_sets)
    if values.size == 0 or np.isnan(values).all():
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    n_ex, n_sets = values.shape
    rows = rng.integers(0, n_ex, size=(n_boot, n_ex))  # (n_boot, n_examples)
    cols = rng.integers(0, n_sets, size=(n_boot, n_sets))  # (n_boot, n_sets)
    boot = np.array([np.nanmean(values[r][:, c]) for r, c in zip(rows, cols)])  # (n_boot,)
    low, high = np.nanpercentile(boot, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(np.nanmean(values)), float(low), float(high)


def examples_by_sets_ci(table: np.ndarray, n_boot: int, alpha: float = 0.05, *,
                        seed: int) -> tuple[float, float, float]:
    """Mean of an (n_examples, n_sets) table of per-example values (a gain or a difference, paired per
    example) under each demonstration set, with the interval that fits it: one set, `cluster_ci` over
    the examples; several, the two-way bootstrap, so the sets count as a random draw too."""
    table = np.asarray(table, dtype=float)  # (n_examples, n_sets)
    if table.shape[1] == 1:
        mean, low, high, _ = cluster_ci(table[:, 0], np.arange(len(table)), n_boot, alpha, seed=seed)
        return mean, low, high
    return two_way_bootstrap_ci(table, n_boot, alpha, seed=seed)
