"""Study 1: what do the hidden states at the query encode? (Akyürek et al. 2022, probes)

For a trained model, the residual stream at the x-token after k context pairs (the query) is read
with `run_with_cache` at `hook_embed` (layer 0) and every `blocks.{i}.hook_resid_post` (layer i+1),
for each k in `ks` (k < d included, where min-norm w_OLS and Xᵀy differ most; at k ≫ d
with σ = 0, w_OLS = w and Xᵀy is itself largely linear in it). Two targets are probed: the moment
vector Xᵀy and the (min-norm) OLS weights w_OLS of the k context pairs.

Probes: closed-form ridge on standardised features (λ picked on a validation quarter of the
training sequences), scored by held-out R² (mean over the d target coordinates); the partial R² of
each target given the other, (R²(features + other) − R²(other)) / (1 − R²(other)), says what the
layer encodes of one target beyond what the other target already predicts linearly; and, at the
last k only, a one-hidden-layer MLP. Controls: the same probes on the untrained model of the same
shape (the trained run's own initialisation) and the ridge probe fitted to shuffled targets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from icl_study.checkpoint import load_model
from icl_study.config import from_dict
from icl_study.hooks import run_with_cache
from icl_study.rng import generator, stream_seed
from icl_study.tasks.regression import RegressionTask, interleave
from icl_study.train import build_model

log = logging.getLogger("icl_study.linreg_probes")
COLUMNS = ["run", "model", "target", "probe", "layer", "k", "r2"]


@dataclass(frozen=True)
class ProbeConfig:
    n_train: int = 2000
    n_test: int = 1000
    ridge_lambdas: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
    mlp_hidden: int = 64
    mlp_steps: int = 600
    mlp_lr: float = 0.003
    seed: int = 3
    ks: tuple[int, ...] = ()  # context sizes probed; () = the last (n − 1); larger than n − 1: skipped


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
        _, cache = run_with_cache(model, interleave(xs, ys), names=names)  # each (B, 2n, C)
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


def mlp_probe(train_f, train_t, test_f, test_t, cfg: ProbeConfig, seed: int) -> float:
    """Held-out R² of a one-hidden-layer GELU MLP trained full-batch with Adam on standardised data."""
    train_f, test_f = _standardise(train_f, test_f)
    t_mean, t_std = train_t.mean(0), train_t.std(0).clamp_min(1e-8)
    with torch.random.fork_rng(devices=[]):  # nn initialisers draw from the global RNG
        torch.manual_seed(seed)
        mlp = nn.Sequential(nn.Linear(train_f.shape[1], cfg.mlp_hidden), nn.GELU(),
                            nn.Linear(cfg.mlp_hidden, train_t.shape[1]))
    optimizer = torch.optim.Adam(mlp.parameters(), lr=cfg.mlp_lr)
    for _ in range(cfg.mlp_steps):
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


def probe_rows(run: str, kind: str, model: nn.Module, data: dict, cfg: ProbeConfig, k: int, mlp: bool) -> list[tuple]:
    """Ridge, partial, shuffled-target ridge (and MLP if `mlp`) R² per layer and target at k pairs."""
    train_feats = layer_features(model, data["train"]["xs"], data["train"]["ys"], k)
    test_feats = layer_features(model, data["test"]["xs"], data["test"]["ys"], k)
    train_targets = probe_targets(data["train"]["xs"], data["train"]["ys"], k)
    test_targets = probe_targets(data["test"]["xs"], data["test"]["ys"], k)
    shuffle = torch.randperm(cfg.n_train, generator=generator(cfg.seed, "misc"))
    other = {"xty": "w_ols", "w_ols": "xty"}
    rows = []
    for target, train_t in train_targets.items():
        test_t = test_targets[target]
        train_o, test_o = train_targets[other[target]], test_targets[other[target]]
        for layer, (train_f, test_f) in enumerate(zip(train_feats, test_feats)):
            rows.append((run, kind, target, "ridge", layer, k, ridge_probe(train_f, train_t, test_f, test_t, cfg.ridge_lambdas)))
            rows.append((run, kind, target, "ridge, partial given the other target", layer, k,
                         partial_probe(train_f, train_t, train_o, test_f, test_t, test_o, cfg.ridge_lambdas)))
            if kind == "trained":
                rows.append((run, kind, target, "ridge, shuffled targets", layer, k,
                             ridge_probe(train_f, train_t[shuffle], test_f, test_t, cfg.ridge_lambdas)))
            if mlp:
                rows.append((run, kind, target, "MLP", layer, k,
                             mlp_probe(train_f, train_t, test_f, test_t, cfg, stream_seed(cfg.seed, "init", layer))))
        log.info("%s %s model, k = %d, target %s: best ridge R² %.3f", run, kind, k, target,
                 max(r[6] for r in rows if r[2] == target and r[3] == "ridge"))
    return rows


def probe_table(checkpoint: str | Path, cfg: ProbeConfig) -> pd.DataFrame:
    """Probe R² per layer and k for the trained model and its untrained initialisation."""
    trained, run_cfg = load_model(checkpoint)
    untrained = build_model(run_cfg).eval()
    task = RegressionTask(run_cfg.task_config, cfg.seed)
    data = {}
    for split, step, n in (("train", 0, cfg.n_train), ("test", 1, cfg.n_test)):
        batch = task.sample(step, n, "probe")
        data[split] = {"xs": batch["xs"], "ys": batch["ys"]}
    last = task.cfg.n_points - 1
    ks = sorted({k for k in cfg.ks if 1 <= k <= last} | {last})  # the last k always (the MLP's)
    run = Path(checkpoint).parent.name
    rows = []
    for k in ks:
        for kind, model in (("trained", trained), ("untrained", untrained)):
            rows += probe_rows(run, kind, model, data, cfg, k, mlp=k == last)
    return pd.DataFrame(rows, columns=COLUMNS)


def probes_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: one checkpoint -> its probe table (CSV)."""
    cfg = from_dict(ProbeConfig, params, "linreg.probe")
    probe_table(inputs[0], cfg).to_csv(outputs[0], index=False)
