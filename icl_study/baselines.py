"""Closed-form in-context regression baselines, sharing the models' prediction signature.

Every baseline is a pure, batched torch function

    predict(xs: Tensor (B, n, d), ys: Tensor (B, n), **hyper) -> Tensor (B, n)

where `out[:, i]` predicts `ys[:, i]` from the context `(xs[:, :i], ys[:, :i])` only; with an
empty context (i = 0) every baseline predicts 0. Computation stays in the input dtype and on the
input device. Study 1 compares trained transformers against these (Garg et al. 2022; Akyürek et
al. 2022; von Oswald et al. 2023), so each one is pinned against a numpy reference in
tests/unit/test_baselines.py.
"""

import functools
from typing import Callable

import torch
from torch import Tensor


def _check_shapes(xs: Tensor, ys: Tensor) -> None:
    """Fail early with a readable message instead of a broadcasting error deep inside a solve."""
    if xs.ndim != 3 or ys.shape != xs.shape[:2]:
        raise ValueError(f"expected xs (B, n, d) and ys (B, n); got {tuple(xs.shape)} and {tuple(ys.shape)}")


def _predict_from_prefix_fits(xs: Tensor, ys: Tensor, fit: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """Run `fit(X (B, i, d), y (B, i)) -> w (B, d)` on every non-empty prefix; predict x_i · w."""
    _check_shapes(xs, ys)
    out = torch.zeros_like(ys)
    for i in range(1, xs.shape[1]):
        w = fit(xs[:, :i], ys[:, :i])  # (B, d), sees tokens 0..i-1 only
        out[:, i] = (xs[:, i] * w).sum(-1)
    return out


def zero_predictor(xs: Tensor, ys: Tensor) -> Tensor:
    """Predict 0 everywhere: the prior mean of y, and the error ceiling (normalized error ~ τ²)."""
    _check_shapes(xs, ys)
    return torch.zeros_like(ys)


def averaging(xs: Tensor, ys: Tensor) -> Tensor:
    """Akyürek et al.'s "averaging": w_i = (1/i) Σ_{j<i} y_j x_j, prediction x_i · w_i.

    This is the direction of one gradient step from w = 0 (see `gradient_descent`). Vectorised
    over prefixes with an exclusive cumulative sum instead of a loop.
    """
    _check_shapes(xs, ys)
    n = xs.shape[1]
    moments = torch.cumsum(ys.unsqueeze(-1) * xs, dim=1)  # (B, n, d): Σ_{j<=i} y_j x_j
    # Shift by one so position i sees Σ_{j<i} only: exclusive sum, and 0 at i = 0.
    moments = torch.cat([torch.zeros_like(moments[:, :1]), moments[:, :-1]], dim=1)  # (B, n, d)
    counts = torch.arange(n, dtype=xs.dtype, device=xs.device).clamp_min(1)  # (n,), avoid 0/0 at i = 0
    w = moments / counts[None, :, None]  # (B, n, d)
    return (xs * w).sum(-1)


def least_squares(xs: Tensor, ys: Tensor) -> Tensor:
    """Minimum-norm ordinary least squares on each prefix: w = pinv(X) y, prediction x_i · w.

    For prefixes shorter than d the system is underdetermined; the pseudo-inverse picks the
    minimum-norm interpolant, as numpy.linalg.lstsq does (and unlike a plain normal-equation
    solve, which would be singular). pinv also runs on CUDA, where lstsq's 'gelsd' does not.
    """

    def fit(x: Tensor, y: Tensor) -> Tensor:
        return (torch.linalg.pinv(x) @ y.unsqueeze(-1)).squeeze(-1)  # (B, d, i) @ (B, i, 1) -> (B, d)

    return _predict_from_prefix_fits(xs, ys, fit)


def ridge(xs: Tensor, ys: Tensor, lam: float) -> Tensor:
    """Ridge regression on each prefix: w = (XᵀX + lam I)⁻¹ Xᵀy, prediction x_i · w.

    With x ~ N(0, I), w ~ N(0, τ² I) and noise σ², lam = σ²/τ² is the Bayes-optimal predictor.
    Uses a linear solve (never an explicit inverse); lam > 0 keeps the system non-singular even
    for prefixes shorter than d.
    """
    if not lam > 0:
        raise ValueError(f"ridge needs lam > 0, got {lam}")

    def fit(x: Tensor, y: Tensor) -> Tensor:
        eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
        gram = x.mT @ x + lam * eye  # (B, d, d)
        rhs = x.mT @ y.unsqueeze(-1)  # (B, d, 1)
        return torch.linalg.solve(gram, rhs).squeeze(-1)  # (B, d)

    return _predict_from_prefix_fits(xs, ys, fit)


def gradient_descent(xs: Tensor, ys: Tensor, lr: float, steps: int = 1) -> Tensor:
    """`steps` full-batch gradient-descent steps from w = 0 on each prefix; prediction x_i · w.

    Normalisation: on a prefix of length i the loss is L(w) = 1/(2i) Σ_{j<i} (w·x_j − y_j)², so
    the gradient is (1/i) Xᵀ(Xw − y) and each step is w <- w − lr (1/i) Xᵀ(Xw − y). Because the
    loss is a mean, not a sum, a fixed lr means the same thing at every prefix length. One step
    from w = 0 gives w = lr (1/i) Xᵀy, i.e. exactly lr * `averaging` (von Oswald et al.'s
    one-layer linear self-attention construction).
    """
    if steps < 0:
        raise ValueError(f"gradient_descent needs steps >= 0, got {steps}")

    def fit(x: Tensor, y: Tensor) -> Tensor:
        w = torch.zeros_like(x[:, 0])  # (B, d)
        for _ in range(steps):
            residual = (x @ w.unsqueeze(-1)).squeeze(-1) - y  # (B, i)
            grad = (x.mT @ residual.unsqueeze(-1)).squeeze(-1) / x.shape[1]  # (B, d)
            w = w - lr * grad
        return w

    return _predict_from_prefix_fits(xs, ys, fit)


def online_sgd(xs: Tensor, ys: Tensor, lr: float) -> Tensor:
    """One pass of per-example SGD from w = 0 over each prefix, in context order; prediction x_i · w.

    Step j: w <- w − lr (w·x_j − y_j) x_j. Unlike `gradient_descent` the result depends on the
    order of the context pairs (Shen et al. 2023's contrast with ICL's order sensitivity).
    """

    def fit(x: Tensor, y: Tensor) -> Tensor:
        w = torch.zeros_like(x[:, 0])  # (B, d)
        for j in range(x.shape[1]):
            residual = (x[:, j] * w).sum(-1) - y[:, j]  # (B,)
            w = w - lr * residual.unsqueeze(-1) * x[:, j]
        return w

    return _predict_from_prefix_fits(xs, ys, fit)


def knn(xs: Tensor, ys: Tensor, k: int = 3) -> Tensor:
    """Mean y of the k nearest prefix x's (Euclidean) to x_i; uses all i of them when i < k."""
    if k < 1:
        raise ValueError(f"knn needs k >= 1, got {k}")
    _check_shapes(xs, ys)
    out = torch.zeros_like(ys)
    for i in range(1, xs.shape[1]):
        # Squared distance ranks neighbours the same as the distance and skips a sqrt.
        dist = ((xs[:, :i] - xs[:, i : i + 1]) ** 2).sum(-1)  # (B, i)
        nearest = dist.topk(min(k, i), dim=1, largest=False).indices  # (B, min(k, i))
        out[:, i] = ys[:, :i].gather(1, nearest).mean(1)
    return out


def discrete_mmse(xs: Tensor, ys: Tensor, pool: Tensor, noise_std: float) -> Tensor:
    """Posterior mean when w is uniform over a finite `pool` (M, d) of task vectors (Raventós et al.).

    Position i weighs each pool vector t_m by exp(-Σ_{j<i} (y_j - x_j·t_m)² / (2σ²)) and predicts
    Σ_m p_m x_i·t_m: the Bayes predictor of the pretraining distribution, which memorises the pool.
    Unlike the other baselines it predicts x_0 · mean(pool) (the prior mean), not 0, at i = 0.
    """
    _check_shapes(xs, ys)
    if not noise_std > 0:
        raise ValueError(f"discrete_mmse needs noise_std > 0, got {noise_std}")
    per_task = xs @ pool.to(xs).T  # (B, n, M): x_i · t_m
    sq = (ys.unsqueeze(-1) - per_task) ** 2  # (B, n, M)
    cum = torch.cumsum(sq, dim=1) - sq  # (B, n, M): exclusive sum over j < i
    weights = torch.softmax(-cum / (2 * noise_std**2), dim=-1)  # (B, n, M)
    return (weights * per_task).sum(-1)


def iterative_newton(xs: Tensor, ys: Tensor, steps: int) -> Tensor:
    """`steps` Newton-Schulz iterations for the inverse of each prefix's covariance (Fu et al. 2024).

    With S = XᵀX (d, d): M_0 = α S, M_{k+1} = 2 M_k − M_k S M_k, and w_k = M_k Xᵀy. α = 1/||S||₂²
    puts every eigenvalue of I − M_0 S on the range of S in [0, 1), so the error squares each step
    (quadratic convergence) and M_k -> pinv(S): w_k -> the minimum-norm least-squares solution,
    also for prefixes shorter than d. `steps = 0` is the scaled moment α XᵀXXᵀy (one "layer" of
    Fu et al.'s construction before any iteration).
    """
    if steps < 0:
        raise ValueError(f"iterative_newton needs steps >= 0, got {steps}")

    def fit(x: Tensor, y: Tensor) -> Tensor:
        cov = x.mT @ x  # (B, d, d)
        alpha = 1.0 / torch.linalg.matrix_norm(cov, ord=2).clamp_min(torch.finfo(x.dtype).tiny) ** 2  # (B,)
        inverse = alpha[:, None, None] * cov  # (B, d, d)
        for _ in range(steps):
            inverse = 2 * inverse - inverse @ cov @ inverse
        return (inverse @ (x.mT @ y.unsqueeze(-1))).squeeze(-1)  # (B, d)

    return _predict_from_prefix_fits(xs, ys, fit)


def gd_plus_plus(xs: Tensor, ys: Tensor, lr: float, gamma: float, steps: int = 1) -> Tensor:
    """von Oswald et al. 2023's GD++: gradient descent on inputs preconditioned by I − γS.

    Each step first moves every input, context and query alike, by x <- (I − γ S) x with S the
    prefix's (current) input covariance XᵀX / i (a curvature correction that shrinks the condition
    number), then takes one `gradient_descent` step (same normalisation) on the moved inputs from
    the current w. Prediction: moved query · w. γ = 0 is plain gradient descent. On inputs with
    S = s I, γ = (1 − 1/√s)/s makes the moved inputs whitened (S' = I), so one step at lr 1 is OLS.
    """
    if steps < 0:
        raise ValueError(f"gd_plus_plus needs steps >= 0, got {steps}")
    _check_shapes(xs, ys)
    out = torch.zeros_like(ys)
    eye = torch.eye(xs.shape[-1], dtype=xs.dtype, device=xs.device)
    for i in range(1, xs.shape[1]):
        x, query, y = xs[:, :i], xs[:, i], ys[:, :i]  # (B, i, d), (B, d), (B, i)
        w = torch.zeros_like(query)  # (B, d)
        for _ in range(steps):
            transform = eye - gamma * (x.mT @ x) / i  # (B, d, d), symmetric
            x, query = x @ transform, (query.unsqueeze(1) @ transform).squeeze(1)
            residual = (x @ w.unsqueeze(-1)).squeeze(-1) - y  # (B, i)
            w = w - lr * (x.mT @ residual.unsqueeze(-1)).squeeze(-1) / i
        out[:, i] = (query * w).sum(-1)
    return out


# Stable names used in configs and tidy tables; renaming one breaks saved results.
BASELINES: dict[str, Callable[..., Tensor]] = {
    "zero": zero_predictor,
    "averaging": averaging,
    "least_squares": least_squares,
    "ridge": ridge,
    "gd": gradient_descent,
    "knn": knn,
    "newton": iterative_newton,
    "gdpp": gd_plus_plus,
}


def make_predictor(name: str, **hyper) -> Callable[[Tensor, Tensor], Tensor]:
    """The baseline `name` with its hyper-parameters bound, as a `(xs, ys) -> (B, n)` callable."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; expected one of {sorted(BASELINES)}")
    return functools.partial(BASELINES[name], **hyper)
