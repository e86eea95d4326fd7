"""Pins the pieces of the "which learning algorithm?" analyses (issue 3) on tiny inputs.

What is pinned: probe queries placed after k context pairs get exactly the prediction the shared
signature gives at position k (for a baseline and for a causal model); linear baselines are fitted
with R² = 1 and the model's own ILWD is 0; the sweep summary picks the smallest mean SPD and
computes the GD-vs-Bayes gap; ridge probes recover a linear target and fail on shuffled targets.
"""

import numpy as np
import pandas as pd
import torch

from icl_study.baselines import least_squares
from icl_study.config import ModelConfig, to_dict
from icl_study.model import GPT
from icl_study.studies.linreg_matching import MatchingConfig, model_matching, query_predictions, sweep_summary
from icl_study.studies.linreg_probes import r2_score, ridge_probe
from icl_study.tasks.regression import predict
from icl_study.train import train


def test_query_predictions_match_the_predict_signature():
    gen = torch.Generator().manual_seed(0)
    xs, ys = torch.randn(4, 6, 3, generator=gen), torch.randn(4, 6, generator=gen)
    model = GPT(ModelConfig(n_layer=1, n_head=2, d_model=8, d_mlp=8, n_positions=12, n_dims_in=3)).eval()
    for k in (0, 2, 5):
        queries = xs[:, k:k + 1]  # (B, m=1, d): the real next x
        for fn in (least_squares, lambda a, b: predict(model, a, b)):
            with torch.no_grad():
                torch.testing.assert_close(query_predictions(fn, xs, ys, queries, k)[:, 0], fn(xs, ys)[:, k])


def test_model_matching_on_a_tiny_model(tmp_path):
    run = {"task": "regression", "task_config": {"n_dims": 2, "n_points": 5},
           "model": to_dict(ModelConfig(n_layer=1, n_head=2, d_model=8, d_mlp=8, n_positions=10, n_dims_in=2)),
           "train": {"steps": 2, "batch_size": 4, "warmup_steps": 1, "checkpoint_every": 2, "log_every": 2}}
    checkpoint = train(run, tmp_path / "tiny")
    cfg = MatchingConfig(n_tasks=32, n_ilwd_tasks=8, n_probe_queries=6, n_bootstrap=20, gd_lr_grid=(0.1, 0.5))
    table = model_matching(checkpoint, cfg)
    assert set(table["metric"]) == {"spd", "ilwd", "fit_r2"}
    assert "ridge_bayes" not in set(table["predictor"])  # sigma = 0: OLS is the Bayes-optimal predictor
    linear = table[(table["metric"] == "fit_r2") & table["predictor"].isin(["least_squares", "gd_1", "gd_3"]) & (table["k"] >= 1)]
    np.testing.assert_allclose(linear["value"], 1.0, atol=1e-4)  # x_q·w is linear in the query
    assert (table["ci_low"] <= table["value"] + 1e-9).all() and (table["value"] <= table["ci_high"] + 1e-9).all()


def _matching_rows(run, n_layer, noise, spds):
    return pd.DataFrame([(run, n_layer, noise, name, name, k, "spd", value, value, value)
                         for name, values in spds.items() for k, value in enumerate(values)],
                        columns=["run", "n_layer", "noise_std", "predictor", "label", "k", "metric", "value", "ci_low", "ci_high"])


def test_sweep_summary_picks_best_and_gap():
    clean = _matching_rows("L2_noise0", 2, 0.0, {"least_squares": [5, 0.1, 0.1], "gd_1": [5, 1.0, 1.0], "knn_3": [5, 0.5, 0.5]})
    noisy = _matching_rows("L1_noise1", 1, 1.0, {"least_squares": [0, 2, 2], "gd_1": [0, 0.2, 0.2], "ridge_bayes": [0, 2, 2]})
    summary = sweep_summary([clean, noisy]).set_index("run")
    assert summary.loc["L2_noise0", "best_predictor"] == "least_squares"  # k = 0 is left out of the mean
    np.testing.assert_allclose(summary.loc["L2_noise0", "spd_gap_log10"], 1.0)  # log10(1.0 / 0.1)
    assert summary.loc["L1_noise1", "best_predictor"] == "gd_1"
    np.testing.assert_allclose(summary.loc["L1_noise1", "spd_gap_log10"], -1.0)  # vs ridge(σ²/τ²)


def test_r2_score_by_hand():
    target = torch.tensor([[0.0], [2.0]])  # mean 1, SS_tot = 2
    torch.testing.assert_close(torch.tensor(r2_score(torch.tensor([[0.5], [1.5]]), target)), torch.tensor(0.75))


def test_ridge_probe_recovers_linear_target_and_not_shuffled_one():
    gen = torch.Generator().manual_seed(1)
    features = torch.randn(600, 10, generator=gen)
    target = features[:, :3] @ torch.randn(3, 2, generator=gen)  # (600, 2), linear in the features
    lambdas = (1e-4, 1e-2, 1.0)
    assert ridge_probe(features[:400], target[:400], features[400:], target[400:], lambdas) > 0.99
    shuffled = target[:400][torch.randperm(400, generator=gen)]
    assert ridge_probe(features[:400], shuffled, features[400:], target[400:], lambdas) < 0.1
