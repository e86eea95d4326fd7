"""Pins the across-papers study: the pure pieces of the lenses (pair permutation, the
key/value-only finetuning, the correlation table) and, on the tiny tier, that the table holds
exactly one set of rows per configured (family, step, lens) cell and that removing a lens from the
config removes only its cells and reruns no other cell."""

import re
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from icl_study.config import ModelConfig
from icl_study.episodes import EpisodeBatch
from icl_study.lm.finetune import FinetuneConfig, trainable
from icl_study.measures.matched_finetuning import finetuned_query_states, small_model_measures
from icl_study.measures.order import bursty_order_measures, permute_pairs
from icl_study.model import GPT
from icl_study.studies import lenses
from workflow_helpers import REPO, TINY, snakemake


def test_permute_pairs_moves_each_pair_whole_and_keeps_the_query_last():
    B, N, D = 3, 4, 2
    tokens = torch.arange(B * (2 * N + 1) * D, dtype=torch.float32).view(B, 2 * N + 1, D)
    perm = torch.stack([torch.randperm(N, generator=torch.Generator().manual_seed(b)) for b in range(B)])
    out = permute_pairs(tokens, perm)
    for b in range(B):
        for j in range(N):  # slot j now holds pair perm[b, j]: its x-token and its target token together
            assert torch.equal(out[b, 2 * j], tokens[b, 2 * perm[b, j]])
            assert torch.equal(out[b, 2 * j + 1], tokens[b, 2 * perm[b, j] + 1])
        assert torch.equal(out[b, -1], tokens[b, -1])
    identity = torch.arange(N).expand(B, N)
    assert torch.equal(permute_pairs(tokens, identity), tokens)


def _regression_episodes(n_episodes=2, n_demos=3, d=2):
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randn(n_episodes, 2 * n_demos + 1, d, generator=gen)
    return EpisodeBatch(tokens, torch.randn(n_episodes, generator=gen), torch.randn(n_episodes, n_demos, generator=gen))


def test_matched_finetuning_moves_only_keys_and_values_and_restores_the_weights():
    """Dai's finetuning: the query third of every fused qkv stays frozen, the weights come back
    after each episode, and (with a nonzero lr) the query's attention output moves."""
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=2, n_head=2, d_model=8, d_mlp=0, n_positions=7, n_dims_in=2, n_dims_out=1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    episodes = _regression_episodes()
    out0, q0 = finetuned_query_states(model, episodes, "regression", lr=0.0)
    out1, q1 = finetuned_query_states(model, episodes, "regression", lr=0.5)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # restored
    assert out0.shape == (2, 2, 8) and q0.shape == (2, 2, 2, 4)  # (L, B, C), (L, B, H, Dh)
    assert not torch.allclose(out0, out1)  # values moved
    assert torch.allclose(q0[0], q1[0])  # layer 0's query: frozen projection of an unchanged input
    masks = [mask for _, mask in trainable(model, FinetuneConfig("dai")).values()]
    assert all(m[: len(m) // 3].sum() == 0 and m[len(m) // 3 :].min() == 1 for m in masks)


def test_small_model_measures_are_bounded_per_layer_and_episode():
    torch.manual_seed(1)
    model = GPT(ModelConfig(n_layer=2, n_head=2, d_model=8, d_mlp=0, n_positions=7, n_dims_in=2, n_dims_out=1))
    simaou, tau = small_model_measures(model, _regression_episodes(), "regression", lr=0.1)
    assert simaou.shape == tau.shape == (2, 2)
    assert (simaou.abs() <= 1 + 1e-6).all() and (tau.abs() <= 1 + 1e-6).all()


def _table(values: dict[tuple[str, str], list[float]], steps=(10, 20, 40, 80)) -> pd.DataFrame:
    rows = [("bursty", s, lens, metric, v, v - 0.01, v + 0.01, 1)
            for (lens, metric), vals in values.items() for s, v in zip(steps, vals)]
    return pd.DataFrame(rows, columns=lenses.COLUMNS)


def test_order_measure_is_not_a_function_of_accuracy():
    """With every episode right in every order (accuracy 1, so no label can flip),
    the log-prob spread among always-correct episodes still varies; an episode wrong in one order
    is left out of it."""
    targets, demo = torch.tensor([0, 0, 1]), torch.tensor([[0, 1], [0, 1], [0, 1]])  # 3 episodes, labels 0/1 in context
    logits = torch.zeros(2, 3, 3)  # (P = 2 orders, B = 3, L = 3 labels)
    logits[:, 0, 0] = torch.tensor([1.0, 1.0])  # episode 0: right both times, same confidence -> spread 0
    logits[:, 1, 0] = torch.tensor([1.0, 3.0])  # episode 1: right both times, confidence changes -> spread > 0
    logits[:, 2, 1] = torch.tensor([1.0, -1.0])  # episode 2: wrong in order 2 -> excluded
    out = bursty_order_measures(logits, targets, demo)
    assert out["pred_spread"].shape == (3,) and out["logp_spread_correct"].shape == (2,)
    logp = logits.log_softmax(-1)
    expected = (logp[0, 1, 0] - logp[1, 1, 0]).abs() / 2  # population std of two values
    torch.testing.assert_close(out["logp_spread_correct"], torch.stack([torch.tensor(0.0), expected]))


def test_correlations_pool_training_seeds():
    """ρ pools every (seed, checkpoint) pair against that seed's own ICL, and the
    per-seed ρ come with a t-interval over seeds; the pooled table keeps n_seeds."""
    steps = (10, 20, 40, 80)
    icl = {"seed0": [0.5, 0.8, 0.95, 0.7], "seed1": [0.55, 0.85, 0.9, 0.6], "seed2": [0.5, 0.7, 0.99, 0.8]}
    rows = []
    for member, curve in icl.items():
        for s, v in zip(steps, curve):
            rows += [("bursty", member, s, "evaluators", "icl", v, v, v), ("bursty", member, s, "dual", "same", 2 * v, 2 * v, 2 * v)]
    members = pd.DataFrame(rows, columns=lenses.MEMBER_COLUMNS)
    table = lenses.pool_members(members)
    assert (table["n_seeds"] == 3).all() and list(table.columns) == lenses.COLUMNS
    corr = lenses.correlations(table, members).set_index("metric")
    assert corr.loc["same", "spearman"] == pytest.approx(1.0) and corr.loc["same", "n_seeds"] == 3
    assert corr.loc["same", "spearman_seed_mean"] == pytest.approx(1.0)


def test_correlations_of_a_known_table():
    """ICL rises to its best at step 40 then falls: a copy of it has ρ = 1 and the same directions,
    its mirror ρ = −1 and opposite directions, a flat metric no direction."""
    icl = [0.5, 0.8, 0.95, 0.7]
    table = _table({("evaluators", "icl"): icl, ("dual", "same"): [1, 2, 3, 1.5],
                    ("dual", "mirror"): [-v for v in icl], ("order", "flat"): [0.3, 0.305, 0.3, 0.295]})
    corr = lenses.correlations(table).set_index("metric")
    assert corr.loc["same", "spearman"] == pytest.approx(1.0)
    assert corr.loc["mirror", "spearman"] == pytest.approx(-1.0)
    assert (corr.loc["same", ["rise_direction", "fall_direction"]] == [1, -1]).all()
    assert (corr.loc["mirror", ["rise_direction", "fall_direction"]] == [-1, 1]).all()
    assert (corr.loc["flat", ["rise_direction", "fall_direction"]] == [0, 0]).all()  # within the intervals
    assert (corr["icl_best_step"] == 40).all() and (corr["n_checkpoints"] == 4).all()


# --- the workflow on the tiny tier ---------------------------------------------------------------

KEPT_STEPS = (100, 120)  # tests/configs/tiny.yaml keeps two checkpoints per transience run
DROPPED = "order"
TARGETS = ("results/lenses/table.csv", "results/figures/lenses_over_training.png",
           "results/figures/lenses_correlations.png")


def _cells(table: pd.DataFrame) -> set[tuple]:
    return set(table[["family", "step", "lens"]].itertuples(index=False, name=None))  # pooled over seeds


@pytest.mark.workflow
def test_every_cell_present_and_dropping_a_lens_drops_only_its_cells(tiny_run, tmp_path):
    """The table of the shared tiny run; the lens is dropped in a copy of that run (copytree keeps
    the files' times and Snakemake's records, so only what the drop changes reruns)."""
    import yaml

    from icl_study.plan import Plan
    from icl_study.settings import load_config

    configs = (REPO / "config.yaml", TINY)
    plan = Plan(load_config(configs))
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    table = pd.read_csv(workdir / "results" / "lenses" / "table.csv")
    assert list(table.columns) == lenses.COLUMNS
    expected = {(f, s, lens) for f in plan.lenses_kinds for s in plan.lenses_steps(f) for lens in plan.lenses_of(f)}
    assert set(plan.lenses_steps("bursty")) == set(KEPT_STEPS)
    assert _cells(table) == expected
    assert table["value"].notna().all()

    dropped = tmp_path / "dropped.yaml"
    dropped.write_text(yaml.safe_dump({"lenses": {"families": {
        f: {"lenses": [lens for lens in plan.lenses_of(f) if lens != DROPPED]} for f in plan.lenses_kinds}}}))
    result = snakemake(workdir, *TARGETS, "--cores", "1", configfiles=(*configs, dropped))
    ran = set(re.findall(r"^(?:local)?rule (\w+):", result.stdout + result.stderr, re.M))
    assert ran == {"lenses_collect", "fig_lenses_over_training", "fig_lenses_correlations"}  # no cell reran
    after = pd.read_csv(workdir / "results" / "lenses" / "table.csv")
    assert _cells(after) == {cell for cell in expected if cell[2] != DROPPED}
    kept = table[table["lens"] != DROPPED].reset_index(drop=True)
    pd.testing.assert_frame_equal(after.reset_index(drop=True), kept)  # the other cells' rows unchanged


# --- the lens claims: partial ρ given log(step), the ICL-not-monotone gate, last layer by number ---

STEPS = (10, 20, 40, 80, 160, 320, 640, 1280)


def _members(icl_curves: dict[str, list[float]], metric_curves: dict[str, dict[str, list[float]]],
             family="bursty", icl_half=0.01) -> pd.DataFrame:
    """Per-seed rows: the ICL metric `icl` (interval ± icl_half) and each lens metric (lens dai)."""
    rows = []
    for member, curve in icl_curves.items():
        for i, (s, v) in enumerate(zip(STEPS, curve)):
            rows.append((family, member, s, "evaluators", "icl", v, v - icl_half, v + icl_half))
            for metric, curves in metric_curves.items():
                m = curves[member][i]
                rows.append((family, member, s, "dai", metric, m, m, m))
    return pd.DataFrame(rows, columns=lenses.MEMBER_COLUMNS)


def _ledger(members: pd.DataFrame, families=("bursty",)) -> pd.DataFrame:
    from icl_study.claims import ledger_rows
    from icl_study.studies import lenses_claims

    corr = lenses.correlations(lenses.pool_members(members), members)
    config = {"lenses": {"families": {f: {} for f in families}}}
    rows = ledger_rows(lenses_claims.claims(config), {lenses_claims.CORRELATIONS: corr})
    return pd.DataFrame(rows).set_index("claim_id")


def _rise_and_fall(seed: int, fall: bool = True) -> list[float]:
    """ICL rising over log-step with seed-specific wiggles (sd 0.1), and (if `fall`) its last
    checkpoint 0.1 below its best."""
    rng = np.random.default_rng(seed)
    curve = 0.3 + 0.08 * np.arange(len(STEPS)) + rng.normal(0, 0.1, len(STEPS))
    if fall:
        curve[-1] = curve[:-1].max() - 0.1
    return list(curve)


SEEDS = ("seed0", "seed1", "seed2")


def test_a_metric_that_only_drifts_with_training_time_does_not_track_icl():
    """A metric that follows log(step) and nothing of ICL beyond it correlates with ICL across
    checkpoints (raw per-seed ρ interval above 0: the old claim said `reproduced`); its partial ρ
    given log(step) straddles 0, so the claim is inconclusive with its gate passed."""
    icl = {s: _rise_and_fall(i) for i, s in enumerate(SEEDS)}
    rng = np.random.default_rng(0)
    drift = {s: list(np.log(STEPS) + rng.normal(0, 0.3, len(STEPS))) for s in SEEDS}
    members = _members(icl, {"simaou_l0": drift})
    corr = lenses.correlations(lenses.pool_members(members), members).set_index("metric")
    assert corr.loc["simaou_l0", "spearman_seed_low"] > 0  # the raw correlation is "significant"
    row = _ledger(members).loc["lenses.simaou_tracks_icl"]
    assert row["verdict"] == "inconclusive" and row["gate"] == "", row
    assert corr.loc["simaou_l0", "partial_low"] < 0 < corr.loc["simaou_l0", "partial_high"]
    assert corr.loc["simaou_l0", "partial_n_seeds"] == 3 and corr.loc["simaou_l0", "n_pairs"] == 24


def test_partial_spearman_combines_seeds_in_fisher_z():
    """One seed: the partial Spearman ρ given log(step) with fisher_z_ci(n, n_controls=1); two
    identical seeds: the same ρ, and the interval of twice the weight (n − 4 each)."""
    from icl_study.intervals import fisher_z_ci, partial_correlation

    x, y = _rise_and_fall(1), _rise_and_fall(2)
    one = pd.DataFrame({"value": x, "icl": y}, index=pd.MultiIndex.from_product([["s0"], STEPS], names=["member", "step"]))
    r = partial_correlation(x, y, np.log(STEPS), rank=True)
    assert np.isfinite(r)
    assert lenses.partial_spearman_over_seeds(one) == pytest.approx((*fisher_z_ci(r, 8, n_controls=1), 1, 8))
    two = pd.concat([one, one.rename(index={"s0": "s1"})])
    rho, low, high, n_seeds, n_pairs = lenses.partial_spearman_over_seeds(two)
    assert (rho, n_seeds, n_pairs) == (pytest.approx(r), 2, 16)
    assert (low, high) == pytest.approx(fisher_z_ci(r, 2 * (8 - 4) + 4, n_controls=1)[1:])


def test_a_monotone_icl_makes_the_claim_inconclusive_naming_the_gate():
    """A metric that tracks ICL's own wiggles around its trend: with ICL falling after its best
    checkpoint in every seed the claim is reproduced; with ICL's wiggles inside its intervals (no
    seed falls beyond them) the same interval is not enough and the gate is named with its value;
    two seeds: exploratory."""
    for fall, half, verdict in ((True, 0.01, "reproduced"), (False, 0.5, "inconclusive")):
        icl = {s: _rise_and_fall(i, fall) for i, s in enumerate(SEEDS)}
        members = _members(icl, {"simaou_l0": {s: [2 * v for v in c] for s, c in icl.items()}}, icl_half=half)
        row = _ledger(members).loc["lenses.simaou_tracks_icl"]
        assert row["ci_low"] > 0 and row["n_seeds"] == 3, row
        assert row["verdict"] == verdict, row
        assert ("ICL not monotone" in row["gate"]) == (not fall) and "ICL not monotone" in row["gates"]
        if not fall:
            assert "failed: 0" in row["gate"]  # its value: no seed's ICL falls
    icl = {s: _rise_and_fall(i) for i, s in enumerate(SEEDS[:2])}
    row = _ledger(_members(icl, {"simaou_l0": {s: [2 * v for v in c] for s, c in icl.items()}})).loc[
        "lenses.simaou_tracks_icl"]
    assert row["n_seeds"] == 2 and row["verdict"] == "exploratory", row


def test_icl_falls_needs_the_fall_beyond_both_intervals():
    curve = [0.5, 0.9, 0.85]  # best at the middle checkpoint, last 0.05 lower
    frame = pd.DataFrame({"member": "s0", "step": STEPS[:3], "value": curve})
    narrow = frame.assign(ci_low=frame["value"] - 0.01, ci_high=frame["value"] + 0.01)
    wide = frame.assign(ci_low=frame["value"] - 0.1, ci_high=frame["value"] + 0.1)
    assert lenses.icl_falls(narrow, higher_is_better=True) == (1, 1)
    assert lenses.icl_falls(wide, higher_is_better=True) == (0, 1)
    assert lenses.icl_falls(narrow, higher_is_better=False) == (1, 1)  # as an error: best first, then worse
    error = narrow.assign(value=[0.9, 0.5, 0.505])  # an error at its lowest, then a rise within the intervals
    assert lenses.icl_falls(error.assign(ci_low=error["value"] - 0.01, ci_high=error["value"] + 0.01), False) == (0, 1)


def _corr_rows(family: str, values: dict[str, float]) -> pd.DataFrame:
    """A correlations table whose every statistic of a metric is its value in `values`."""
    rows = [{"family": family, "metric": metric, "spearman_seed_mean": v, "spearman_seed_low": v - 0.1,
             "spearman_seed_high": v + 0.1, "partial_spearman": v, "partial_low": v - 0.1, "partial_high": v + 0.1,
             "partial_n_seeds": 3, "n_seeds": 3, "icl_fall_share": 1.0, "icl_seeds": 3} for metric, v in values.items()]
    return pd.DataFrame(rows).sort_values("metric", ignore_index=True)  # string order, as collect writes it


def test_the_last_layer_is_picked_by_its_number():
    """Layers 0..11 in string order end with l9; the claim reads l11 (and never an untrained control)."""
    from icl_study.studies import lenses_claims

    values = {f"simaou_l{i}": i / 20 for i in range(12)} | {"simaou_l11_untrained": -0.5}
    table = _corr_rows("bursty", values)
    assert table["metric"].iloc[-1] == "simaou_l9"
    claim = next(c for c in lenses_claims.claims({"lenses": {"families": {"bursty": {}}}})
                 if c.claim_id == "lenses.simaou_tracks_icl")
    assert claim.compute({lenses_claims.CORRELATIONS: table}).value == pytest.approx(11 / 20)
    assert lenses_claims.last_layer(list(values), "simaou") == "simaou_l11"


def test_regression_claims_read_the_partial_probe_and_ols_minus_ridge():
    """The probe claim reads the partial R² of w_OLS given Xᵀy, the OLS claim SPD_OLS − SPD_ridge."""
    from icl_study.studies import lenses_claims

    table = _corr_rows("regression", {"r2_w_ols": 0.9, "r2_w_ols_given_xty": -0.3, "spd_ols": 0.8,
                                      "spd_ols_minus_ridge": 0.2, "spd_gd1": 0.4})
    got = {c.claim_id: c.compute({lenses_claims.CORRELATIONS: table}).value
           for c in lenses_claims.claims({"lenses": {"families": {"regression": {}}}})}
    assert got == pytest.approx({"lenses.probe_tracks_icl": -0.3, "lenses.spd_ols_tracks_icl": 0.2,
                                 "lenses.spd_gd1_tracks_icl": 0.4})


def _tiny_regression_model():
    from icl_study.config import RunConfig

    cfg = RunConfig(task_config={"n_dims": 2, "n_points": 4, "noise_std": 0.5, "pool_size": 4},
                    model=ModelConfig(n_layer=1, n_head=2, d_model=16, d_mlp=32, n_positions=8, n_dims_in=2))
    torch.manual_seed(0)
    return GPT(cfg.model).eval(), cfg


def test_spd_and_probe_lenses_write_the_claims_metrics():
    """spd_ols_minus_ridge is SPD_OLS − SPD_ridge per task (so its mean is the means' difference);
    the probe lens writes the partial R² of w_OLS given Xᵀy."""
    from icl_study.settings.lenses import ProbeLensConfig, SpdConfig

    model, cfg = _tiny_regression_model()
    with torch.no_grad():
        spd = {r[0]: r for r in lenses.spd_lens(model, cfg, SpdConfig(n_tasks=16, gd_lr_grid=(0.1,)), 20, 0)}
        probe = {r[0]: r for r in lenses.probe_lens(model, cfg, ProbeLensConfig(n_train=32, n_test=16), 20, 0)}
    assert spd["spd_ols_minus_ridge"][1] == pytest.approx(spd["spd_ols"][1] - spd["spd_bayes_excess_error"][1], rel=1e-5)
    assert set(probe) == {"r2_xty", "r2_w_ols", "r2_w_ols_given_xty"}
    assert probe["r2_w_ols_given_xty"][1] <= 1
