"""The claims ledger decides every verdict from the interval, on hand-made tables (each branch)."""

import math

import numpy as np

import pandas as pd
import pytest

from icl_study.claims import (COLUMNS, LM_MIN_DEMO_SETS, LM_MIN_EXAMPLES, MIN_SEEDS, Claim, Gate, Measurement, decide, ledger_rows,
                               verdict)


def claim(direction, threshold=0.0, margin=0.0, compute=None, gates=(), trained=False, **power):
    return Claim(study="s", paper="P", claim_id=f"c_{direction}", claim="a sentence", measure="m",
                 direction=direction, figure="f.png", compute=compute or (lambda t: None),
                 threshold=threshold, margin=margin, gates=gates, trained=trained, **power)


@pytest.mark.parametrize("direction, low, high, expected", [
    ("greater", 0.1, 0.3, "reproduced"),
    ("greater", -0.3, -0.1, "contradicted"),
    ("greater", -0.1, 0.3, "inconclusive"),
    ("less", -0.3, -0.1, "reproduced"),
    ("less", 0.1, 0.3, "contradicted"),
    ("less", -0.1, 0.1, "inconclusive"),
    ("equivalent", -0.04, 0.04, "reproduced"),
    ("equivalent", 0.06, 0.2, "contradicted"),
    ("equivalent", -0.04, 0.2, "inconclusive"),
    ("identity", -1.0, 1.0, "sanity check"),
    ("greater", math.nan, math.nan, "inconclusive"),
])
def test_verdict_branches(direction, low, high, expected):
    c = claim(direction, margin=0.05)
    assert verdict(c, Measurement((low + high) / 2, low, high)) == expected


def test_threshold_shifts_the_decision():
    assert verdict(claim("greater", threshold=0.5), Measurement(0.6, 0.52, 0.7)) == "reproduced"
    assert verdict(claim("greater", threshold=0.5), Measurement(0.4, 0.3, 0.49)) == "contradicted"


def test_ledger_rows_come_from_the_tables():
    """The measure reads the table it is given: two tables, two verdicts, no typed number."""
    def difference(tables):
        d = tables["diffs"]["value"]
        return Measurement(d.mean(), d.min(), d.max(), n_examples=len(d), n_seeds=None)

    c = claim("greater", compute=difference)
    up = ledger_rows([c], {"diffs": pd.DataFrame({"value": [0.2, 0.3, 0.4]})})[0]
    down = ledger_rows([c], {"diffs": pd.DataFrame({"value": [-0.2, -0.3]})})[0]
    assert tuple(up) == COLUMNS
    assert (up["verdict"], up["n_examples"], up["value"]) == ("reproduced", 3, pytest.approx(0.3))
    assert down["verdict"] == "contradicted" and "interval above 0" in down["rule"]


def _gate(low, high, name="finetuning learned: FT − ZS accuracy > 0", **kw):
    return Gate(name, lambda tables: Measurement((low + high) / 2, low, high), **kw)


def test_a_failed_gate_makes_a_decided_verdict_inconclusive_and_names_the_gate():
    """Rec2FTP = 1 [1, 1] from a finetuning that never learned must not read as reproduced."""
    decided = Measurement(1.0, 0.9, 1.0)
    gated = claim("greater", threshold=0.5, gates=(_gate(-0.1, 0.05),))
    d = decide(gated, decided, {})
    assert d.verdict == "inconclusive"
    assert d.gate.startswith("finetuning learned: FT − ZS accuracy > 0 failed: ")
    assert "FAIL" in d.gates
    passing = claim("greater", threshold=0.5, gates=(_gate(0.1, 0.3),))
    assert decide(passing, decided, {}) == ("reproduced", "", passing.gates[0].name + ": 0.2 [0.1, 0.3] pass")


def test_gates_are_listed_even_when_the_interval_is_inconclusive():
    d = decide(claim("greater", gates=(_gate(0.1, 0.3),)), Measurement(0.0, -1.0, 1.0), {})
    assert d.verdict == "inconclusive" and d.gate == "" and d.gates.endswith("pass")


def test_an_unmeasurable_gate_fails_and_a_value_gate_judges_the_point():
    nan = float("nan")
    assert not _gate(nan, nan).passes(Measurement(nan, nan, nan))
    count = Gate("ICL is not monotone: seeds with a peak before the end > 2", lambda t: None, threshold=2.5, on="value")
    assert count.passes(Measurement(3.0, nan, nan)) and not count.passes(Measurement(2.0, nan, nan))
    assert Gate("below", lambda t: None, direction="less").passes(Measurement(-1, -2, -0.5))


@pytest.mark.parametrize("n_seeds, expected", [(None, "exploratory"), (1, "exploratory"), (MIN_SEEDS - 1, "exploratory"),
                                               (MIN_SEEDS, "reproduced")])
def test_a_trained_model_claim_on_fewer_than_three_seeds_is_exploratory(n_seeds, expected):
    d = decide(claim("greater", trained=True), Measurement(0.3, 0.2, 0.4, n_seeds=n_seeds), {})
    assert d.verdict == expected
    assert (d.gate.startswith("fewer than 3 training seeds")) == (expected == "exploratory")
    # an inconclusive interval stays inconclusive; a pretrained model's claim has no seed rule
    assert decide(claim("greater", trained=True), Measurement(0, -1, 1, n_seeds=1), {}).verdict == "inconclusive"
    assert decide(claim("greater"), Measurement(0.3, 0.2, 0.4), {}).verdict == "reproduced"


def test_a_value_gate_is_listed_without_a_degenerate_interval():
    """A count gate (20 draws of 20) shows '20', never '20 [20, 20]' as if it were measured."""
    draws = Gate("at least 20 noise draws", lambda t: Measurement(20.0, 20.0, 20.0), threshold=19.5, on="value")
    d = decide(claim("greater", gates=(draws,)), Measurement(0.3, 0.2, 0.4), {})
    assert d.gates == "at least 20 noise draws: 20 pass"


def test_a_degenerate_interval_is_never_shown_or_decided_as_a_measurement():
    """An identity's [x, x] is shown as x alone; a zero-width interval of an effect decides nothing."""
    identity = ledger_rows([claim("identity", compute=lambda t: Measurement(3e-14, 3e-14, 3e-14))], {})[0]
    assert identity["verdict"] == "sanity check" and math.isnan(identity["ci_low"]) and math.isnan(identity["ci_high"])
    flat = ledger_rows([claim("greater", compute=lambda t: Measurement(1.0, 1.0, 1.0, n_examples=25))], {})[0]
    assert flat["verdict"] == "inconclusive" and flat["gate"].startswith("no interval")
    assert math.isnan(flat["ci_low"]) and flat["value"] == 1.0


def test_linreg_beats_gd1_pools_the_first_runs_seed_copies():
    """Named runs main_s1, main_s2 are main's other training seeds: with them the claim's interval is
    over the three seeds (decidable); with main alone it is one training run (exploratory)."""
    import pandas as pd

    from icl_study.studies.linreg_claims import ERRORS_TABLE, linreg_claims

    def errors(values):
        return {ERRORS_TABLE: pd.DataFrame([{"run": run, "metric": "minus_model", "predictor": "gd_1", "k": k,
                                             "value": v if k == 7 else 0.0, "ci_low": v - 0.01, "ci_high": v + 0.01}
                                            for run, v in values.items() for k in (3, 7)])}

    config = {"linreg": {"runs": {"main": {}, "main_s1": {"train": {"seed": 1}}, "main_s2": {"train": {"seed": 2}}},
                         "eval": {"n_tasks": 100}}}
    (claim,) = linreg_claims(config)
    m = claim.compute(errors({"main": 0.30, "main_s1": 0.35, "main_s2": 0.32, "other": -5.0}))
    assert m.n_seeds == 3 and m.value == pytest.approx(0.3233, abs=1e-3) and m.ci_low < m.value < m.ci_high
    (single,) = linreg_claims({"linreg": {"runs": {"main": {}}, "eval": {"n_tasks": 100}}})
    assert single.compute(errors({"main": 0.30})).n_seeds == 1


def test_trained_lsa_is_gd_reads_every_training_seed():
    """With linreg.gd.training_seeds of three, the claim's interval is over the three LSAs' mean
    sensitivity cosines (seeds.csv); with one, over the first LSA's fresh tasks."""
    import pandas as pd

    from icl_study.studies.linreg_claims import linreg_gd_claims

    def claim(seeds):
        config = {"linreg": {"gd": {"training_seeds": seeds}}}
        return next(c for c in linreg_gd_claims(config) if c.claim_id == "linreg.trained_lsa_is_gd")

    tables = {"linreg/gd/predictions.csv": pd.DataFrame({"sensitivity_cosine": [0.99, 0.98, 0.97, 0.99]}),
              "linreg/gd/seeds.csv": pd.DataFrame({"model": ["lsa", "lsa_s1", "lsa_s2"], "n_tasks": 2000,
                                                   "sensitivity_cosine_mean": [0.985, 0.990, 0.980]})}
    three = claim([0, 1, 2])
    assert "linreg/gd/seeds.csv" in three.tables
    m = three.compute(tables)
    assert m.n_seeds == 3 and m.value == pytest.approx(0.985) and m.n_examples == 2000
    one = claim([0]).compute(tables)
    assert one.n_seeds == 1 and one.n_examples == 4


@pytest.mark.parametrize("n_examples, n_demo_sets, expected", [
    (16, 3, "exploratory"), (199, 3, "exploratory"), (200, 1, "exploratory"), (None, None, "exploratory"),
    (200, 3, "reproduced")])
def test_a_real_lm_claim_on_fewer_than_200_examples_or_3_demonstration_sets_is_exploratory(
        n_examples, n_demo_sets, expected):
    """A pretrained LM's claim decided on 16 test examples, or on one demonstration set, is a case,
    not a finding: every decided real-LM row needs >= 200 examples x >= 3 sets."""
    lm_claim = claim("greater", min_examples=LM_MIN_EXAMPLES, min_demo_sets=LM_MIN_DEMO_SETS)
    d = decide(lm_claim, Measurement(0.3, 0.2, 0.4, n_examples=n_examples, n_demo_sets=n_demo_sets), {})
    assert d.verdict == expected
    if expected == "exploratory":
        assert d.gate.startswith("fewer than") and d.gate.endswith("would be reproduced")
    # an interval that straddles stays inconclusive; a claim without the rule is decided on 16 examples
    assert decide(lm_claim, Measurement(0, -1, 1, n_examples=16), {}).verdict == "inconclusive"
    assert decide(claim("greater"), Measurement(0.3, 0.2, 0.4, n_examples=16), {}).verdict == "reproduced"


def test_the_real_lm_claims_of_dai_shen_and_lm_carry_the_power_rule_and_count_demonstration_sets():
    """Every text-LM claim (lm.icl_gain, dai.*, shen.icl_differs_from_gd) asks for 200 examples x 3 sets,
    and its measure reports the demonstration sets it stands on; the in-house pipeline-gpt's do not."""
    import pandas as pd

    from icl_study.settings import full_config
    from icl_study.studies import dai_claims, lm_claims, shen_claims

    config = full_config({"lm": {"models": ["gemma3"], "model_tasks": {"gemma3-270m": ["mr"]}},
                          "dai": {"model_tasks": {"gemma3-270m": ["mr"]}}, "shen": {"model_tasks": {"gemma3-270m": ["mr"]}}})
    claims = lm_claims.claims(config) + dai_claims.claims(config) + shen_claims.claims(config)
    text = [c for c in claims if "gemma3-270m" in c.claim_id]
    assert text and all(c.min_examples == LM_MIN_EXAMPLES and c.min_demo_sets == LM_MIN_DEMO_SETS
                        for c in text if c.direction != "identity")
    assert all(c.min_examples == 0 for c in claims if "pipeline-gpt" in c.claim_id)
    # Dai: 2 demonstration sets x 4 examples, trained and untrained rows, paired on (demo_seed, example)
    rows = [{"model": "gemma3-270m", "task": "mr", "variant": v, "demo_seed": s, "example": e, "simaou": 0.5 + 0.1 * e,
             "simaou_random": 0.1 * e, "zs_correct": 0, "ft_correct": 1, "icl_correct": 1, "ft_heldout_correct": 1}
            for v in ("trained", "untrained") for s in (0, 1) for e in range(4)]
    (simaou,) = [c for c in text if c.claim_id == "dai.simaou.gemma3-270m.mr"]
    m = simaou.compute({dai_claims.EXAMPLES: pd.DataFrame(rows)})
    assert (m.n_examples, m.n_demo_sets) == (4, 2)


def test_dai_paired_differences_over_several_demonstration_sets_are_two_way():
    """Dai's paired rows (example x demonstration set) of a text LM: with a large demonstration-set
    effect, the interval resamples the sets as well as the examples (intervals.examples_by_sets_ci),
    so three sets that disagree cannot pass for a measurement over examples alone; one set per
    example (pipeline-gpt's episodes) stays clustered by example."""
    import pandas as pd

    from icl_study.intervals import examples_by_sets_ci
    from icl_study.settings import full_config
    from icl_study.studies import dai_claims

    rng = np.random.default_rng(0)
    shift = {0: -0.4, 1: 0.1, 2: 0.6}  # the demonstration sets disagree
    rows = [{"model": "gemma3-270m", "task": "mr", "variant": "trained", "demo_seed": s, "example": e,
             "simaou": shift[s] + rng.normal(0, 0.05), "simaou_random": 0.0}
            for s in (0, 1, 2) for e in range(200)]
    frame = pd.DataFrame(rows)
    config = full_config({"dai": {"model_tasks": {"gemma3-270m": ["mr"], "smollm2-135m": []}}})
    (simaou,) = [c for c in dai_claims.claims(config) if c.claim_id == "dai.simaou.gemma3-270m.mr"]
    m = simaou.compute({dai_claims.EXAMPLES: frame})
    table = frame.pivot(index="example", columns="demo_seed", values="simaou").to_numpy()  # (examples, sets)
    expected = examples_by_sets_ci(table, config["dai"]["n_boot"], seed=dai_claims.BOOT_SEED)
    assert (m.value, m.ci_low, m.ci_high) == pytest.approx(expected)
    assert m.ci_low < 0 < m.ci_high and (m.n_examples, m.n_demo_sets) == (200, 3)
