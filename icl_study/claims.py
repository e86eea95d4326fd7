"""The claims ledger: one row per claim of a paper, its verdict decided by code from an interval.

A study declares its claims next to the code that measures them, as `Claim`s whose `measure`
reads the study's own tables and returns a `Measurement` (value, interval, sample sizes). The
ledger never holds a typed result: `ledger_rows` calls each measure on the tables a run wrote and
`verdict` turns the interval into one of four words:

- `reproduced`: the whole interval lies beyond `threshold` in the paper's direction;
- `contradicted`: the whole interval lies beyond `threshold` the other way (or, for a claim of
  no difference, outside the equivalence margin);
- `inconclusive`: the interval straddles the threshold, or there is no interval (NaN);
- `sanity check`: an identity that cannot fail (matrix algebra, a construction); it is measured
  and shown, never counted as a reproduction.

Torch-free: the ledger rule and the docs renderer import it without paying for torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal

Direction = Literal["greater", "less", "equivalent", "identity"]
VERDICTS = ("reproduced", "contradicted", "inconclusive", "sanity check")
COLUMNS = ("study", "paper", "claim_id", "claim", "measure", "value", "ci_low", "ci_high", "n_examples",
           "n_seeds", "rule", "verdict", "figure")


@dataclass(frozen=True)
class Measurement:
    """What a claim's measure computed from the tables: a value and its 95% interval over the
    independent unit (test examples, clustered, or training seeds), with the unit counts."""

    value: float
    ci_low: float
    ci_high: float
    n_examples: int | None = None
    n_seeds: int | None = None


@dataclass(frozen=True)
class Claim:
    """One sentence of a paper and how this study decides it.

    `direction` says which side of `threshold` the paper predicts: "greater" / "less" for a
    difference or an effect, "equivalent" for "no difference" (the interval must lie inside
    ±`margin` around `threshold`), "identity" for a sanity check.
    """

    study: str
    paper: str
    claim_id: str
    claim: str
    measure: str
    direction: Direction
    figure: str
    compute: Callable[[dict], Measurement]
    threshold: float = 0.0
    margin: float = 0.0
    # The tables `compute` reads, as paths relative to the results folder (e.g. "dai/summary.csv");
    # the ledger rule takes their union as its inputs, and `compute` gets {path: DataFrame}.
    tables: tuple[str, ...] = ()

    def rule(self) -> str:
        """The decision rule in words, as the ledger prints it."""
        t = f"{self.threshold:g}"
        if self.direction == "greater":
            return f"95% interval above {t}: reproduced; below {t}: contradicted; else inconclusive"
        if self.direction == "less":
            return f"95% interval below {t}: reproduced; above {t}: contradicted; else inconclusive"
        if self.direction == "equivalent":
            lo, hi = self.threshold - self.margin, self.threshold + self.margin
            return (f"95% interval inside [{lo:g}, {hi:g}]: reproduced; wholly outside it: contradicted; "
                    "else inconclusive")
        return "identity that holds by construction: a sanity check, not a reproduction"


NO_DATA = Measurement(float("nan"), float("nan"), float("nan"))


def over_seeds(values, **counts) -> Measurement:
    """The mean over training seeds with its Student-t 95% interval (intervals.seed_interval), and
    n_seeds; NO_DATA when there are no values. scipy is imported here, when measuring, so that
    parsing the workflow (which imports the claims) does not pay for it."""
    from icl_study.intervals import seed_interval

    if len(values) == 0:
        return NO_DATA
    return Measurement(*seed_interval(values), n_seeds=len(values), **counts)


def interval_difference(a: tuple[float, float, float], b: tuple[float, float, float], **counts) -> Measurement:
    """a − b from two separate (mean, low, high) 95% intervals, when the tables carry no paired one.

    The interval [low_a − high_b, high_a − low_b] is conservative: it excludes 0 only where the two
    intervals do not overlap, so a verdict drawn from it errs towards "inconclusive"."""
    return Measurement(a[0] - b[0], a[1] - b[2], a[2] - b[1], **counts)


def verdict(claim: Claim, m: Measurement) -> str:
    """The claim's verdict from its measured interval (see the module docstring)."""
    if claim.direction == "identity":
        return "sanity check"
    lo, hi = m.ci_low, m.ci_high
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        return "inconclusive"
    t = claim.threshold
    if claim.direction == "greater":
        return "reproduced" if lo > t else "contradicted" if hi < t else "inconclusive"
    if claim.direction == "less":
        return "reproduced" if hi < t else "contradicted" if lo > t else "inconclusive"
    if claim.direction == "equivalent":
        inside = t - claim.margin <= lo and hi <= t + claim.margin
        outside = hi < t - claim.margin or lo > t + claim.margin
        return "reproduced" if inside else "contradicted" if outside else "inconclusive"
    raise ValueError(f"{claim.claim_id}: unknown direction {claim.direction!r}")


def ledger_rows(claims: list[Claim], tables: dict) -> list[dict]:
    """One ledger row per claim, every number computed from `tables` by the claim's measure."""
    rows = []
    for claim in claims:
        m = claim.compute(tables)
        rows.append({"study": claim.study, "paper": claim.paper, "claim_id": claim.claim_id,
                     "claim": claim.claim, "measure": claim.measure, "value": m.value, "ci_low": m.ci_low,
                     "ci_high": m.ci_high, "n_examples": m.n_examples, "n_seeds": m.n_seeds,
                     "rule": claim.rule(), "verdict": verdict(claim, m), "figure": claim.figure})
    return rows
