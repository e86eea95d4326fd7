"""Probes of hidden states: what the residual stream at the query encodes of Xᵀy and w_OLS.

Closed-form ridge on standardised features (λ picked on a validation quarter of the training
rows), scored by held-out R² (mean over target coordinates); partial R² of a target given another;
a one-hidden-layer MLP probe. Used by the regression probes (studies/linreg_probes.py) and the
lenses across training time (studies/lenses.py).
"""

from __future__ import annotations

import torch
from torch import nn

from icl_study.hooks import run_with_cache
from icl_study.tasks.regression import interleave_xy


def probe_targets(xs: torch.Tensor, ys: torch.Tensor, k: int | None = None) -> dict[str, torch.Tensor]:
    """{"xty": Xᵀy, "w_ols": pinv(X) y}, each (B, d), over the first k context pairs (default n − 1).

    For k < d, pinv gives the minimum-norm solution, which is not a linear function of Xᵀy."""
    k = xs.shape[1] - 1 if k is None else k
    context_x, context_y = xs[:, :k], ys[:, :k]  # (B, k, d), (B, k)
    xty = torch.einsum("bnd,bn->bd", context_x, context_y)
    w_ols = (torch.linalg.pinv(context_x) @ context_y.unsqueeze(-1)).squeeze(-1)  # (B, d, k) @ (B, k, 1)
    return {"xty": xty, "w_ols": w_ols}


def layer_features(model: nn.Module, xs: torch.Tensor, ys: torch.Tensor, k: int | None = None) -> list[torch.Tensor]:
    """Residual stream at the query token after k pairs (default n − 1), per layer: [embedding,
    after block 1, ...], each (B, C). The model is causal, so later tokens do not change it."""
    k = xs.shape[1] - 1 if k is None else k
    names = ["hook_embed"] + [f"blocks.{i}.hook_resid_post" for i in range(len(model.blocks))]
    with torch.no_grad():
        _, cache = run_with_cache(model, interleave_xy(xs, ys), names=names)  # each (B, 2n, C)
    return [cache[name][:, 2 * k] for name in names]  # the x-token of pair k + 1


def r2_score(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Held-out R², averaged over target coordinates: mean_j 1 − SS_res,j / SS_tot,j."""
    ss_res = ((target - pred) ** 2).sum(0)
    ss_tot = ((target - target.mean(0)) ** 2).sum(0)
    return (1 - ss_res / ss_tot).mean().item()


def _standardise(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean, std = train.mean(0), train.std(0).clamp_min(1e-8)
    return (train - mean) / std, (test - mean) / std


def ridge_fit(features: torch.Tensor, targets: torch.Tensor, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form ridge with an unpenalised intercept: (W (C, d), b (d,))."""
    f_mean, t_mean = features.mean(0), targets.mean(0)
    f, t = features - f_mean, targets - t_mean
    eye = torch.eye(f.shape[1], dtype=f.dtype)
    W = torch.linalg.solve(f.T @ f + lam * len(f) * eye, f.T @ t)  # penalty scaled by sample count
    return W, t_mean - f_mean @ W


def ridge_probe(train_f, train_t, test_f, test_t, lambdas: tuple[float, ...]) -> float:
    """Held-out R² of a ridge probe whose λ is chosen on the last quarter of the training set."""
    train_f, test_f = _standardise(train_f.double(), test_f.double())
    train_t, test_t = train_t.double(), test_t.double()
    cut = len(train_f) * 3 // 4
    scores = []
    for lam in lambdas:
        W, b = ridge_fit(train_f[:cut], train_t[:cut], lam)
        scores.append(r2_score(train_f[cut:] @ W + b, train_t[cut:]))
    W, b = ridge_fit(train_f, train_t, lambdas[scores.index(max(scores))])
    return r2_score(test_f @ W + b, test_t)


def mlp_probe(train_f, train_t, test_f, test_t, seed: int, hidden: int, steps: int, lr: float) -> float:
    """Held-out R² of a one-hidden-layer GELU MLP trained full-batch with Adam on standardised data."""
    train_f, test_f = _standardise(train_f, test_f)
    t_mean, t_std = train_t.mean(0), train_t.std(0).clamp_min(1e-8)
    with torch.random.fork_rng(devices=[]):  # nn initialisers draw from the global RNG
        torch.manual_seed(seed)
        mlp = nn.Sequential(nn.Linear(train_f.shape[1], hidden), nn.GELU(),
                            nn.Linear(hidden, train_t.shape[1]))
    optimizer = torch.optim.Adam(mlp.parameters(), lr=lr)
    for _ in range(steps):
        loss = (mlp(train_f) - (train_t - t_mean) / t_std).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return r2_score(mlp(test_f) * t_std + t_mean, test_t)


def partial_r2(full: float, reduced: float) -> float:
    """Partial R²: the share of what `reduced` leaves unexplained that `full` explains."""
    return (full - reduced) / (1 - reduced) if reduced < 1 else float("nan")


def partial_probe(train_f, train_t, train_other, test_f, test_t, test_other, lambdas) -> float:
    """Partial R² of a target given the other target: ridge on [features, other] vs ridge on other."""
    full = ridge_probe(torch.cat((train_f, train_other), 1), train_t, torch.cat((test_f, test_other), 1), test_t, lambdas)
    reduced = ridge_probe(train_other, train_t, test_other, test_t, lambdas)
    return partial_r2(full, reduced)
