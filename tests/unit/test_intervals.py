"""The statistics of icl_study/intervals.py against known cases: paired differences, proportions,
correlations, few clusters and the two-way bootstrap."""

import numpy as np
import pytest
from scipy import stats

from icl_study import intervals


def test_pairing_removes_the_between_example_spread():
    """Two predictors whose per-example scores share a large example effect: the paired interval of
    the difference is far narrower than the conservative difference of two separate intervals."""
    rng = np.random.default_rng(0)
    example_effect = rng.normal(0, 1.0, 200)
    a = example_effect + 0.1 + rng.normal(0, 0.05, 200)
    b = example_effect + rng.normal(0, 0.05, 200)
    ids = np.arange(200)
    mean, low, high, n = intervals.cluster_ci(a - b, ids, 2000, seed=0)  # the per-example difference
    _, la, ha, _ = intervals.cluster_bootstrap_ci(a, ids, 2000, seed=0)
    _, lb, hb, _ = intervals.cluster_bootstrap_ci(b, ids, 2000, seed=0)
    assert n == 200 and low > 0.08 and high < 0.12  # paired: excludes 0 tightly
    assert la - hb < 0 < ha - lb  # unpaired conservative interval straddles 0


def test_wilson_and_exact_never_degenerate_at_the_edges():
    """25 of 25 is not [1, 1]: Wilson and Clopper-Pearson give a lower bound near 0.86-0.87."""
    p, low, high = intervals.wilson_ci(25, 25)
    assert (p, high) == (1.0, 1.0) and low == pytest.approx(0.8668, abs=1e-3)
    p, low, high = intervals.exact_ci(25, 25)
    assert high == 1.0 and low == pytest.approx(0.025 ** (1 / 25), abs=1e-9)
    assert intervals.exact_ci(0, 10)[1] == 0.0
    assert np.isnan(intervals.wilson_ci(0, 0)[1])


def test_wilson_matches_its_closed_form_in_the_middle():
    p, low, high = intervals.wilson_ci(30, 100)
    z = stats.norm.ppf(0.975)
    centre = (0.3 + z * z / 200) / (1 + z * z / 100)
    assert (low + high) / 2 == pytest.approx(centre)


def test_fisher_z_stays_inside_minus_one_one_and_widens_with_controls():
    r, low, high = intervals.fisher_z_ci(0.95, 6)
    assert -1 < low < r < high < 1
    assert np.tanh(np.arctanh(0.95) + 1.959964 / np.sqrt(3)) == pytest.approx(high, abs=1e-5)
    assert intervals.fisher_z_ci(0.95, 6, n_controls=1)[1] < low  # one fewer degree of freedom
    assert np.isnan(intervals.fisher_z_ci(0.5, 3)[1])  # n − 3 = 0: no interval, not a fake one


def test_partial_correlation_removes_a_shared_trend():
    """x and y both rise with step and are otherwise independent: raw ρ near 1, partial ρ near 0;
    a real relation beyond the trend survives."""
    rng = np.random.default_rng(1)
    step = np.arange(300.0)
    x, y = step + rng.normal(0, 5, 300), step + rng.normal(0, 5, 300)
    assert np.corrcoef(x, y)[0, 1] > 0.99
    assert abs(intervals.partial_correlation(x, y, step)) < 0.15
    shared = rng.normal(0, 5, 300)
    assert intervals.partial_correlation(step + shared, step + shared + rng.normal(0, 1, 300), step, rank=True) > 0.8


def test_few_clusters_get_a_t_interval_on_cluster_means():
    values, clusters = np.array([1.0, 1.0, 2.0, 2.0, 6.0, 6.0]), np.array([0, 0, 1, 1, 2, 2])
    mean, low, high, n = intervals.cluster_ci(values, clusters, 1000, seed=0)
    assert (mean, n) == (3.0, 3)
    half = stats.t.ppf(0.975, 2) * np.std([1, 2, 6], ddof=1) / np.sqrt(3)
    assert (low, high) == (pytest.approx(3 - half), pytest.approx(3 + half))


def test_two_way_bootstrap_counts_demonstration_sets_as_random():
    """A table whose demonstration sets differ by a large set effect: resampling sets as well as
    examples widens the interval well beyond the examples-only bootstrap."""
    rng = np.random.default_rng(2)
    table = rng.normal(0, 0.1, (300, 3)) + np.array([-0.5, 0.0, 0.5])  # (examples, sets)
    mean, low, high = intervals.two_way_bootstrap_ci(table, 2000, seed=0)
    _, l1, h1, _ = intervals.cluster_bootstrap_ci(table.ravel(), np.repeat(np.arange(300), 3), 2000, seed=0)
    assert low < mean < high and (high - low) > 5 * (h1 - l1)


def test_one_demonstration_set_is_clustered_by_example_and_several_are_two_way():
    rng = np.random.default_rng(3)
    one = rng.normal(0.2, 1.0, (40, 1))  # (examples, 1 set)
    assert intervals.examples_by_sets_ci(one, 500, seed=0) == intervals.cluster_ci(one[:, 0], np.arange(40), 500, seed=0)[:3]
    several = rng.normal(0.2, 1.0, (40, 3))
    assert intervals.examples_by_sets_ci(several, 500, seed=0) == intervals.two_way_bootstrap_ci(several, 500, seed=0)
