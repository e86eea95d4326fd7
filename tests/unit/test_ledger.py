"""The claims ledger, end to end on hand-made tables: real study claims reach every verdict branch,
the ledger has one row per claim with the columns the report explains, and it imports without torch."""

import math

import numpy as np
import pandas as pd
import pytest

from icl_study.claims import COLUMNS
from icl_study.ledger import CLAIM_MODULES, all_claims, build_ledger, claim_tables
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
    """One row of transience/settings.csv: (mean, low, high) of the ICL drop or the fresh-error rise,
    and IWL counts well above chance (so the fade claims' IWL gate passes)."""
    row = {"dataset": dataset, "size": size, "weight_decay": wd, "n_seeds": n_seeds,
           "iwl_correct": 300 * n_seeds, "iwl_episodes": 512 * n_seeds, "iwl_chance": 1 / 32}
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
    """An identity shows its value only: NaN bounds, never a degenerate [x, x] interval."""
    claim = by_id(config, "linreg.gd_construction")
    assert not claim.trained
    for worst in (1e-15, 0.5):
        write(tmp_path, "linreg/gd/exactness.csv", pd.DataFrame(
            {"construction": ["one_layer_lsa", "stack"], "gd_steps": [1, 1], "max_abs_diff": [worst / 2, worst]}))
        row = build_ledger(tmp_path, config, [claim]).iloc[0]
        assert (row["verdict"], row["value"]) == ("sanity check", worst)
        assert math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])


def _spd_table(run, spds):
    """A matching table of one run: SPD per predictor at k = 0..2 (k = 0 ignored by the claims)."""
    return pd.DataFrame([(run, 1, 0.0, name, name, k, "spd", value, value, value)
                         for name, value in spds.items() for k in range(3)],
                        columns=["run", "n_layer", "noise_std", "predictor", "label", "k", "metric", "value", "ci_low", "ci_high"])


@pytest.mark.parametrize("zero_spd, expected", [
    ([0.50, 0.58, 0.46], "inconclusive"),  # GD 1 (0.48) not clearly closer than the zero predictor
    ([0.90, 0.95, 0.92], "reproduced"),    # GD 1 closer than zero and every other candidate in every seed
])
def test_shallow_gd_claim_is_gated_on_gd1_being_the_closest_candidate(config, tmp_path, zero_spd, expected):
    """The gap to the Bayes predictor alone said "reproduced" for a 1-layer model that the sweep's
    own check found no closer to one GD step than to predicting 0."""
    claim = by_id(config, "linreg.shallow_matches_gd")
    write(tmp_path, "linreg/sweep_summary.csv", pd.DataFrame([{
        "run": "L1_noise0", "n_layer": 1, "noise_std": 0.0, "n_seeds": 3,
        "spd_gap_log10": -0.57, "spd_gap_low": -0.62, "spd_gap_high": -0.52}]))
    for seed, (run, zero) in enumerate(zip(("L1_noise0", "L1_noise0_s1", "L1_noise0_s2"), zero_spd)):
        others = {name: 2.0 + seed for name in ("least_squares", "averaging", "knn_3", "ridge_0.1", "ridge_1", "gd_2")}
        write(tmp_path, f"linreg/{run}/matching.csv", _spd_table(run, {"gd_1": 0.47 + 0.01 * seed, "zero": zero, **others}))
    row = build_ledger(tmp_path, config, [claim]).iloc[0]
    assert row["verdict"] == expected and row["n_seeds"] == 3
    assert row["gates"].count("closer to one GD step than to") == 7
    if expected == "inconclusive":
        assert row["gate"].startswith("closer to one GD step than to zero")


def test_deep_bayes_claim_is_gated_on_bayes_beating_zero(config, tmp_path):
    """A model closer to predicting 0 than to OLS does not implement the Bayes-optimal predictor,
    however much closer to OLS than to one GD step it is (the tiny sweep's deepest cell is L1)."""
    claim = by_id(config, "linreg.deep_matches_bayes")
    write(tmp_path, "linreg/sweep_summary.csv", pd.DataFrame([{
        "run": "L1_noise0", "n_layer": 1, "noise_std": 0.0, "n_seeds": 3,
        "spd_gap_log10": 0.3, "spd_gap_low": 0.2, "spd_gap_high": 0.4}]))
    for seed, run in enumerate(("L1_noise0", "L1_noise0_s1", "L1_noise0_s2")):
        write(tmp_path, f"linreg/{run}/matching.csv",
              _spd_table(run, {"least_squares": 0.9 + 0.01 * seed, "gd_1": 1.8, "zero": 0.5 + 0.02 * seed}))
    row = build_ledger(tmp_path, config, [claim]).iloc[0]
    assert row["verdict"] == "inconclusive" and row["gate"].startswith("closer to the Bayes-optimal least_squares")


def test_beats_gd1_reads_the_paired_difference_on_one_seed(config, tmp_path):
    """GD 1 minus the model on the same tasks: the paired interval (above 0) decides where the two
    separate intervals overlap; one trained model is one seed, so the verdict is exploratory."""
    claim = by_id(config, "linreg.beats_gd1")
    columns = ["run", "predictor", "label", "k", "metric", "value", "ci_low", "ci_high"]
    write(tmp_path, "linreg/errors.csv", pd.DataFrame([
        ("main", "model", "transformer", 5, "normalized_error", 0.50, 0.40, 0.60),
        ("main", "gd_1", "GD", 5, "normalized_error", 0.55, 0.45, 0.65),
        ("main", "gd_1", "GD", 5, "minus_model", 0.05, 0.03, 0.07)], columns=columns))
    row = build_ledger(tmp_path, config, [claim]).iloc[0]
    assert (row["value"], row["ci_low"], row["ci_high"], row["n_seeds"]) == (0.05, 0.03, 0.07, 1)
    assert row["verdict"] == "exploratory" and "would be reproduced" in row["gate"]


def dai_examples(n=40, simaou_gain=0.1, untrained_gain=-0.05, ft_heldout=1, train_seed=0.0, seed=0):
    """dai/summary/examples.csv for pipeline-gpt on concepts-fresh, trained and untrained copy on the
    same prompts: each example's SimAOU has a large example effect (spread 0.3) that its random
    baseline and the untrained copy share, so only a paired difference sees the gains. ZS is wrong
    on half the examples; FT and ICL get everything right; held-out FT is right where `ft_heldout`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    effect = rng.normal(0, 0.3, n)  # (n,) shared by every column of an example
    rows = []
    for variant, gain in (("trained", 0.0), ("untrained", untrained_gain)):
        for i in range(n):
            base, noise = effect[i], rng.normal(0, 0.01, 4)  # (4,) each column's own small noise
            rows.append({"model": "pipeline-gpt", "task": "concepts-fresh", "variant": variant, "demo_seed": 0,
                         "example": i, "train_seed": train_seed, "zs_correct": i % 2, "icl_correct": 1,
                         "ft_correct": 1, "ft_heldout_correct": ft_heldout if i % 2 == 0 else 1,
                         "simaou": base + simaou_gain + gain + noise[0], "simaou_random": base + noise[1],
                         "kendall_token": base + simaou_gain + gain + noise[2], "kendall_token_random": base + noise[3]})
    return pd.DataFrame(rows)


def dai_ledger(config, tmp_path, claim_id, frame):
    write(tmp_path, "dai/summary/examples.csv", frame)
    return build_ledger(tmp_path, config, [by_id(config, claim_id)]).iloc[0]


def test_dai_differences_are_paired_on_the_same_prompts(config, tmp_path):
    """SimAOU − its random baseline, 0.1 on every prompt under an example spread of 0.3: the paired
    interval excludes 0 (two separate intervals would overlap), and one training seed makes it
    exploratory; the untrained copy, 0.05 lower on every prompt, is beaten (paired too)."""
    row = dai_ledger(config, tmp_path, "dai.simaou.pipeline-gpt.concepts-fresh", dai_examples())
    assert row["value"] == pytest.approx(0.1, abs=0.01) and 0.09 < row["ci_low"] < row["value"] < row["ci_high"] < 0.11
    assert (row["verdict"], row["n_seeds"], row["n_examples"]) == ("exploratory", 1, 40)
    assert "trained − untrained SimAOU > 0" in row["gates"] and "FAIL" not in row["gates"]
    row = dai_ledger(config, tmp_path, "dai.kendall_trained.pipeline-gpt.concepts-fresh", dai_examples())
    assert row["value"] == pytest.approx(0.05, abs=0.01) and row["ci_low"] > 0.04


def test_dai_ft_gate_needs_held_out_learning(config, tmp_path):
    """FT at chance on held-out queries (no better than ZS) leaves Rec2FTP, SimAOU and Kendall
    inconclusive, naming the gate, however clearly the claim's own interval decides."""
    frame = dai_examples(ft_heldout=0, train_seed=float("nan"))  # held-out FT = ZS on every row
    for claim in ("rec2ftp", "simaou", "kendall"):
        row = dai_ledger(config, tmp_path, f"dai.{claim}.pipeline-gpt.concepts-fresh", frame)
        assert row["verdict"] == "inconclusive" and row["gate"].startswith("finetuning learned"), claim


def test_dai_simaou_needs_the_trained_model_to_beat_its_untrained_copy(config, tmp_path):
    row = dai_ledger(config, tmp_path, "dai.simaou.pipeline-gpt.concepts-fresh", dai_examples(untrained_gain=0.05))
    assert row["verdict"] == "inconclusive" and row["gate"].startswith("trained − untrained SimAOU > 0")


def test_dai_rec2ftp_is_a_proportion_with_a_wilson_interval(config, tmp_path):
    """20 fixed examples, all recovered: Rec2FTP = 1 with a Wilson interval [0.84, 1], never the
    degenerate [1, 1] of a percentile bootstrap."""
    row = dai_ledger(config, tmp_path, "dai.rec2ftp.pipeline-gpt.concepts-fresh", dai_examples())
    assert (row["value"], row["ci_high"], row["n_examples"]) == (1.0, 1.0, 20)
    assert row["ci_low"] == pytest.approx(0.839, abs=1e-3)


def test_dai_text_model_claims_are_about_a_pretrained_model(config):
    with_text = {**config, "lm": {**config["lm"], "models": ["smollm2"]}}
    claims = [c for c in all_claims(with_text) if c.study == "dai"]
    assert all(c.trained == ("pipeline-gpt" in c.claim_id or c.claim_id == "dai.momentum") for c in claims)


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
    assert {c.study for c in claims} >= {section for section, _ in CLAIM_MODULES}
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
    assert {"lm.icl_gain.smollm2-135m.mr", "dai.simam.smollm2-135m.mr", "shen.icl_differs_from_gd.smollm2-135m.mr"} <= ids
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
    # a pretrained LM needs no training seeds, but 200 examples x 3 demonstration sets to be decided
    assert row["verdict"] == "exploratory"
    assert row["gate"] == "fewer than 200 test examples (40); would be reproduced"


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


def _verdict_table(gap, moved, model="smollm2-135m", n_examples=200, n_demo_sets=3, icl_gain=(0.2, 0.1, 0.3),
                   gd_gain=(0.1, 0.05, 0.15)):
    """shen/icl_vs_gd.csv with one row: KL(ICL‖GD) − floor `gap`, KL(GD‖ZS) − GD floor `moved`, and
    ICL's and GD's accuracy minus zero-shot's, each (mean, low, high)."""
    row = {"model": model, "task": "mr", "n_demos": 8, "setting": "gd_all", "n_examples": n_examples,
           "n_demo_sets": n_demo_sets}
    for name, (mean, low, high) in (("kl_icl_gd_minus_floor", gap), ("kl_gd_zs_minus_floor", moved),
                                    ("acc_icl_minus_zs", icl_gain), ("acc_gd_minus_zs", gd_gain)):
        row.update({name: mean, f"{name}_low": low, f"{name}_high": high})
    return pd.DataFrame([row])


def test_shen_icl_differs_from_gd_is_gated_on_gd_moving_the_model(text_config, tmp_path):
    """ICL and GD differ beyond the floors, but GD barely moved the model (KL(GD‖ZS) within the GD-GD
    floor): the difference says nothing about GD, so the claim is inconclusive and names the gate.
    Once GD moved, the pretrained model's claim is decided (no training seeds needed)."""
    claim = by_id(text_config, "shen.icl_differs_from_gd.smollm2-135m.mr")
    write(tmp_path, "shen/icl_vs_gd.csv", _verdict_table((0.5, 0.4, 0.6), (0.01, -0.02, 0.04)))
    row = build_ledger(tmp_path, text_config, [claim]).iloc[0]
    assert row["verdict"] == "inconclusive" and row["gate"].startswith("GD moved the model")
    write(tmp_path, "shen/icl_vs_gd.csv", _verdict_table((0.5, 0.4, 0.6), (0.3, 0.2, 0.4)))
    row = build_ledger(tmp_path, text_config, [claim]).iloc[0]
    assert (row["verdict"], row["gate"]) == ("reproduced", "")
    # the same interval on 40 queries of one demonstration set: a case, not a finding
    write(tmp_path, "shen/icl_vs_gd.csv", _verdict_table((0.5, 0.4, 0.6), (0.3, 0.2, 0.4), n_examples=40, n_demo_sets=1))
    row = build_ledger(tmp_path, text_config, [claim]).iloc[0]
    assert (row["verdict"], row["gate"]) == ("exploratory", "fewer than 200 test examples (40); would be reproduced")
    write(tmp_path, "shen/icl_vs_gd.csv", _verdict_table((0.5, 0.4, 0.6), (0.3, 0.2, 0.4), model="pipeline-gpt"))
    row = build_ledger(tmp_path, text_config, [by_id(text_config, "shen.icl_differs_from_gd.pipeline-gpt")]).iloc[0]
    assert (row["verdict"], row["n_seeds"]) == ("exploratory", 1)  # our own model, one checkpoint


def test_shen_icl_differs_from_gd_is_gated_on_icl_and_gd_both_learning(text_config, tmp_path):
    """GD moved the model but into a worse one (accuracy below zero-shot, e.g. one class for every
    query), or ICL does not beat zero-shot: comparing the two update mechanisms says nothing where one
    of them did not learn the task, so the claim is inconclusive and names the gate that failed."""
    claim = by_id(text_config, "shen.icl_differs_from_gd.smollm2-135m.mr")
    moved, gap = (0.3, 0.2, 0.4), (0.5, 0.4, 0.6)
    write(tmp_path, "shen/icl_vs_gd.csv", _verdict_table(gap, moved, gd_gain=(-0.11, -0.17, -0.05)))
    row = build_ledger(tmp_path, text_config, [claim]).iloc[0]
    assert row["verdict"] == "inconclusive" and row["gate"].startswith("GD learned")
    write(tmp_path, "shen/icl_vs_gd.csv", _verdict_table(gap, moved, icl_gain=(0.02, -0.03, 0.07)))
    row = build_ledger(tmp_path, text_config, [claim]).iloc[0]
    assert row["verdict"] == "inconclusive" and row["gate"].startswith("ICL learned")


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


def test_shen_fragility_is_decided_only_where_every_matched_depth_agrees(config, tmp_path):
    """The default run's pattern: the 1-step construction is *less* fragile than its depth-1 trained
    models, the 3-step one far *more* than the trained 3-layer model. Depths that disagree decide
    nothing (the old least-favourable pair said `contradicted`); every depth below zero contradicts."""
    claim = by_id(config, "shen.constructed_fragile")
    depth1 = {"GD transformer (1 step)": ("constructed", 1, 1.0, [1.05, 1.06, 1.07]),
              **{f"trained L1_s{s}": ("trained", 1, 1.0, [1.12, 1.13, 1.14 + 0.01 * s]) for s in range(3)}}
    fragile3 = {"GD transformer (3 steps)": ("constructed", 3, 0.01, [0.09, 0.1, 0.11]),
                "trained main": ("trained", 3, 1.0, [1.4, 1.5, 1.6])}
    write(tmp_path, "shen/perturbation.csv", _perturbation({**depth1, **fragile3}, 20))
    row = build_ledger(tmp_path, config, [claim]).iloc[0]
    assert row["verdict"] == "inconclusive" and row["ci_low"] < 0 < row["ci_high"]
    robust3 = {"GD transformer (3 steps)": ("constructed", 3, 1.0, [1.01, 1.02, 1.03]),
               "trained main": ("trained", 3, 1.0, [1.4, 1.5, 1.6])}
    write(tmp_path, "shen/perturbation.csv", _perturbation({**depth1, **robust3}, 20))
    assert build_ledger(tmp_path, config, [claim]).iloc[0]["verdict"] == "contradicted"
