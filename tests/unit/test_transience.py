"""Pins Study 5's pure pieces: the dMMSE baseline, the finite-pool evaluators, the run generator,
log-spaced steps, the per-run summary, and a tiny end-to-end train -> collect -> figures pass.

What is pinned: discrete_mmse equals a numpy loop over prefixes and never reads ys[:, i] at
position i; on a pool it beats ridge and on fresh tasks ridge beats it (large margins at a fixed
seed); the evaluators put each reference at distance 0 from itself; the run list is the
weight-decay sweep plus the size sweep (or the full grid); peak/final/drop of a known curve.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from icl_study.baselines import discrete_mmse, ridge
from icl_study.config import ConfigError
from icl_study.studies import transience
from icl_study.tasks.pool_regression import PoolRegressionTask
from workflow_helpers import REPO

POOL_TASK = {"n_dims": 4, "n_points": 8, "noise_std": 0.5, "w_scale": 1.0, "pool_size": 4, "eval_size": 256}


def numpy_dmmse(xs, ys, pool, sigma):
    """Reference: for each prefix, weights exp(-SSE_m / 2 sigma^2) over the pool, then the mean."""
    B, n, _ = xs.shape
    out = np.zeros((B, n))
    for b in range(B):
        for i in range(n):
            sse = np.array([((ys[b, :i] - xs[b, :i] @ t) ** 2).sum() for t in pool])
            w = np.exp(-(sse - sse.min()) / (2 * sigma**2))
            out[b, i] = (w / w.sum()) @ (pool @ xs[b, i])
    return out


def test_discrete_mmse_matches_numpy_and_is_causal():
    """Equal to the numpy loop to 1e-10 (float64); changing ys[:, i:] leaves out[:, :i+1] unchanged."""
    gen = torch.Generator().manual_seed(0)
    xs, ys, pool = torch.randn(3, 7, 4, generator=gen, dtype=torch.float64), \
        torch.randn(3, 7, generator=gen, dtype=torch.float64), torch.randn(5, 4, generator=gen, dtype=torch.float64)
    out = discrete_mmse(xs, ys, pool, 0.7)
    np.testing.assert_allclose(out.numpy(), numpy_dmmse(xs.numpy(), ys.numpy(), pool.numpy(), 0.7), atol=1e-10)
    changed = ys.clone()
    changed[:, 3:] += 10.0
    assert torch.allclose(discrete_mmse(xs, changed, pool, 0.7)[:, :4], out[:, :4])


def test_discrete_mmse_rejects_zero_noise():
    with pytest.raises(ValueError):
        discrete_mmse(torch.zeros(1, 2, 3), torch.zeros(1, 2), torch.zeros(2, 3), 0.0)


def test_pool_evaluators_separate_memorising_from_generalising():
    """dMMSE: distance 0 to itself, lower pool error than ridge; ridge: lower fresh error (seed 0)."""
    task = PoolRegressionTask(POOL_TASK, seed=0)
    mem = task.evaluate(lambda xs, ys: discrete_mmse(xs, ys, task.pool, 0.5))
    gen = task.evaluate(lambda xs, ys: ridge(xs, ys, lam=0.25))
    assert mem["pool_to_dmmse"] == 0.0 and mem["fresh_to_dmmse"] == 0.0
    assert gen["pool_to_ridge"] == 0.0 and gen["fresh_to_ridge"] == 0.0
    assert mem["pool_error"] < 0.5 * gen["pool_error"]
    assert gen["fresh_error"] < 0.5 * mem["fresh_error"]


def test_pool_task_requires_pool_and_noise():
    with pytest.raises(ConfigError):
        PoolRegressionTask({**POOL_TASK, "pool_size": 0}, seed=0)


def test_log_steps_are_increasing_and_end_at_total():
    steps = transience.log_steps(20000, 30)
    assert steps[0] == 10 and steps[-1] == 20000
    assert all(a < b for a, b in zip(steps, steps[1:])) and len(steps) <= 30


SECTION = {
    "weight_decays": [0.0, 0.1], "sizes": {"L2": {"n_layer": 2}, "L3": {"n_layer": 3}}, "base_size": "L2",
    "seeds": [0, 1], "full_grid": False, "regression_weight_decays": [0.0], "n_eval_points": 5,
    "n_keep_checkpoints": 3,
    "bursty": {"task": {"emb_dim": 8, "n_labels": 4, "context_len": 4},
               "model": {"n_layer": 1, "n_dims_in": 12, "n_dims_out": 4, "n_positions": 9},
               "train": {"steps": 1000, "weight_decay": 0.5, "seed": 9}},
    "regression": {"task": {"n_dims": 2, "n_points": 4}, "model": {"n_layer": 3}, "train": {"steps": 100}},
}


def test_runs_are_the_decay_sweep_plus_the_size_sweep():
    """Star design: 2 decays at L2 + L3 at decay 0, x 2 seeds, + 2 regression runs; full grid: 2x2x2 + 2."""
    runs = transience.runs(SECTION)
    assert len(runs) == 3 * 2 + 2
    assert ("bursty", "L3", 0.0, 1) in runs and ("bursty", "L3", 0.1, 0) not in runs
    assert len(transience.runs({**SECTION, "full_grid": True})) == 8 + 2


def test_run_params_merge_size_decay_seed_and_steps():
    params = transience.run_params(SECTION, "bursty", "L3", 0.1, 1)
    assert params["task"] == "bursty" and params["model"]["n_layer"] == 3
    assert params["train"]["weight_decay"] == 0.1 and params["train"]["seed"] == 1
    assert params["task_config"]["eval_steps"][-1] == 1000 and params["train"]["keep_steps"][0] == 100
    reg = transience.run_params(SECTION, "regression", "pool", 0.0, 0)
    assert reg["task"] == "pool_regression" and reg["model"]["n_layer"] == 3
    bad = {**SECTION, "bursty": {**SECTION["bursty"], "model": {**SECTION["bursty"]["model"], "n_dims_in": 5}}}
    with pytest.raises(ConfigError, match="n_dims_in"):
        transience.run_params(bad, "bursty", "L2", 0.0, 0)


def test_arms_add_runs_with_their_own_task_overrides_and_seeds():
    """An arm (e.g. Singh et al.'s fully bursty p_bursty = 1) trains its own seeds at the
    same budget and model as its size, changing only the task keys it names."""
    section = {**SECTION, "arms": {"pb1": {"size": "L2", "task": {"p_bursty": 1.0}, "weight_decays": [0.0],
                                           "seeds": [0, 1, 2]}}}
    runs = transience.runs(section)
    assert [r for r in runs if r[1] == "pb1"] == [("bursty", "pb1", 0.0, s) for s in (0, 1, 2)]
    arm, base = transience.run_params(section, "bursty", "pb1", 0.0, 2), transience.run_params(section, "bursty", "L2", 0.0, 2)
    assert arm["task_config"]["p_bursty"] == 1.0 and arm["train"]["seed"] == 2
    assert arm["model"] == base["model"] and arm["train"] == base["train"]  # same budget and shape
    assert {k: v for k, v in arm["task_config"].items() if k != "p_bursty"} == \
        {k: v for k, v in base["task_config"].items() if k != "p_bursty"}


def test_settings_summary_has_seed_intervals_and_a_fading_verdict():
    summary = pd.DataFrame({"dataset": "bursty", "size": ["a"] * 3 + ["b"], "weight_decay": 0.0, "seed": [0, 1, 2, 0],
                            "peak_icl": [0.9, 0.95, 1.0, 0.9], "final_icl": [0.6, 0.7, 0.8, 0.88],
                            "icl_drop": [0.3, 0.25, 0.2, 0.02]})
    settings = transience.settings_summary(summary).set_index("size")
    assert settings.loc["a", "n_seeds"] == 3 and settings.loc["a", "fades"] == "yes"
    assert settings.loc["a", "final_icl_low"] < 0.7 < settings.loc["a", "final_icl_high"]
    assert settings.loc["b", "n_seeds"] == 1 and settings.loc["b", "fades"] == "no"
    assert np.isnan(settings.loc["b", "final_icl_low"])


def test_summary_of_a_known_curve():
    """ICL 0.5 -> 0.9 -> 0.6 with falling loss: peak 0.9 at step 100, final 0.6, drop 0.3."""
    rows = []
    for step, icl, loss in [(10, 0.5, 2.0), (100, 0.9, 1.0), (1000, 0.6, 0.1)]:
        rows += [(step, "train", "loss", loss), (step, "eval", "icl", icl), (step, "eval", "iwl", 0.1),
                 (step, "eval", "icl_flip", icl)]
    curve = pd.DataFrame(rows, columns=["step", "split", "metric", "value"])
    s = transience.summarize_run(curve)
    assert s["peak_icl"] == 0.9 and s["peak_step"] == 100 and s["final_icl"] == 0.6
    assert s["icl_drop"] == pytest.approx(0.3) and s["loss_fell_after_peak"]


@pytest.mark.model
def test_tiny_run_collect_and_figures(tmp_path):
    """A 30-step bursty run logs evaluators at its eval_steps; collect and the figures run on it."""
    from icl_study.plots import transience as plots
    from icl_study.train import train

    section = {**SECTION, "bursty": {
        "task": {"n_classes": 16, "n_holdout": 4, "n_exemplars": 3, "emb_dim": 8, "n_labels": 4,
                 "context_len": 4, "bursty_shots": 2, "bursty_ways": 2, "eval_shots": 2, "eval_ways": 2,
                 "eval_size": 32},
        "model": {"n_layer": 1, "n_head": 1, "d_model": 16, "d_mlp": 0, "n_dims_in": 12, "n_dims_out": 4,
                  "n_positions": 9},
        "train": {"steps": 30, "batch_size": 8, "warmup_steps": 5, "log_every": 100, "checkpoint_every": 100}}}
    params = transience.run_params(section, "bursty", "L2", 0.0, 0)
    run_dir = tmp_path / "results" / "transience" / "bursty" / "L2" / "wd0" / "seed0"
    train(params, run_dir)
    metrics = pd.read_csv(run_dir / "train_metrics.csv")
    assert sorted(metrics.loc[metrics.metric == "icl", "step"]) == params["task_config"]["eval_steps"]
    curves, summary = tmp_path / "curves.csv", tmp_path / "summary.csv"
    transience.collect_rule([str(run_dir / "train_metrics.csv")], {}, [str(curves), str(summary)])
    assert pd.read_csv(summary).loc[0, "final_step"] == 30
    plots.curves_rule([str(curves)], {"size": "L2"}, [str(tmp_path / "c.png")])
    plots.peak_final_rule([str(summary)], {}, [str(tmp_path / "p.png")])
    assert (tmp_path / "c.png").stat().st_size > 0 and (tmp_path / "p.png").stat().st_size > 0


@pytest.mark.model
def test_default_design_reaches_icl_above_0_8_within_1000_steps(tmp_path):
    """Guard-rail on the default tier's data design (config.yaml, seed 0): after 1000 steps the ICL
    evaluator is above 0.8 (0.96-0.98 measured in every probe of this design), far above chance."""
    from icl_study.settings import load_config
    from icl_study.train import train

    section = load_config([REPO / "config.yaml"])["transience"]
    section = {**section, "n_eval_points": 2}
    params = transience.run_params(section, "bursty", section["base_size"], 0.0, 0)
    params["train"] = {**params["train"], "steps": 1000, "keep_steps": [], "checkpoint_every": 1000}
    params["task_config"] = {**params["task_config"], "eval_steps": [1000]}
    train(params, tmp_path)
    metrics = pd.read_csv(tmp_path / "train_metrics.csv")
    icl = metrics.loc[(metrics.metric == "icl") & (metrics.step == 1000), "value"].item()
    assert icl > 0.8


def _ledger_claim(claim_id, decays=(0.0, 1.0)):
    section = {**SECTION, "weight_decays": list(decays), "base_size": "L2",
               "arms": {"pb1": {"size": "L2", "task": {"p_bursty": 1.0}, "weight_decays": [0.0], "seeds": [0, 1, 2]}}}
    return next(c for c in transience.claims({"transience": section}) if c.claim_id == claim_id)


def _settings(drop, iwl_correct, n_seeds=3, episodes=512, n_labels=32):
    """A pb1 settings.csv row: an ICL drop interval and IWL counts pooled over seeds."""
    mean, low, high = drop
    return {transience.SETTINGS_TABLE: pd.DataFrame([{
        "dataset": "bursty", "size": "pb1", "weight_decay": 0.0, "n_seeds": n_seeds,
        "icl_drop": mean, "icl_drop_low": low, "icl_drop_high": high, "iwl_correct": iwl_correct,
        "iwl_episodes": n_seeds * episodes, "iwl_chance": 1 / n_labels}])}


def test_icl_that_did_not_fade_before_iwl_appeared_is_inconclusive():
    """pb1 of the default tier: the drop is ~0 (would be 'contradicted'), but final IWL is ~0.03 with
    chance 1/32: the competitor never appeared, so the verdict is inconclusive and names the gate."""
    from icl_study.claims import decide

    claim = _ledger_claim("transience.fades.pb1")
    at_chance = _settings((0.001, -0.004, 0.007), iwl_correct=round(0.03 * 3 * 512))
    d = decide(claim, claim.compute(at_chance), at_chance)
    assert d.verdict == "inconclusive" and transience.IWL_NEVER in d.gate
    # the same drop once IWL is clearly above chance (0.3): a real contradiction
    above = _settings((0.001, -0.004, 0.007), iwl_correct=round(0.3 * 3 * 512))
    assert decide(claim, claim.compute(above), above).verdict == "contradicted"


def test_a_run_that_never_reaches_iwl_above_chance_is_reported_so():
    """Per run: IWL 0.03 out of 512 episodes at chance 1/32 is not above chance (Wilson); the setting
    says 'IWL never appeared within the budget'; 0.2 is above chance."""
    assert not transience.iwl_counts(0.03, 512, 32)["iwl_appeared"]
    assert transience.iwl_counts(0.2, 512, 32)["iwl_appeared"]
    rows = []
    for seed in range(3):
        for step, icl, iwl in [(10, 0.5, 0.03), (100, 0.9, 0.03), (1000, 0.9, 0.03 + 0.001 * seed)]:
            rows += [("bursty", "pb1", 0.0, seed, step, "train", "loss", 1.0 / step),
                     *[("bursty", "pb1", 0.0, seed, step, "eval", m, v)
                       for m, v in (("icl", icl), ("iwl", iwl), ("icl_flip", icl))]]
    curves = pd.DataFrame(rows, columns=["dataset", "size", "weight_decay", "seed", "step", "split", "metric", "value"])
    summary = transience.summarize(curves, {("pb1", 0.0, s): (512, 32) for s in range(3)})
    assert not summary["iwl_appeared"].any()
    settings = transience.settings_summary(summary).iloc[0]
    assert settings["iwl"] == transience.IWL_NEVER and settings["iwl_episodes"] == 3 * 512


def test_eval_shapes_read_each_runs_task():
    section = {**SECTION, "arms": {"pb1": {"size": "L2", "task": {"p_bursty": 1.0, "eval_size": 64},
                                           "weight_decays": [0.0], "seeds": [0]}}}
    shapes = transience.eval_shapes(section)
    assert shapes[("pb1", 0.0, 0)] == (64, 4) and shapes[("L2", 0.1, 1)] == (512, 4)


def _summary(drops, losses):
    """summary.csv rows at size L2 for the weight decays of `drops`, three seeds: {wd: [per-seed values]}."""
    return {transience.SUMMARY_TABLE: pd.DataFrame([
        {"dataset": "bursty", "size": "L2", "weight_decay": wd, "seed": s, "icl_drop": drops[wd][s],
         "final_loss": losses[wd][s]} for wd in drops for s in range(3)])}


def test_weight_decay_keeps_icl_only_at_a_matched_loss():
    """Decay 1 keeps ICL (drop 0 vs 0.25) but by not fitting (loss 0.76 vs 0.03): inconclusive, naming
    the matched-loss gate; at matched loss the same drops reproduce the claim, paired by seed."""
    from icl_study.claims import decide

    claim = _ledger_claim("transience.l2_keeps_icl")
    drops = {0.0: [0.25, 0.27, 0.26], 1.0: [0.0, 0.01, 0.0]}
    unfit = _summary(drops, {0.0: [0.03, 0.03, 0.04], 1.0: [0.76, 0.75, 0.77]})
    m = claim.compute(unfit)
    assert m.n_seeds == 3 and m.value == pytest.approx(0.2567, abs=1e-3)
    d = decide(claim, m, unfit)
    assert d.verdict == "inconclusive" and "matched training loss" in d.gate
    matched = _summary(drops, {0.0: [0.03, 0.03, 0.04], 1.0: [0.05, 0.06, 0.05]})
    assert decide(claim, claim.compute(matched), matched).verdict == "reproduced"


def test_l2_sweep_compares_the_largest_decay_at_a_matched_loss():
    """A sweep: 0.01 and 0.1 fit like no decay, 1.0 does not (it over-regularises). The claim pairs
    decay 0 with 0.1, the largest matched one, not with 1.0; the L2 table has one row per decay."""
    from icl_study.claims import decide

    decays = (0.0, 0.01, 0.1, 1.0)
    claim = _ledger_claim("transience.l2_keeps_icl", decays)
    drops = {0.0: [0.25, 0.27, 0.26], 0.01: [0.2, 0.22, 0.18], 0.1: [0.01, 0.02, 0.0], 1.0: [0.0, 0.0, 0.01]}
    losses = {0.0: [0.03, 0.03, 0.04], 0.01: [0.03, 0.04, 0.04], 0.1: [0.06, 0.07, 0.06], 1.0: [0.76, 0.75, 0.77]}
    tables = _summary(drops, losses)
    assert transience.matched_decay(tables, "L2", decays) == 0.1
    m = claim.compute(tables)
    assert m.value == pytest.approx(0.25, abs=1e-3)  # (0.25 + 0.25 + 0.26) / 3
    assert decide(claim, m, tables).verdict == "reproduced"
    # nothing fits: the largest decay is compared and the loss gate says why it is inconclusive
    unfit = _summary(drops, {**losses, 0.01: [0.5] * 3, 0.1: [0.6] * 3})
    assert transience.matched_decay(unfit, "L2", decays) == 1.0
    assert "matched training loss" in decide(claim, claim.compute(unfit), unfit).gate
    summary = tables[transience.SUMMARY_TABLE].assign(peak_step=1000, final_iwl=0.5)
    table = transience.l2_table(summary, "L2", decays)
    assert list(table["weight_decay"]) == list(decays) and (table["n_seeds"] == 3).all()
    assert table.set_index("weight_decay").loc[1.0, "loss_vs_first"] == pytest.approx(0.7267, abs=1e-3)


def test_the_regression_pool_follows_the_measured_threshold_of_its_own_task_and_model():
    """The finite-pool regression runs share the diversity sweep's task and model, so the M* that
    sweep measures is theirs: transience.regression_transient is gated on the pool being at most
    M*/2 (M* from diversity/threshold.csv in the same run). A pool above it, or a task or model that
    differs from the sweep's (no M* measured for it), fails the gate."""
    from icl_study.claims import decide
    from icl_study.settings import full_config

    def config(pool, n_points=10):
        return full_config({
            "diversity": {"task": {"n_dims": 4, "n_points": 10, "noise_std": 0.5},
                          "model": {"n_layer": 3, "n_head": 2, "d_model": 32, "d_mlp": 64}},
            "transience": {"regression": {"task": {"n_dims": 4, "n_points": n_points, "noise_std": 0.5, "pool_size": pool},
                                          "model": {"n_layer": 3, "n_head": 2, "d_model": 32, "d_mlp": 64}}}})

    threshold = pd.DataFrame({"seed": [0, 1, 2], "log2_threshold": np.log2([17.8, 14.7, 16.9]),
                              "threshold": [17.8, 14.7, 16.9], "note": ["bracketed"] * 3})
    rises = pd.DataFrame([("regression", "pool", 0.0, 3, 0.2, 0.1, 0.3)],
                         columns=["dataset", "size", "weight_decay", "n_seeds", "fresh_rise", "fresh_rise_low",
                                  "fresh_rise_high"])

    def verdict(cfg):
        (claim,) = [c for c in transience.claims(cfg) if c.claim_id == "transience.regression_transient"]
        assert "diversity/threshold.csv" in claim.tables
        tables = {"diversity/threshold.csv": threshold, transience.SETTINGS_TABLE: rises}
        return decide(claim, claim.compute(tables), tables)

    assert verdict(config(8)) == ("reproduced", "", verdict(config(8)).gates)
    assert verdict(config(8)).gates.endswith("pass")
    for failing in (config(16), config(8, n_points=8)):
        decision = verdict(failing)
        assert decision.verdict == "inconclusive" and "M*/2" in decision.gate and decision.gates.endswith("FAIL")
