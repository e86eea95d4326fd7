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
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from icl_study.checkpoint import load_model
from icl_study.config import from_dict
from icl_study.measures.probes import layer_features, mlp_probe, partial_probe, probe_targets, ridge_probe
from icl_study.rng import generator, stream_seed
from icl_study.settings.linreg import LinregProbeConfig
from icl_study.tasks.regression import RegressionTask
from icl_study.train import build_model

log = logging.getLogger("icl_study.linreg_probes")
COLUMNS = ["run", "model", "target", "probe", "layer", "k", "r2"]


def probe_rows(run: str, kind: str, model: nn.Module, data: dict, cfg: LinregProbeConfig, k: int, mlp: bool) -> list[tuple]:
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
                             mlp_probe(train_f, train_t, test_f, test_t, stream_seed(cfg.seed, "init", layer),
                                       cfg.mlp_hidden, cfg.mlp_steps, cfg.mlp_lr)))
        log.info("%s %s model, k = %d, target %s: best ridge R² %.3f", run, kind, k, target,
                 max(r[6] for r in rows if r[2] == target and r[3] == "ridge"))
    return rows


def probe_table(checkpoint: str | Path, cfg: LinregProbeConfig) -> pd.DataFrame:
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
    cfg = from_dict(LinregProbeConfig, params, "linreg.probe")
    probe_table(inputs[0], cfg).to_csv(outputs[0], index=False)
