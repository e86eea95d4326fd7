"""Rec2FTP's interval on Dai's per-example table (torch-free: the claims ledger and the study's
summary both use it)."""

from __future__ import annotations


def rec2ftp_ci(frame) -> tuple[float, float, float, int]:
    """Rec2FTP with a Wilson 95% interval: among the rows FT fixed (ZS wrong, FT right), the share
    ICL also gets right. It is a proportion, so a percentile bootstrap would give the degenerate
    [1, 1] when every fixed row is recovered. Rows of one test example under several demonstration
    sets are not independent, so the interval counts each test example once: n = test examples
    with a fixed row, successes = the pooled share x n. Returns (value, low, high, n)."""
    from icl_study.intervals import wilson_ci

    fixed = frame[(frame["zs_correct"] == 0) & (frame["ft_correct"] == 1)]
    n = int(fixed["example"].nunique())
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    share = float(fixed["icl_correct"].mean())
    return (*wilson_ci(share * n, n), n)
