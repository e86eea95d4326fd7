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
    values, clusters = np.asarray(values, dtype=float), np.asarray(clusters)
    keep = ~np.isnan(values)
    values, clusters = values[keep], clusters[keep]
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan"), 0
    ids, which = np.unique(clusters, return_inverse=True)
    sums = np.bincount(which, weights=values, minlength=len(ids))  # (n_clusters,)
    counts = np.bincount(which, minlength=len(ids)).astype(float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(ids), size=(n_boot, len(ids)))  # (n_boot, n_clusters)
    boot = sums[idx].sum(1) / counts[idx].sum(1)  # (n_boot,)
    low, high = np.percentile(boot, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(values.mean()), float(low), float(high), len(ids)
