"""The claims ledger, end to end on hand-made tables: real study claims reach every verdict branch,
the ledger has one row per claim with the columns the report explains, and it imports without torch."""

import math

import numpy as np
import pandas as pd
import pytest

from icl_study.claims import COLUMNS
from icl_study.ledger import STUDIES, all_claims, build_ledger, claim_tables
from icl_study.settings import load_config
from workflow_helpers import REPO, TINY, run_without_torch


@pytest.fixture(scope="module")
def config():
    return load_config([str(REPO / "config.yaml"), str(TINY)])


def by_id(config, claim_id):
    (claim,) = [c for c in all_claims(config) if c.claim_id == claim_id]
    return claim


def write(results, path, frame):
    (results / path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(results / path, index=False)


def settings_row(dataset, size, wd, n_seeds, drop=None, rise=None):
    """One row of transience/settings.csv: (mean, low, high) of the ICL drop or the fresh-error rise."""
    row = {"dataset": dataset, "size": size, "weight_decay": wd, "n_seeds": n_seeds}
    for column, interval in (("icl_drop", drop), ("fresh_rise", rise)):
        mean, low, high = interval or (math.nan,) * 3
        row.update({column: mean, f"{column}_low": low, f"{column}_high": high})
    return row


@pytest.mark.parametrize("drop, expected", [
    ((0.30, 0.20, 0.40), "reproduced"),      # the whole interval above the fade threshold
    ((0.01, -0.01, 0.03), "contradicted"),   # the whole interval below it
    ((0.06, -0.02, 0.14), "inconclusive"),   # straddles it
    ((0.30, math.nan, math.nan), "inconclusive"),  # one seed: no interval
])
def test_transience_fade_claim_reaches_every_branch(config, tmp_path, drop, expected):
    claim = by_id(config, "transience.fades.pb1")
    write(tmp_path, "transience/settings.csv", pd.DataFrame([settings_row("bursty", "pb1", 0.0, 3, drop=drop)]))
    row = build_ledger(tmp_path, config, [claim]).iloc[0]
    assert row["verdict"] == expected
    assert (row["value"], row["n_seeds"]) == (drop[0], 3)


def test_identity_is_a_sanity_check_whatever_its_value(config, tmp_path):
    claim = by_id(config, "linreg.gd_construction")
    for worst in (1e-15, 0.5):
        write(tmp_path, "linreg/gd/exactness.csv", pd.DataFrame(
            {"construction": ["one_layer_lsa", "stack"], "gd_steps": [1, 1], "max_abs_diff": [worst / 2, worst]}))
        row = build_ledger(tmp_path, config, [claim]).iloc[0]
        assert (row["verdict"], row["value"]) == ("sanity check", worst)


def test_difference_of_two_intervals_is_conservative(config, tmp_path):
    """Dai's SimAOU minus its random baseline: reproduced only where the two intervals do not overlap."""
    claim = by_id(config, "dai.simaou.pipeline-gpt.concepts-fresh")
    key = {"model": "pipeline-gpt", "task": "concepts-fresh", "variant": "trained", "n_examples": 40, "n_demo_sets": 1}
    for (low, high), expected in (((0.3, 0.5), "reproduced"), ((-0.05, 0.5), "inconclusive")):
        write(tmp_path, "dai/summary/table.csv", pd.DataFrame([
            {**key, "metric": "simaou", "mean": 0.4, "low": low, "high": high},
            {**key, "metric": "simaou_random", "mean": 0.0, "low": -0.02, "high": 0.02}]))
        row = build_ledger(tmp_path, config, [claim]).iloc[0]
        assert row["verdict"] == expected
        assert (row["value"], row["ci_low"], row["n_examples"]) == (pytest.approx(0.4), pytest.approx(low - 0.02), 40)


def test_seed_paired_difference_contradicts(config, tmp_path):
    """Ren's `negative` variant: worse than softmax in every seed → the lower-error claim is contradicted."""
    claim = by_id(config, "ren.variant.negative")
    rows = [(kind, seed, 4, err) for seed, (soft, neg) in enumerate([(0.50, 0.71), (0.52, 0.70), (0.48, 0.72)])
            for kind, err in (("softmax", soft), ("negative", neg))]
    write(tmp_path, "ren/variants/errors.csv", pd.DataFrame(rows, columns=["kind", "seed", "k", "normalized_error"]))
    row = build_ledger(tmp_path, config, [claim]).iloc[0]
    assert row["verdict"] == "contradicted" and row["n_seeds"] == 3
    assert row["value"] == pytest.approx(0.21)


def test_ledger_columns_and_missing_table(config, tmp_path):
    claim = by_id(config, "transience.fades.pb1")
    write(tmp_path, "transience/settings.csv", pd.DataFrame([settings_row("bursty", "pb1", 0.0, 3, drop=(0.3, 0.2, 0.4))]))
    assert tuple(build_ledger(tmp_path, config, [claim]).columns) == COLUMNS
    with pytest.raises(FileNotFoundError):  # a claim is never dropped silently
        build_ledger(tmp_path, config, [by_id(config, "linreg.gd_construction")])


def test_every_study_declares_claims_with_tables_and_figures(config):
    claims = all_claims(config)
    assert {c.study for c in claims} >= {section for section, _ in STUDIES}
    for claim in claims:
        assert claim.tables and all(not t.startswith("results/") for t in claim.tables), claim.claim_id
        assert claim.figure.startswith("results/figures/") and claim.figure.endswith(".png"), claim.claim_id
    assert "transience/settings.csv" in claim_tables(claims)


def test_text_model_claims_follow_the_config(config):
    """No lm.models: no text-model claims; with SmolLM2, Dai/Shen/lm claims for it appear."""
    ids = {c.claim_id for c in all_claims(config)}
    assert not any("smollm2" in i for i in ids)
    with_text = {**config, "lm": {**config["lm"], "models": ["smollm2"]}}
    ids = {c.claim_id for c in all_claims(with_text)}
    assert {"lm.icl_gain.smollm2-135m.mr", "dai.simam.smollm2-135m.mr", "shen.icl_differs_from_gd.smollm2-135m"} <= ids
    without_dai = {k: v for k, v in config.items() if k != "dai"}
    assert not any(c.study == "dai" for c in all_claims(without_dai))


def test_ledger_imports_and_declares_claims_without_torch():
    """Snakemake imports the ledger and every study's claims when it parses the workflow."""
    result = run_without_torch(
        "from icl_study.ledger import all_claims, claim_tables\n"
        "from icl_study.settings import load_config\n"
        f"claims = all_claims(load_config([{str(REPO / 'config.yaml')!r}]))\n"
        "assert claims and claim_tables(claims)\n"
    )
    assert result.returncode == 0, result.stderr


# --- lm and shen claims ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def text_config(config):
    return {**config, "lm": {**config["lm"], "models": ["smollm2"]}}


def _predictions(correct_by_k: dict, model="smollm2-135m", task="mr"):
    """PREDICTION_COLUMNS rows from {k: {demo_seed: [0/1 per example]}}."""
    rows = [(model, task, k, seed, i, 0, 0, c, 2)
            for k, sets in correct_by_k.items() for seed, correct in sets.items() for i, c in enumerate(correct)]
    from icl_study.studies.lm import PREDICTION_COLUMNS
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)


def _accuracy_tables(results, predictions):
    from icl_study.studies import lm as lm_study

    (results / "lm").mkdir(parents=True, exist_ok=True)
    predictions.to_csv(results / "icl.csv", index=False)
    lm_study.accuracy_rule([str(results / "icl.csv")], {}, [str(results / "lm" / name) for name in
                                                            ("accuracy.csv", "accuracy_ci.csv", "icl_gain.csv")])


def test_lm_icl_gain_is_paired_per_example(text_config, tmp_path):
    """Zero-shot right on every odd example; at k = 4 also on 6 even ones: a gain of 0.15 on the same
    40 examples. Paired per example the interval excludes 0; the two accuracies' separate intervals
    (0.5 and 0.65, each about ±0.15) overlap, so the unpaired difference could not decide."""
    zero = [i % 2 for i in range(40)]
    at_k = [1 if (i % 2 or i < 12) else 0 for i in range(40)]
    _accuracy_tables(tmp_path, _predictions({0: {0: zero}, 4: {0: at_k}}))
    ci = pd.read_csv(tmp_path / "lm" / "accuracy_ci.csv").set_index("k")
    assert ci.loc[4, "low"] < ci.loc[0, "high"]  # the unpaired intervals overlap
    row = build_ledger(tmp_path, text_config, [by_id(text_config, "lm.icl_gain.smollm2-135m.mr")]).iloc[0]
    assert row["value"] == pytest.approx(0.15) and row["ci_low"] > 0 and row["n_examples"] == 40
    assert row["verdict"] == "reproduced"  # a pretrained LM: no training seeds needed


def test_lm_icl_gain_over_several_demonstration_sets_is_two_way(text_config, tmp_path):
    """Three demonstration sets: the per-example gain table (examples x sets) under the two-way
    bootstrap, which is wider than treating the 3 x 40 gains as one sample when the sets disagree."""
    from icl_study.intervals import two_way_bootstrap_ci
    from icl_study.rng import stream_seed

    zero = [i % 2 for i in range(40)]
    sets = {0: [1] * 40, 1: zero, 2: [1 if (i % 2 or i < 20) else 0 for i in range(40)]}
    _accuracy_tables(tmp_path, _predictions({0: {0: zero}, 4: sets}))
    gain = pd.read_csv(tmp_path / "lm" / "icl_gain.csv").iloc[0]
    table = np.array([[sets[s][i] - zero[i] for s in (0, 1, 2)] for i in range(40)], dtype=float)
    expected = two_way_bootstrap_ci(table, 1000, seed=stream_seed(0, "bootstrap"))
    assert (gain["gain"], gain["low"], gain["high"]) == pytest.approx(expected)
    assert (gain["n_examples"], gain["n_demo_sets"], gain["n_train_seeds"]) == (40, 3, 0)


def test_pipeline_gpt_icl_gain_is_one_training_seed(config, tmp_path):
    """pipeline-gpt is our own model, one checkpoint: a decided gain is exploratory, with n_seeds 1."""
    from icl_study.studies import lm as lm_study

    rows = [("pipeline-gpt", "concepts-fresh", "model", k, 0, acc, 200, 0.5) for k, acc in ((0, 0.5), (4, 0.9))]
    pd.DataFrame(rows, columns=lm_study.ACCURACY_COLUMNS).to_csv(tmp_path / "concepts.csv", index=False)
    (tmp_path / "lm").mkdir()
    lm_study.accuracy_rule([str(tmp_path / "concepts.csv")], {}, [str(tmp_path / "lm" / name) for name in
                                                                   ("accuracy.csv", "accuracy_ci.csv", "icl_gain.csv")])
    row = build_ledger(tmp_path, config, [by_id(config, "lm.icl_gain.pipeline-gpt")]).iloc[0]
    assert row["value"] == pytest.approx(0.4) and row["ci_low"] > 0
    assert (row["verdict"], row["n_seeds"]) == ("exploratory", 1)


def _verdict_table(gap, moved, model="smollm2-135m"):
    """shen/icl_vs_gd.csv with one row: KL(ICL‖GD) − floor `gap` and KL(GD‖ZS) − GD floor `moved`,
    each (mean, low, high)."""
    row = {"model": model, "task": "mr", "n_demos": 8, "setting": "gd_all", "n_examples": 40}
    for name, (mean, low, high) in (("kl_icl_gd_minus_floor", gap), ("kl_gd_zs_minus_floor", moved)):
        row.update({name: mean, f"{name}_low": low, f"{name}_high": high})
    return pd.DataFrame([row])


def test_shen_icl_differs_from_gd_is_gated_on_gd_moving_the_model(text_config, tmp_path):
    """ICL and GD differ beyond the floors, but GD barely moved the model (KL(GD‖ZS) within the GD-GD
    floor): the difference says nothing about GD, so the claim is inconclusive and names the gate.
    Once GD moved, the pretrained model's claim is decided (no training seeds needed)."""
    claim = by_id(text_config, "shen.icl_differs_from_gd.smollm2-135m")
    write(tmp_path, "shen/icl_vs_gd.csv", _verdict_table((0.5, 0.4, 0.6), (0.01, -0.02, 0.04)))
    row = build_ledger(tmp_path, text_config, [claim]).iloc[0]
    assert row["verdict"] == "inconclusive" and row["gate"].startswith("GD moved the model")
    write(tmp_path, "shen/icl_vs_gd.csv", _verdict_table((0.5, 0.4, 0.6), (0.3, 0.2, 0.4)))
    row = build_ledger(tmp_path, text_config, [claim]).iloc[0]
    assert (row["verdict"], row["gate"]) == ("reproduced", "")
    write(tmp_path, "shen/icl_vs_gd.csv", _verdict_table((0.5, 0.4, 0.6), (0.3, 0.2, 0.4), model="pipeline-gpt"))
    row = build_ledger(tmp_path, text_config, [by_id(text_config, "shen.icl_differs_from_gd.pipeline-gpt")]).iloc[0]
    assert (row["verdict"], row["n_seeds"]) == ("exploratory", 1)  # our own model, one checkpoint


def _perturbation(models: dict, n_draws: int, scale=0.1):
    """shen/perturbation.csv rows: {name: (kind, depth, clean loss, [noisy loss per draw])}."""
    rows = []
    for name, (kind, depth, clean, noisy) in models.items():
        rows.append((name, 0.0, 0, "loss", clean, 0.0, kind, depth))
        rows += [(name, scale, d, "loss", noisy[d % len(noisy)], noisy[d % len(noisy)] - clean, kind, depth)
                 for d in range(n_draws)]
    rows.append(("lm (mr)", scale, 0, "loss", 9.0, 5.0, "pretrained LM", math.nan))  # LM rows: no depth
    return pd.DataFrame(rows, columns=["model", "scale", "draw", "metric", "value", "delta", "kind", "depth"])


def test_shen_fragility_is_a_log_loss_ratio_per_model_at_matched_depth(config, tmp_path):
    """The 1-step construction goes from loss 0.01 to about 0.1 (×10) while three trained depth-1
    models go from 1.0 to about 1.5: ΔL is larger for the trained ones (the old measure said
    `contradicted`), the relative increase is larger for the construction. A fragile 3-layer trained
    model has no 3-step construction to match and is ignored. 20 draws pass the gate; 5 do not."""
    claim = by_id(config, "shen.constructed_fragile")
    models = {"GD transformer (1 step)": ("constructed", 1, 0.01, [0.09, 0.1, 0.11]),
              **{f"trained L1_s{s}": ("trained", 1, 1.0, [1.4, 1.5, 1.6 + 0.01 * s]) for s in range(3)},
              "trained main": ("trained", 3, 0.001, [1.0])}
    write(tmp_path, "shen/perturbation.csv", _perturbation(models, 20))
    row = build_ledger(tmp_path, config, [claim]).iloc[0]
    assert row["value"] == pytest.approx(math.log(10) - math.log(1.5), abs=0.05)
    assert (row["verdict"], row["n_examples"], row["n_seeds"]) == ("reproduced", 20, 3)
    write(tmp_path, "shen/perturbation.csv", _perturbation(models, 5))
    row = build_ledger(tmp_path, config, [claim]).iloc[0]
    assert row["verdict"] == "inconclusive" and row["gate"].startswith("at least 20 noise draws")
