"""Pins the pieces of the "which learning algorithm?" analyses on tiny inputs.

What is pinned: probe queries placed after k context pairs get exactly the prediction the shared
signature gives at position k (for a baseline and for a causal model); linear baselines are fitted
with R² = 1 and the model's own ILWD is 0; the sweep summary picks the smallest mean SPD and
computes the GD-vs-Bayes gap; ridge probes recover a linear target and fail on shuffled targets.
"""

import numpy as np
import pytest
import pandas as pd
import torch

from icl_study.baselines import least_squares
from icl_study.config import ModelConfig, to_dict
from icl_study.model import GPT
from icl_study.studies.linreg_matching import MatchingConfig, model_matching, query_predictions, sweep_summary
from icl_study.measures.probes import partial_probe, probe_targets, r2_score, ridge_probe
from icl_study.studies.linreg_probes import LinregProbeConfig, probe_table
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
    # the trivial predictors stay candidates, so "matches GD" can be told from "shrinks to 0".
    assert {"zero", "averaging"} <= set(table.loc[table["metric"] == "spd", "predictor"])
    assert "ridge_bayes" not in set(table["predictor"])  # sigma = 0: OLS is the Bayes-optimal predictor
    linear = table[(table["metric"] == "fit_r2") & table["predictor"].isin(["least_squares", "gd_1", "gd_3"]) & (table["k"] >= 1)]
    np.testing.assert_allclose(linear["value"], 1.0, atol=1e-4)  # x_q·w is linear in the query
    assert (table["ci_low"] <= table["value"] + 1e-9).all() and (table["value"] <= table["ci_high"] + 1e-9).all()
    # the shallow claim's gates name every reference predictor the table holds (ids must not drift)
    from icl_study.studies.linreg_claims import candidates
    assert set(candidates(to_dict(cfg), 0.0)) | {"gd_1"} == set(table["predictor"]) - {"model"}


def _matching_rows(run, n_layer, noise, spds):
    return pd.DataFrame([(run, n_layer, noise, name, name, k, "spd", value, value, value)
                         for name, values in spds.items() for k, value in enumerate(values)],
                        columns=["run", "n_layer", "noise_std", "predictor", "label", "k", "metric", "value", "ci_low", "ci_high"])


def test_sweep_summary_picks_best_and_gap():
    clean = _matching_rows("L2_noise0", 2, 0.0, {"least_squares": [5, 0.1, 0.1], "gd_1": [5, 1.0, 1.0], "knn_3": [5, 0.5, 0.5],
                                                     "zero": [1, 1, 1]})
    noisy = _matching_rows("L1_noise1", 1, 1.0, {"least_squares": [0, 2, 2], "gd_1": [0, 0.2, 0.2], "ridge_bayes": [0, 2, 2],
                                                    "zero": [1, 1, 1]})
    summary = sweep_summary([clean, noisy]).set_index("run")
    assert summary.loc["L2_noise0", "best_predictor"] == "least_squares"  # k = 0 is left out of the mean
    np.testing.assert_allclose(summary.loc["L2_noise0", "spd_gap_log10"], 1.0)  # log10(1.0 / 0.1)
    assert summary.loc["L1_noise1", "best_predictor"] == "gd_1"
    np.testing.assert_allclose(summary.loc["L1_noise1", "spd_gap_log10"], -1.0)  # vs ridge(σ²/τ²)


def test_sweep_summary_pools_seeds_and_states_a_match_only_beyond_zero():
    """A cell's seeds (runs "<cell>" and "<cell>_s{seed}") are pooled; the best
    predictor is named a match only where it beats `zero` by more than the seed-to-seed spread."""
    # Cell A: GD-1 beats zero by 0.5 +- 0.1 over 3 seeds -> a match.
    a = [_matching_rows(run, 1, 0.0, {"gd_1": [9, g], "zero": [9, g + m], "least_squares": [9, 2.0]})
         for run, g, m in (("L1_noise0", 0.1, 0.4), ("L1_noise0_s1", 0.2, 0.5), ("L1_noise0_s2", 0.3, 0.6))]
    # Cell B: GD-1 is best on average, but beats zero by 0.05 with a spread of ~0.2 -> no match.
    b = [_matching_rows(run, 2, 0.0, {"gd_1": [9, 0.5], "zero": [9, 0.5 + m], "least_squares": [9, 2.0]})
         for run, m in (("L2_noise0", -0.15), ("L2_noise0_s1", 0.05), ("L2_noise0_s2", 0.25))]
    # Cell C: one seed -> exploratory, whatever the margin.
    c = [_matching_rows("L1_noise1", 1, 1.0, {"gd_1": [0, 0.2], "zero": [0, 1.0], "least_squares": [0, 2],
                                              "ridge_bayes": [0, 2]})]
    summary = sweep_summary(a + b + c).set_index("run")
    assert summary.loc["L1_noise0", "n_seeds"] == 3 and summary.loc["L1_noise1", "n_seeds"] == 1
    assert summary.loc["L1_noise0", "best_predictor"] == "gd_1" and summary.loc["L1_noise0", "match"] == "yes"
    np.testing.assert_allclose(summary.loc["L1_noise0", "margin_vs_zero"], 0.5)
    np.testing.assert_allclose(summary.loc["L1_noise0", "best_spd"], 0.2)  # mean over seeds
    assert summary.loc["L1_noise0", "best_spd_low"] < 0.2 < summary.loc["L1_noise0", "best_spd_high"]
    assert summary.loc["L2_noise0", "match"] == "no"
    assert summary.loc["L1_noise0", "best_per_seed"] == "gd_1,gd_1,gd_1"
    assert summary.loc["L1_noise1", "match"] == "1 seed, exploratory"
    assert np.isnan(summary.loc["L1_noise1", "best_spd_low"])


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


def test_matching_and_depth_noise_figures_pool_seeds(tmp_path):
    """The figures draw pooled seeds (t-interval) and single seeds (bootstrap band) side by side."""
    from icl_study.plots.linreg_algorithms import _pool_seeds, plot_depth_noise, plot_matching

    tables = [_matching_rows(run, 1, 0.0, {"gd_1": [9, g], "zero": [9, 1.0], "least_squares": [9, 2.0]})
              for run, g in (("L1_noise0", 0.1), ("L1_noise0_s1", 0.2), ("L1_noise0_s2", 0.3))]
    tables.append(_matching_rows("L1_noise1", 1, 1.0, {"gd_1": [0, 0.2], "zero": [0, 1.0], "least_squares": [0, 2],
                                                       "ridge_bayes": [0, 2]}))
    pooled = _pool_seeds(pd.concat(tables)).set_index(["run", "predictor", "k"])
    assert pooled.loc[("L1_noise0", "gd_1", 1), "n_seeds"] == 3
    np.testing.assert_allclose(pooled.loc[("L1_noise0", "gd_1", 1), "value"], 0.2)
    plot_matching(tables, [str(tmp_path / "m.png")])
    plot_depth_noise(sweep_summary(tables), [str(tmp_path / "d.png")])
    assert (tmp_path / "m.png").exists() and (tmp_path / "d.png").exists()


def test_partial_probe_separates_a_target_from_the_other():
    """Features that hold only target B explain nothing of A beyond B (partial ~ 0),
    while B itself is recovered from them beyond what A predicts (partial ~ 1)."""
    gen = torch.Generator().manual_seed(3)
    a, b = torch.randn(800, 3, generator=gen), torch.randn(800, 3, generator=gen)
    a = a + 0.8 * b  # correlated targets, as Xᵀy and w_OLS are: plain R² of A from B-features is high
    features = torch.cat((b, torch.randn(800, 5, generator=gen)), 1)  # B and unrelated dims
    lambdas = (1e-4, 1e-2, 1.0)
    tr, te = slice(0, 600), slice(600, 800)
    assert ridge_probe(features[tr], a[tr], features[te], a[te], lambdas) > 0.3  # A looks decodable...
    assert abs(partial_probe(features[tr], a[tr], b[tr], features[te], a[te], b[te], lambdas)) < 0.05  # ...only through B
    assert partial_probe(features[tr], b[tr], a[tr], features[te], b[te], a[te], lambdas) > 0.95


def test_probe_targets_below_d_are_min_norm_and_not_xty():
    """At k < d, w_OLS is the min-norm solution X^T (X X^T)^-1 y, not proportional to X^T y."""
    gen = torch.Generator().manual_seed(4)
    xs, ys = torch.randn(2, 5, 4, generator=gen, dtype=torch.float64), torch.randn(2, 5, generator=gen, dtype=torch.float64)
    t = probe_targets(xs, ys, k=2)
    x, y = xs[0, :2], ys[0, :2]
    torch.testing.assert_close(t["w_ols"][0], x.T @ torch.linalg.solve(x @ x.T, y))
    torch.testing.assert_close(t["xty"][0], x.T @ y)


def test_probe_table_probes_several_k_with_partial_r2(tmp_path):
    """Rows at every k in `ks` (k < d included) with the partial R² of each target."""
    run = {"task": "regression", "task_config": {"n_dims": 3, "n_points": 6},
           "model": to_dict(ModelConfig(n_layer=1, n_head=2, d_model=8, d_mlp=8, n_positions=12, n_dims_in=3)),
           "train": {"steps": 2, "batch_size": 4, "warmup_steps": 1, "checkpoint_every": 2, "log_every": 2}}
    checkpoint = train(run, tmp_path / "tiny")
    cfg = LinregProbeConfig(n_train=64, n_test=32, ridge_lambdas=(0.1, 1.0), mlp_steps=3, ks=(1, 2, 9))
    table = probe_table(checkpoint, cfg)
    assert set(table["k"]) == {1, 2, 5}  # 9 > n - 1 skipped; the last k (5) always
    assert set(table.loc[table["k"] == 2, "probe"]) == {"ridge", "ridge, partial given the other target",
                                                        "ridge, shuffled targets"}
    assert "MLP" in set(table.loc[table["k"] == 5, "probe"])  # the MLP only at the last k
    assert set(table["model"]) == {"trained", "untrained"} and set(table["layer"]) == {0, 1}


def test_probe_figure_pools_seeds(tmp_path):
    from icl_study.plots.linreg_algorithms import plot_probes

    rows = [(run, kind, target, probe, layer, k, 0.1 * layer + seed_shift)
            for run, seed_shift in (("L1_noise0", 0.0), ("L1_noise0_s1", 0.05), ("main", 0.0))
            for kind in ("trained", "untrained") for target in ("xty", "w_ols")
            for probe in ("ridge", "ridge, partial given the other target") for layer in (0, 1) for k in (2, 5)]
    table = pd.DataFrame(rows, columns=["run", "model", "target", "probe", "layer", "k", "r2"])
    plot_probes([table], [str(tmp_path / "p.png")])
    assert (tmp_path / "p.png").exists()


def test_error_rows_pair_baseline_and_model_on_the_same_tasks():
    """A baseline that is worse than the model by 0.05 on every task, on tasks whose difficulty
    spreads both errors widely: the separate intervals overlap, the paired minus_model one does not."""
    from icl_study.studies.linreg import error_rows

    rng = np.random.default_rng(0)
    difficulty = rng.exponential(1.0, size=(200, 3))  # (n_tasks, n): shared by both predictors
    per_task = {"model": difficulty, "gd_1": difficulty + 0.05 + 0.01 * rng.standard_normal((200, 3))}
    table = error_rows("main", per_task, {"model": "transformer", "gd_1": "GD"}, n_boot=200, seed=0)
    at = lambda predictor, metric: table[(table["predictor"] == predictor) & (table["metric"] == metric)  # noqa: E731
                                         & (table["k"] == 2)].iloc[0]
    model, gd, paired = at("model", "normalized_error"), at("gd_1", "normalized_error"), at("gd_1", "minus_model")
    assert paired["value"] == pytest.approx(gd["value"] - model["value"])
    assert gd["ci_low"] < model["ci_high"]  # separate intervals overlap
    assert paired["ci_low"] > 0.04 and paired["ci_high"] < 0.06
    assert set(table.loc[table["predictor"] == "model", "metric"]) == {"normalized_error"}
