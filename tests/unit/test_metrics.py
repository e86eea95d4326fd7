"""Pins the metric functions in icl_study.metrics to hand computations on tiny tensors.

What is pinned: squared and normalized error, SPD and ILWD on written-out numbers; implicit-weight
fitting recovering a known w exactly (r2 = 1) from linear predictions, and r2 < 1 / NaN where it
should be; the bootstrap CI bracketing the mean and being a pure function of its seed; cosine
being 0, not NaN, for a zero vector.
"""

import math

import numpy as np
import pytest
import torch

from icl_study.metrics import bootstrap_ci, cluster_bootstrap_ci, cosine, fit_implicit_weights, ilwd, normalized_error, spd, squared_error


def test_squared_and_normalized_error():
    pred = torch.tensor([1.0, 2.0, -1.0])
    target = torch.tensor([0.0, 4.0, -1.0])
    torch.testing.assert_close(squared_error(pred, target), torch.tensor([1.0, 4.0, 0.0]))
    torch.testing.assert_close(normalized_error(pred, target, n_dims=4), torch.tensor([0.25, 1.0, 0.0]))


def test_spd_by_hand():
    pred_f = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])  # (B=2, n=3)
    pred_g = torch.tensor([[0.0, 2.0, 5.0], [1.0, 2.0, 1.0]])
    # differences [[1, 0, -2], [2, 0, 0]] -> squares [[1, 0, 4], [4, 0, 0]] -> batch mean per position
    torch.testing.assert_close(spd(pred_f, pred_g), torch.tensor([2.5, 0.0, 2.0]))
    assert torch.all(spd(pred_f, pred_f) == 0)


def test_ilwd_by_hand():
    w_f = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # (B=2, d=2)
    w_g = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    # squared distances averaged over the d = 2 coordinates: (1 + 0) / 2 and (1 + 1) / 2 -> mean 0.75
    out = ilwd(w_f, w_g)
    assert out.shape == ()
    torch.testing.assert_close(out, torch.tensor(0.75))


def test_implicit_weights_recover_linear_predictor():
    gen = torch.Generator().manual_seed(0)
    xs_probe = torch.randn(3, 50, 4, generator=gen, dtype=torch.float64)  # (B, m, d), m >> d
    w = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    preds = torch.einsum("bmd,bd->bm", xs_probe, w)
    w_hat, r2 = fit_implicit_weights(xs_probe, preds)
    torch.testing.assert_close(w_hat, w, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(r2, torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-10)


def test_implicit_weights_r2_matches_numpy_for_nonlinear_predictor():
    gen = torch.Generator().manual_seed(1)
    xs_probe = torch.randn(2, 40, 3, generator=gen, dtype=torch.float64)
    preds = xs_probe[..., 0] + xs_probe[..., 1] ** 2  # the square term is not linear in x
    w_hat, r2 = fit_implicit_weights(xs_probe, preds)
    for b in range(2):
        x, p = xs_probe[b].numpy(), preds[b].numpy()
        design = np.hstack([x, np.ones((len(x), 1))])  # with an intercept column
        coef = np.linalg.lstsq(design, p, rcond=None)[0]
        w_np = coef[:-1]
        r2_np = 1 - np.sum((p - design @ coef) ** 2) / np.sum((p - p.mean()) ** 2)
        np.testing.assert_allclose(w_hat[b].numpy(), w_np, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(r2[b].item(), r2_np, rtol=1e-10)
    assert torch.all(r2 < 1)


def test_implicit_weights_r2_undefined_for_constant_predictions():
    xs_probe = torch.randn(2, 10, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    w_hat, r2 = fit_implicit_weights(xs_probe, torch.zeros(2, 10, dtype=torch.float64))
    assert torch.all(w_hat == 0)
    assert torch.all(torch.isnan(r2))  # SS_tot = 0: documented as NaN, aggregate with nanmean


def test_bootstrap_ci_brackets_mean_and_is_deterministic():
    values = np.random.default_rng(0).normal(loc=1.0, size=(200, 3))  # (n_tasks, positions)
    mean, low, high = bootstrap_ci(values, n_boot=500, seed=7)
    assert mean.shape == low.shape == high.shape == (3,)
    np.testing.assert_allclose(mean, values.mean(axis=0))
    assert np.all(low < mean) and np.all(mean < high)
    # Width ~ 2 * 1.96 * sd / sqrt(n) = 0.28 for sd 1, n 200; generous bounds, not a threshold.
    assert np.all((high - low > 0.1) & (high - low < 0.6))
    again = bootstrap_ci(values, n_boot=500, seed=7)
    for a, b in zip((mean, low, high), again):
        np.testing.assert_array_equal(a, b)  # same seed -> bit-identical interval
    _, low_other, _ = bootstrap_ci(values, n_boot=500, seed=8)
    assert not np.array_equal(low, low_other)  # the seed is actually used


def test_bootstrap_ci_narrows_with_alpha():
    values = np.random.default_rng(1).normal(size=100)
    _, low95, high95 = bootstrap_ci(values, n_boot=1000, alpha=0.05, seed=0)
    _, low50, high50 = bootstrap_ci(values, n_boot=1000, alpha=0.5, seed=0)
    assert low95 < low50 < high50 < high95  # same resamples, inner percentiles


def test_cluster_bootstrap_counts_each_example_once():
    """Rows of one test example (one per demonstration set) are one cluster: copying every example's
    row 3 times leaves the cluster interval as wide as one row per example, while a bootstrap over
    the pooled rows would be ~sqrt(3) narrower."""
    values = np.random.default_rng(2).integers(0, 2, size=50).astype(float)  # per-example correctness
    once = cluster_bootstrap_ci(values, np.arange(50), n_boot=2000, seed=0)
    copied = cluster_bootstrap_ci(np.repeat(values, 3), np.repeat(np.arange(50), 3), n_boot=2000, seed=0)
    assert once == copied and once[3] == 50  # same clusters drawn, same means; n counts examples
    _, low, high = bootstrap_ci(values, n_boot=2000, seed=0)
    assert (low, high) == pytest.approx(once[1:3])  # one row per cluster: the ordinary bootstrap
    _, low_pooled, high_pooled = bootstrap_ci(np.repeat(values, 3), n_boot=2000, seed=0)
    assert (high_pooled - low_pooled) < 0.75 * (once[2] - once[1])  # pooling rows: too narrow


def test_cluster_bootstrap_weights_rows_and_drops_nans():
    values = np.array([1.0, 1.0, 1.0, 0.0, np.nan])
    clusters = np.array([0, 0, 0, 1, 2])
    mean, low, high, n = cluster_bootstrap_ci(values, clusters, n_boot=500, seed=1)
    assert mean == 0.75 and n == 2  # the pooled row mean; the all-NaN cluster is gone
    assert low == 0.0 and high == 1.0  # a resample of only cluster 1 (0) or only cluster 0 (1)
    assert np.isnan(cluster_bootstrap_ci(np.array([np.nan]), np.array([0]), 10, seed=0)[0])


def test_cosine():
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [2.0, 0.0], [1.0, 0.0]])
    b = torch.tensor([[1.0, 1.0], [0.0, 3.0], [1.0, 1.0], [-1.0, 0.0], [5.0, 0.0]])
    expected = torch.tensor([1 / math.sqrt(2), 0.0, 0.0, -1.0, 1.0])  # 45°, orthogonal, zero, opposite, parallel
    torch.testing.assert_close(cosine(a, b), expected)
    torch.testing.assert_close(cosine(a.T, b.T, dim=0), expected)


def test_cosine_zero_vector_has_finite_gradient():
    a = torch.zeros(3, requires_grad=True)
    out = cosine(a, torch.tensor([1.0, 2.0, 3.0]))
    out.backward()
    assert out.item() == 0.0 and torch.all(torch.isfinite(a.grad))


def test_spd_between_ols_and_one_gd_step_by_hand():
    """SPD on real predictors: d = 1, context (x=1, y=3), query x=2. OLS: w = 3 -> 6;
    one GD step with lr 0.5: w = 0.5 * 3 * 1 = 1.5 -> 3; both predict 0 with no context."""
    from icl_study.baselines import gradient_descent, least_squares

    xs, ys = torch.tensor([[[1.0], [2.0]]]), torch.tensor([[3.0, 5.0]])  # (B=1, n=2, d=1)
    out = spd(least_squares(xs, ys), gradient_descent(xs, ys, lr=0.5, steps=1))
    torch.testing.assert_close(out, torch.tensor([0.0, 9.0]))  # (6 - 3)² at k = 1


def test_ilwd_of_fitted_implicit_weights_by_hand():
    """ILWD through the fit: with the queries e_1, e_2 and 0 an affine fit is exact, so f = (2, 3, 0)
    gives w_f = (2, 3) and g = (0, 1, 0) gives w_g = (0, 1): (2² + 2²) / 2 = 4 for task 1; task 2's
    predictions are equal (w = 0, R² undefined) for both, 0; mean over tasks 2."""
    queries = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]).expand(2, 3, 2)  # (B=2, m=3, d=2)
    preds_f = torch.tensor([[2.0, 3.0, 0.0], [1.0, 1.0, 1.0]])
    preds_g = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    w_f, r2_f = fit_implicit_weights(queries, preds_f)
    w_g, _ = fit_implicit_weights(queries, preds_g)
    torch.testing.assert_close(w_f, torch.tensor([[2.0, 3.0], [0.0, 0.0]]), atol=1e-5, rtol=0)
    assert torch.isnan(r2_f[1])  # all of task 2's predictions are equal: R² undefined
    torch.testing.assert_close(ilwd(w_f, w_g), torch.tensor(2.0), atol=1e-5, rtol=0)


def test_implicit_weights_fit_an_intercept_and_ilwd_averages_coordinates():
    """Akyürek et al.'s ILWD (google-research incontext): the implicit weights come from a least-squares
    fit WITH an intercept, and the distance is averaged (not summed) over the d coordinates. By hand:
    queries e_1, e_2 and 0; predictions of f(x) = 1 + 2 x_1 + 3 x_2 are 3, 4, 1, so the fit is w = (2, 3)
    with intercept 1 (a fit through the origin would give different weights); g(x) = 0 has w = 0;
    ILWD = (2² + 3²) / 2 = 6.5."""
    queries = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]], dtype=torch.float64)  # (B=1, m=3, d=2)
    preds_f = torch.tensor([[3.0, 4.0, 1.0]], dtype=torch.float64)
    w_f, r2_f = fit_implicit_weights(queries, preds_f)
    w_g, _ = fit_implicit_weights(queries, torch.zeros(1, 3, dtype=torch.float64))
    torch.testing.assert_close(w_f, torch.tensor([[2.0, 3.0]], dtype=torch.float64))
    torch.testing.assert_close(r2_f, torch.ones(1, dtype=torch.float64))  # exactly affine in the query
    torch.testing.assert_close(ilwd(w_f, w_g), torch.tensor(6.5, dtype=torch.float64))
