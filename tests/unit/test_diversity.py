"""The diversity study: threshold interpolation, the transient measure, the Newton / GD query paths,
and the per-layer read-out on models whose layers are known.

Why not the hand-built multi-step GD stack (icl_study/gd_construction.py) for the read-out test:
its query token carries the iterate w_l, and the prediction w_l·x_q is bilinear in the residual
stream (w_l and x_q both live there), so no linear read-out of a layer can give it; only its last
(read-out) layer holds the prediction linearly. Instead: von Oswald et al.'s one-layer LSA, whose
y-slot after the block holds exactly one GD step (layer 0: nothing, layer 1: one step), run through
the real model and hooks; and synthetic layers that each hold GD_l linearly behind a rotation with
distractor features, where layer l must match l GD steps.
"""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from icl_study.baselines import gradient_descent, iterative_newton
from icl_study.claims import decide, verdict
from icl_study.config import ConfigError
from icl_study.gd_construction import one_step_gd_model
from icl_study.studies import diversity as dv
from icl_study.studies import diversity_claims as dc
from icl_study.tasks.regression import pair_tokens


def data(n_seq=512, n=9, d=3, seed=0, step=0, spread=1.0):
    return dv.sample_sequences(n_seq, n, d, 0.3, 1.0, seed, step, spread)


def test_paths_equal_the_baselines_at_the_query():
    batch = {k: v.double() for k, v in data(n_seq=8).items()}
    xs, ys = batch["xs"], batch["ys"]
    gd, newton = dv.gd_path(xs, ys, 0.3, 5), dv.newton_path(xs, ys, 5)
    for s in range(6):
        torch.testing.assert_close(gd[s], gradient_descent(xs, ys, lr=0.3, steps=s)[:, -1])
        torch.testing.assert_close(newton[s], iterative_newton(xs, ys, steps=s)[:, -1])


def test_ill_conditioned_inputs_have_the_asked_spread():
    xs = data(n_seq=4000, n=2, d=4, spread=100.0)["xs"].reshape(-1, 4)
    var = xs.var(0)
    assert var.max() / var.min() == pytest.approx(100.0, rel=0.15)
    assert var.mean() == pytest.approx(1.0, rel=0.1)


def test_readout_of_the_one_step_lsa_matches_zero_then_one_gd_step():
    d, n, lr = 3, 9, 0.5
    model = one_step_gd_model(d, n, lr)
    fit, test = data(n=n, d=d, step=0), data(n_seq=256, n=n, d=d, step=1)
    layers = {name: dv.layer_features(model, pair_tokens(b["xs"], b["ys"]), -1) for name, b in (("fit", fit), ("test", test))}
    paths = {"gd": (dv.gd_path(fit["xs"], fit["ys"], lr, 6), dv.gd_path(test["xs"], test["ys"], lr, 6))}
    rows, errors = dv.match_layers(layers["fit"], layers["test"], fit, test, paths, 1e-9)
    summary = dv.summarize_matches(rows, errors, "lsa", "isotropic", lr, {"gd": 6})
    assert [r["gd_steps"] for r in summary] == [0, 1]
    # The layer holds the one-step prediction exactly: only the fit's finite-sample error on the
    # other (useless) coordinates separates them, far less than the gap to any other step count.
    others = sorted(r["spd"] for r in rows if r["layer"] == 1 and r["steps"] != 1)
    assert summary[1]["gd_spd"] < 0.1 * others[0]
    assert errors[1] < errors[0]


def test_readout_of_known_synthetic_layers_matches_their_step_counts():
    fit, test = data(step=2), data(n_seq=256, step=3)
    lr, n_layers = 0.3, 5
    gen = torch.Generator().manual_seed(0)
    rotation = torch.linalg.qr(torch.randn(8, 8, generator=gen))[0]

    def layers(batch):
        path = dv.gd_path(batch["xs"], batch["ys"], lr, n_layers)  # (L + 1, B)
        noise = torch.randn(len(batch["ys"]), 4, generator=gen)  # distractors unrelated to y
        return [torch.cat([path[i][:, None], batch["xs"][:, -1], noise], 1) @ rotation for i in range(n_layers)]

    paths = {"gd": (dv.gd_path(fit["xs"], fit["ys"], lr, 12), dv.gd_path(test["xs"], test["ys"], lr, 12)),
             "newton": (dv.newton_path(fit["xs"], fit["ys"], 4), dv.newton_path(test["xs"], test["ys"], 4))}
    rows, errors = dv.match_layers(layers(fit), layers(test), fit, test, paths, 1e-9)
    summary = dv.summarize_matches(rows, errors, "synthetic", "isotropic", lr, {"gd": 12, "newton": 4})
    assert [r["gd_steps"] for r in summary] == list(range(n_layers))


def test_crossing_interpolates_on_log2_m_and_flags_an_unbracketed_grid():
    log2_m = np.array([2.0, 3.0, 4.0, 5.0])
    assert dv.crossing(log2_m, np.array([0.3, 0.1, -0.3, -0.5]))[0] == pytest.approx(3.25)
    assert math.isnan(dv.crossing(log2_m, np.array([-0.1, -0.2, -0.3, -0.4]))[0])
    assert math.isnan(dv.crossing(log2_m, np.array([0.1, 0.2, 0.3, 0.4]))[0])


def _threshold(log2_stars):
    return pd.DataFrame({"seed": range(len(log2_stars)), "log2_threshold": log2_stars,
                         "threshold": [2.0 ** v for v in log2_stars], "note": "bracketed"})


def _transient(shape, log2_star: float = 6.0):
    """Three seeds of curves over 6 steps at M = 16; `shape(step index) -> SPD to ridge`; every
    seed's M* = 2 ** log2_star (64: M = 16 is at most M*/2)."""
    rows = []
    for seed in range(3):
        for i, step in enumerate([10, 20, 40, 80, 160, 320]):
            ridge = shape(i) + 0.01 * seed
            values = {"fresh_to_ridge": ridge, "fresh_to_dmmse": 1.0 - ridge, "loss": 2.0 - 0.1 * i}
            rows += [{"pool_size": 16, "seed": seed, "step": step, "metric": m, "value": v} for m, v in values.items()]
    return {dc.TRANSIENT: pd.DataFrame(rows), dc.THRESHOLD: _threshold([log2_star] * 3)}


def _claim(claim_id):
    return next(c for c in dc.claims() if c.claim_id == claim_id)


def test_transient_claims_can_go_either_way():
    dip = _transient(lambda i: [0.8, 0.4, 0.2, 0.3, 0.5, 0.6][i])
    falling = _transient(lambda i: [0.8, 0.6, 0.5, 0.4, 0.3, 0.2][i])
    rises, specialises = _claim("diversity.transient_ridge_rises"), _claim("diversity.transient_specialises")
    assert verdict(rises, rises.compute(dip)) == "reproduced"
    assert verdict(specialises, specialises.compute(dip)) == "reproduced"
    assert verdict(rises, rises.compute(falling)) != "reproduced"


def test_transient_claims_are_inconclusive_unless_the_pool_is_at_most_half_the_measured_threshold():
    """The default run measured M* = 14-21 per seed; a transient pool of 16 sits at the threshold,
    where the final model is itself half ridge-like: the gate names it instead of a verdict."""
    from icl_study.claims import decide

    dip = lambda i: [0.8, 0.4, 0.2, 0.3, 0.5, 0.6][i]  # noqa: E731
    at_threshold = _transient(dip, log2_star=math.log2(18.0))
    well_below = _transient(dip, log2_star=6.0)
    never_dmmse = _transient(lambda i: [0.2, 0.1, 0.05, 0.1, 0.2, 0.3][i])  # ends closer to ridge (1 - 0.3 > 0.3)
    for claim_id in ("diversity.transient_ridge_rises", "diversity.transient_specialises",
                     "diversity.transient_loss_falls"):
        claim = _claim(claim_id)
        half = next(g for g in claim.gates if "M*/2" in g.name)
        assert half.passes(half.compute(well_below)) and not half.passes(half.compute(at_threshold))
        if claim_id != "diversity.transient_loss_falls":  # the synthetic loss curves are identical over seeds
            assert decide(claim, claim.compute(well_below), well_below).verdict == "reproduced", claim_id
            d = decide(claim, claim.compute(at_threshold), at_threshold)
            assert d.verdict == "inconclusive" and "M*/2" in d.gate, claim_id
        budget = next(g for g in claim.gates if "budget long enough" in g.name)
        assert budget.passes(budget.compute(well_below)) and not budget.passes(budget.compute(never_dmmse))
        assert decide(claim, claim.compute(never_dmmse), never_dmmse).verdict == "inconclusive", claim_id


def test_the_transient_pool_follows_the_measured_threshold():
    from icl_study.measures.transient_pool import geometric_threshold, pool_from_threshold

    grid = [4, 8, 16, 32, 64, 256, 1024]
    measured = _threshold([4.1768, 4.3738, 3.8476])  # the default run's M* per seed: 18.1, 20.7, 14.4
    assert geometric_threshold(measured) == pytest.approx(17.5, abs=0.1)
    assert pool_from_threshold(measured, grid) == 8
    assert pool_from_threshold(_threshold([9.0, 9.0, 9.0]), grid) == 256  # M* = 512
    assert pool_from_threshold(_threshold([float("nan")] * 3), grid) is None
    assert pool_from_threshold(_threshold([2.0, 2.0, 2.0]), grid) is None  # M*/2 = 2: below the grid


def test_threshold_claims_wait_for_the_largest_pool_to_learn():
    """At M = 1024 the default run's fresh-task error was 0.72 against ridge's 0.42: the threshold
    would be a budget artefact, so the claims that read it are inconclusive, naming the gate."""
    from icl_study.claims import decide

    sweep = pd.DataFrame({"pool_size": [1024] * 3, "seed": [0, 1, 2], "fresh_error": [0.72, 0.70, 0.74],
                          "fresh_error_ridge": [0.42] * 3})
    tables = {dc.SWEEP: sweep, dc.THRESHOLD: _threshold([4.0, 4.2, 3.9])}
    claim = _claim("diversity.threshold_bracketed")
    d = decide(claim, claim.compute(tables), tables)
    assert d.verdict == "inconclusive" and "largest pool learned" in d.gate
    learned = {**tables, dc.SWEEP: sweep.assign(fresh_error=[0.44, 0.43, 0.45])}
    assert decide(claim, claim.compute(learned), learned).verdict == "reproduced"


def test_a_ridge_like_step_at_the_end_of_the_budget_is_not_observed_not_zero():
    """A monotone approach to ridge: the leave-one-seed-out step is the last logged step in every
    seed, so "last − ridge-like" would be 0 [0, 0]. It must be NaN, with the gate naming why."""
    from icl_study.claims import decide

    falling = _transient(lambda i: [0.8, 0.6, 0.5, 0.4, 0.3, 0.2][i])
    for claim_id in ("diversity.transient_ridge_rises", "diversity.transient_specialises",
                     "diversity.transient_loss_falls"):
        claim = _claim(claim_id)
        m = claim.compute(falling)
        assert math.isnan(m.value) and math.isnan(m.ci_low) and m.n_seeds == 3
        d = decide(claim, m, falling)
        assert d.verdict == "inconclusive" and dc.RIDGE_NOT_OBSERVED in d.gates and "FAIL" in d.gates


def test_sweep_and_layer_claims_read_only_their_tables():
    sweep = pd.DataFrame({"pool_size": [4, 4, 4, 1024, 1024, 1024], "seed": [0, 1, 2] * 2,
                          "fresh_to_ridge": [0.9, 0.8, 0.85, 0.10, 0.12, 0.11],
                          "fresh_to_dmmse": [0.2, 0.25, 0.22, 0.30, 0.28, 0.33],
                          "fresh_error": [1.2, 1.1, 1.15, 0.5, 0.55, 0.52]})
    tables = {dc.SWEEP: sweep}
    for claim_id in ("diversity.memorises", "diversity.fresh_error"):
        claim = _claim(claim_id)
        assert claim.tables == (dc.SWEEP,)
        assert verdict(claim, claim.compute(tables)) == "reproduced"
    layers = pd.DataFrame([{"member": f"seed{s}", "condition": c, "layer": layer, "newton_steps": 3 * layer + (layer == 2 and s > 0),
                            "gd_steps": (8 if c == "isotropic" else 16) * layer + s * (1 if c == "isotropic" else 2) + s * layer}
                           for s in range(3) for c in dv.CONDITIONS for layer in range(4)])
    # read-out errors settle at layer 2: the scaling claims read layers 1-2 only (layer 3 repeats it)
    settled = layers.assign(readout_error=[1.0, 0.5, 0.1, 0.1] * 6,
                            newton_steps=layers["newton_steps"].where(layers["layer"] < 3, 100))
    assert {r["n_layers"] for r in dc._scaling({dc.LAYERS: settled}, "isotropic")} == {2}
    control = pd.DataFrame({"source": ["gd", "newton"], "algorithm": ["gd", "newton"], "k": [4, 2], "recovered": [4, 2]})
    for claim_id in ("diversity.layers_newton_slope", "diversity.layers_gd_slower", "diversity.layers_gap_widens",
                     "diversity.layers_newton_linear", "diversity.layers_gd_grows_faster"):
        claim = _claim(claim_id)
        tables = {dc.LAYERS: layers, dc.LAYERS_CONTROL: control}
        assert verdict(claim, claim.compute(tables)) == "reproduced", claim_id
        # a matcher that does not give back a known k-step algorithm decides nothing
        broken = {**tables, dc.LAYERS_CONTROL: control.assign(recovered=[3, 2])}
        d = decide(claim, claim.compute(broken), broken)
        assert d.verdict == "inconclusive" and "matcher control" in d.gate, claim_id


def test_settings_fill_defaults_and_reject_a_transient_m_off_the_grid():
    cfg = dv.settings({"pool_sizes": [2, 8, 16], "layers": {"pool_size": 16}})
    assert cfg.seeds == (0, 1, 2) and cfg.model["n_layer"] == 3 and cfg.layers.n_fit == 2048
    with pytest.raises(ConfigError, match="transient_pool_size"):
        dv.settings({"pool_sizes": [2, 4], "layers": {"pool_size": 4}})
    job = dv.run_job({"pool_sizes": [2, 8, 16], "layers": {"pool_size": 16}}, 8)
    assert job["run"]["task_config"]["pool_size"] == 8 and job["run"]["train"]["keep_steps"]
    assert job["seeds"] == [0, 1, 2]


GRID = [4, 8, 16, 32, 64, 256, 1024]


def _sweep(gap, distance, star=8.0):
    """query.csv and threshold.csv of three seeds over GRID with M* = `star`: `gap(M)` = SPD to
    ridge − SPD to dMMSE at the query, `distance(M)` = SPD(ridge, dMMSE) there; ridge's error 0.5."""
    rows = [{"pool_size": m, "log2_pool_size": math.log2(m), "seed": seed, "query_to_dmmse": 0.3,
             "query_to_ridge": 0.3 + gap(m) + 0.01 * seed, "query_ridge_to_dmmse": distance(m), "query_error_ridge": 0.5}
            for seed in range(3) for m in GRID]
    threshold = pd.DataFrame({"seed": range(3), "log2_threshold": math.log2(star), "threshold": star,
                              "note": "bracketed"})
    learned = pd.DataFrame({"pool_size": max(GRID), "seed": [0, 1, 2], "fresh_error": 0.43, "fresh_error_ridge": 0.42})
    return {dc.QUERY: pd.DataFrame(rows), dc.THRESHOLD: threshold, dc.SWEEP: learned}


def test_generalises_is_judged_above_the_threshold_where_the_references_differ():
    """M* = 8: the compared M is 64 (in 4–16 × M*, nearest 8 × M*), not the largest M (1024), where
    ridge and dMMSE nearly coincide and the model's small positive gap there says nothing."""
    from icl_study.claims import decide

    claim = _claim("diversity.generalises")
    assert claim.tables == (dc.QUERY, dc.THRESHOLD, dc.SWEEP)
    tables = _sweep(gap=lambda m: -0.2 if m == 64 else 0.005, distance=lambda m: 0.4 if m <= 256 else 0.001)
    m = claim.compute(tables)
    assert m.value == pytest.approx((-0.2 + 0.01) / 0.4, abs=1e-9) and m.n_seeds == 3  # normalised, at M = 64
    assert decide(claim, m, tables).verdict == "reproduced"
    # where the references coincide at the compared M the gate stops a verdict
    close = _sweep(gap=lambda m: -0.05, distance=lambda m: 0.02)  # closer to ridge, but 0.02 / 0.5 < 0.1
    d = decide(claim, claim.compute(close), close)
    assert d.verdict == "inconclusive" and "ridge and dMMSE differ" in d.gate
    # M* = 300: the window 1200–4800 holds no grid M, so there is nothing to compare
    none = _sweep(gap=lambda m: -0.2, distance=lambda m: 0.4, star=300.0)
    assert math.isnan(claim.compute(none).value)


def test_threshold_bracketed_in_every_seed():
    claim = _claim("diversity.threshold_bracketed")
    tables = _sweep(gap=lambda m: 0.0, distance=lambda m: 0.1, star=16.0)
    tables[dc.THRESHOLD]["log2_threshold"] = [3.9, 4.0, 4.1]
    assert verdict(claim, claim.compute(tables)) == "reproduced"  # log2 M* ≈ 4, inside [2, 10]
    unbracketed = dict(tables)
    unbracketed[dc.THRESHOLD] = tables[dc.THRESHOLD].assign(
        log2_threshold=[3.9, 4.0, math.nan], note=["bracketed", "bracketed", "above grid"])
    from icl_study.claims import decide

    m = claim.compute(unbracketed)
    assert math.isnan(m.value) and m.n_seeds == 3
    assert "bracketed by the grid in every seed (seeds not bracketed < 1): 1 FAIL" in decide(claim, m, unbracketed).gates


def test_reference_distance_shrinks_as_the_pool_grows():
    """SPD(ridge, dMMSE) on the fresh batch: large for a small pool, small for a dense one."""
    task = {"n_dims": 2, "n_points": 6, "noise_std": 0.5, "w_scale": 1.0, "eval_size": 64}
    small, large = (dv.reference_distance({**task, "pool_size": m}, 0) for m in (2, 4096))
    assert small > 0.05 and large < 0.2 * small


def test_fresh_error_is_paired_by_seed():
    """Seed 1 is missing at the smallest M: the difference pairs seeds 0 and 2 by seed (not by row
    position), and a grid with a single M gives no value rather than 0 [0, 0]."""
    sweep = pd.DataFrame({"pool_size": [4, 4, 1024, 1024, 1024], "seed": [0, 2, 0, 1, 2],
                          "fresh_error": [1.2, 1.0, 0.5, 9.0, 0.4]})
    m = _claim("diversity.fresh_error").compute({dc.SWEEP: sweep})
    assert m.n_seeds == 2 and m.value == pytest.approx(((0.5 - 1.2) + (0.4 - 1.0)) / 2)
    one_m = {dc.SWEEP: sweep[sweep["pool_size"] == 1024]}
    assert math.isnan(_claim("diversity.fresh_error").compute(one_m).value)


def test_query_distances_read_only_the_last_position():
    """Earlier positions differ wildly; only the query (last position) counts, / d."""
    ys = torch.zeros(4, 3)
    ridge, dmmse = torch.full((4, 3), 9.0), torch.full((4, 3), 9.0)
    ridge[:, -1], dmmse[:, -1] = 1.0, 3.0
    pred = torch.full((4, 3), -5.0)
    pred[:, -1] = 1.0
    out = dv.query_distances(pred, {"ridge": ridge, "dmmse": dmmse}, ys, n_dims=2)
    assert out == {"query_to_ridge": 0.0, "query_to_dmmse": 2.0, "query_ridge_to_dmmse": 2.0, "query_error_ridge": 0.5}
