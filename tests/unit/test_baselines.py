"""Pins each baseline in icl_study.baselines to an independent numpy reference.

What is pinned: OLS = numpy.linalg.lstsq on every prefix (including underdetermined ones, where
the minimum-norm solution matters); ridge = numpy's normal equations; one GD step = the hand
formula lr (1/i) Xᵀy · x_i = lr * averaging; k-step GD = a numpy loop; kNN = a brute-force numpy
loop; dMMSE = Bayes' rule over a tiny pool, one likelihood product at a time; causality (out[:, i] never reads ys[:, i] or any later token); the zero predictor; noiseless
OLS being exact once the prefix is longer than d; and the registry.
"""

import numpy as np
import pytest
import torch

from icl_study.baselines import (
    BASELINES,
    averaging,
    discrete_mmse,
    gd_plus_plus,
    gradient_descent,
    iterative_newton,
    knn,
    least_squares,
    make_predictor,
    ridge,
    zero_predictor,
)

BATCH_SIZE, N_POINTS, N_DIMS = 3, 10, 4  # n > d, so prefixes cover both i < d and i > d

# One representative hyper-parameter setting per registered baseline.
HYPER = {
    "zero": {},
    "averaging": {},
    "least_squares": {},
    "ridge": {"lam": 0.5},
    "gd": {"lr": 0.3, "steps": 3},
    "knn": {"k": 3},
    "newton": {"steps": 3},
    "gdpp": {"lr": 0.3, "gamma": 0.1, "steps": 2},
}


def sample(seed: int = 0, noise: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """A small float64 linear-regression batch: x ~ N(0, I), w ~ N(0, I), y = w·x + noise."""
    gen = torch.Generator().manual_seed(seed)
    xs = torch.randn(BATCH_SIZE, N_POINTS, N_DIMS, generator=gen, dtype=torch.float64)
    w = torch.randn(BATCH_SIZE, N_DIMS, generator=gen, dtype=torch.float64)
    eps = torch.randn(BATCH_SIZE, N_POINTS, generator=gen, dtype=torch.float64)
    ys = torch.einsum("bnd,bd->bn", xs, w) + noise * eps
    return xs, ys


def numpy_prefix_reference(xs: torch.Tensor, ys: torch.Tensor, fit) -> np.ndarray:
    """Slow reference: loop over tasks and prefixes, `fit(X (i, d), y (i,)) -> w (d,)` in numpy."""
    x_np, y_np = xs.numpy(), ys.numpy()
    out = np.zeros_like(y_np)
    for b in range(x_np.shape[0]):
        for i in range(1, x_np.shape[1]):
            out[b, i] = x_np[b, i] @ fit(x_np[b, :i], y_np[b, :i])
    return out


def test_least_squares_matches_numpy_lstsq():
    xs, ys = sample()
    expected = numpy_prefix_reference(xs, ys, lambda x, y: np.linalg.lstsq(x, y, rcond=None)[0])
    out = least_squares(xs, ys)
    assert out.dtype == torch.float64
    # Includes prefixes i < d: lstsq's answer there is the minimum-norm interpolant.
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-9, atol=1e-10)


def test_least_squares_noiseless_is_exact_past_d():
    xs, ys = sample(seed=1, noise=0.0)
    err = (least_squares(xs, ys) - ys) ** 2
    # With i >= d noiseless examples w is identified, so only rounding error remains.
    assert err[:, N_DIMS:].max() < 1e-10
    # With i < d it is not, so the error is far from zero: this is what the test above relies on.
    assert err[:, 1:N_DIMS].max() > 1e-3


def test_ridge_matches_numpy_normal_equations():
    xs, ys = sample()
    lam = 0.5
    expected = numpy_prefix_reference(xs, ys, lambda x, y: np.linalg.solve(x.T @ x + lam * np.eye(N_DIMS), x.T @ y))
    np.testing.assert_allclose(ridge(xs, ys, lam=lam).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_one_gd_step_is_hand_formula_and_scaled_averaging():
    xs, ys = sample()
    lr = 0.3
    out = gradient_descent(xs, ys, lr=lr, steps=1)
    # From w = 0 the gradient of 1/(2i) Σ (w·x − y)² is −(1/i) Xᵀy, so one step gives lr Xᵀy / i.
    expected = numpy_prefix_reference(xs, ys, lambda x, y: lr * x.T @ y / len(y))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out, lr * averaging(xs, ys), rtol=1e-10, atol=1e-12)


def test_k_step_gd_matches_numpy_loop():
    xs, ys = sample()
    lr, steps = 0.3, 5

    def fit(x, y):
        w = np.zeros(x.shape[1])
        for _ in range(steps):
            w = w - lr * x.T @ (x @ w - y) / len(y)
        return w

    expected = numpy_prefix_reference(xs, ys, fit)
    np.testing.assert_allclose(gradient_descent(xs, ys, lr=lr, steps=steps).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_many_gd_steps_approach_ols():
    xs, ys = sample(noise=0.0)
    # lr 0.2 is well below 2 / λ_max(XᵀX / i) for these prefixes (checked in the assert below), so
    # GD converges to the OLS solution: the two ends of the "shallow ~ GD, deep ~ OLS" axis meet.
    for i in range(N_DIMS + 2, N_POINTS):
        assert 0.2 < 2 / torch.linalg.eigvalsh(xs[:, :i].mT @ xs[:, :i] / i).max()
    gd = gradient_descent(xs, ys, lr=0.2, steps=3000)
    torch.testing.assert_close(gd[:, N_DIMS + 2 :], least_squares(xs, ys)[:, N_DIMS + 2 :], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("k", [1, 3, 20])
def test_knn_matches_brute_force(k):
    xs, ys = sample()
    x_np, y_np = xs.numpy(), ys.numpy()
    expected = np.zeros_like(y_np)
    for b in range(BATCH_SIZE):
        for i in range(1, N_POINTS):
            dist = np.linalg.norm(x_np[b, :i] - x_np[b, i], axis=1)
            expected[b, i] = y_np[b, :i][np.argsort(dist)[:k]].mean()  # k = 20 > n: all i points
    np.testing.assert_allclose(knn(xs, ys, k=k).numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_causal(name):
    xs, ys = sample()
    predict = make_predictor(name, **HYPER[name])
    out = predict(xs, ys)
    gen = torch.Generator().manual_seed(123)
    for i in range(N_POINTS):
        xs_changed, ys_changed = xs.clone(), ys.clone()
        ys_changed[:, i:] = torch.randn(BATCH_SIZE, N_POINTS - i, generator=gen, dtype=torch.float64)
        xs_changed[:, i + 1 :] = torch.randn(BATCH_SIZE, N_POINTS - i - 1, N_DIMS, generator=gen, dtype=torch.float64)
        out_changed = predict(xs_changed, ys_changed)
        # out[:, :i+1] may read xs[:, :i+1] and ys[:, :i], nothing later (ys[:, i] is the target).
        torch.testing.assert_close(out_changed[:, : i + 1], out[:, : i + 1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_empty_context_predicts_zero_and_keeps_dtype(name):
    xs, ys = sample()
    out = make_predictor(name, **HYPER[name])(xs, ys)
    assert out.shape == ys.shape and out.dtype == torch.float64
    assert torch.all(out[:, 0] == 0)
    out32 = make_predictor(name, **HYPER[name])(xs.float(), ys.float())
    assert out32.dtype == torch.float32


def test_zero_predictor():
    xs, ys = sample()
    assert torch.equal(zero_predictor(xs, ys), torch.zeros_like(ys))


def test_registry_and_make_predictor():
    assert set(BASELINES) == {"zero", "averaging", "least_squares", "ridge", "gd", "knn", "newton", "gdpp"}
    xs, ys = sample()
    assert torch.equal(make_predictor("ridge", lam=0.5)(xs, ys), ridge(xs, ys, lam=0.5))
    with pytest.raises(ValueError, match="'ols'"):  # the message names the unknown baseline
        make_predictor("ols")


def test_bad_inputs_raise():
    xs, ys = sample()
    with pytest.raises(ValueError):
        least_squares(xs, ys[:, :-1])  # ys must be (B, n) matching xs
    with pytest.raises(ValueError):
        ridge(xs, ys, lam=0.0)
    with pytest.raises(ValueError):
        knn(xs, ys, k=0)
    with pytest.raises(ValueError):
        iterative_newton(xs, ys, steps=-1)
    with pytest.raises(ValueError):
        gd_plus_plus(xs, ys, lr=0.1, gamma=0.1, steps=-1)


def test_newton_converges_to_min_norm_ols_on_every_prefix():
    """Newton-Schulz on XᵀX reaches pinv(XᵀX) quadratically: 40 steps give OLS, also for i < d."""
    xs, ys = sample()
    torch.testing.assert_close(iterative_newton(xs, ys, steps=40), least_squares(xs, ys), rtol=1e-8, atol=1e-8)


def test_newton_steps_match_a_numpy_loop():
    xs, ys = sample()

    def fit(x, y, steps=3):
        cov = x.T @ x
        m = cov / np.linalg.norm(cov, 2) ** 2
        for _ in range(steps):
            m = 2 * m - m @ cov @ m
        return m @ x.T @ y

    np.testing.assert_allclose(iterative_newton(xs, ys, steps=3).numpy(), numpy_prefix_reference(xs, ys, fit),
                               rtol=1e-10, atol=1e-12)


def test_gd_plus_plus_without_curvature_step_is_gd():
    xs, ys = sample()
    torch.testing.assert_close(gd_plus_plus(xs, ys, lr=0.3, gamma=0.0, steps=3),
                               gradient_descent(xs, ys, lr=0.3, steps=3), rtol=1e-12, atol=1e-12)


def test_gd_plus_plus_whitens_isotropic_inputs_so_one_step_is_ols():
    """Contexts whose covariance XᵀX/i is s·I at every scored prefix: the curvature step with
    γ = (1 − 1/√s)/s whitens them, and one GD step at lr 1 on whitened data is OLS."""
    d, s = 3, 4.0
    basis = torch.linalg.qr(torch.randn(2 * d, 2 * d, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))[0]
    # Rows 0..2d-1 of an orthogonal matrix scaled so that the 2d-row prefix has XᵀX/(2d) = s I.
    context = basis[:, :d] * (s * 2 * d) ** 0.5  # (2d, d)
    query = torch.randn(1, d, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    xs = torch.cat([context, query]).unsqueeze(0)  # (1, 2d + 1, d)
    ys = xs[0] @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    ys = ys.unsqueeze(0) + 0.1 * torch.randn(1, 2 * d + 1, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    gamma = (1 - s ** -0.5) / s
    i = 2 * d  # the query's position: its prefix is the whole context
    gdpp = gd_plus_plus(xs, ys, lr=1.0, gamma=gamma, steps=1)[0, i]
    torch.testing.assert_close(gdpp, least_squares(xs, ys)[0, i], rtol=1e-10, atol=1e-10)
    assert not torch.allclose(gradient_descent(xs, ys, lr=1.0)[0, i], least_squares(xs, ys)[0, i], rtol=1e-3)


def test_discrete_mmse_is_the_brute_force_pool_posterior_mean():
    """Bayes' rule by hand on a pool of 3 vectors: p(t_m | D_i) ∝ Π_{j<i} N(y_j; x_j·t_m, σ²) (uniform
    prior), prediction Σ_m p_m x_i·t_m; at i = 0 the prior mean x_0·mean(pool)."""
    xs, _ = sample(seed=5)
    gen = torch.Generator().manual_seed(6)
    pool = torch.randn(3, N_DIMS, generator=gen, dtype=torch.float64)
    ys = torch.einsum("bnd,bd->bn", xs, pool[[0, 2, 1]]) + 0.5 * torch.randn(BATCH_SIZE, N_POINTS, generator=gen, dtype=torch.float64)
    sigma = 0.7
    got = discrete_mmse(xs, ys, pool, sigma).numpy()
    x_np, y_np, t_np = xs.numpy(), ys.numpy(), pool.numpy()
    for b in range(BATCH_SIZE):
        for i in range(N_POINTS):
            likelihood = np.ones(len(t_np))
            for j in range(i):
                likelihood *= np.exp(-((y_np[b, j] - x_np[b, j] @ t_np.T) ** 2) / (2 * sigma**2))
            posterior = likelihood / likelihood.sum()
            assert got[b, i] == pytest.approx(posterior @ (t_np @ x_np[b, i]), rel=1e-9, abs=1e-12)
