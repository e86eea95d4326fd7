"""Intervals over training seeds, torch-free (collect steps import it without paying for torch)."""

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
