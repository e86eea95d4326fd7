"""The claims ledger decides every verdict from the interval, on hand-made tables (each branch)."""

import math

import pandas as pd
import pytest

from icl_study.claims import COLUMNS, Claim, Measurement, ledger_rows, verdict


def claim(direction, threshold=0.0, margin=0.0, compute=None):
    return Claim(study="s", paper="P", claim_id=f"c_{direction}", claim="a sentence", measure="m",
                 direction=direction, figure="f.png", compute=compute or (lambda t: None),
                 threshold=threshold, margin=margin)


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
