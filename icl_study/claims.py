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
  and shown, never counted as a reproduction;
- `exploratory`: the interval would decide, but the claim is about a model this study trained and
  rests on fewer than 3 training seeds (`MIN_SEEDS`): one training run is a case, not a finding;
  or it is about a pretrained language model and rests on fewer than 200 test examples
  (`LM_MIN_EXAMPLES`) or 3 demonstration sets (`LM_MIN_DEMO_SETS`): a real LM's independent units.

A verdict other than `inconclusive` also needs the claim's **gates** to pass. A `Gate` is itself a
measured interval with a rule, for the precondition that makes the claim's interval mean what
the claim says: the finetuning that must have learned, the competitor that must have appeared, the
control that must not match as well. A failed gate (or one that cannot be measured) turns a
decided verdict into `inconclusive`, and the ledger's `gate` column names it with its value;
`gates` lists every gate, its value, interval and pass/fail.

Torch-free: the ledger rule and the docs renderer import it without paying for torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal, NamedTuple

Direction = Literal["greater", "less", "equivalent", "identity"]
VERDICTS = ("reproduced", "contradicted", "inconclusive", "exploratory", "sanity check")
COLUMNS = ("study", "paper", "claim_id", "claim", "measure", "value", "ci_low", "ci_high", "n_examples",
           "n_seeds", "rule", "verdict", "gate", "gates", "figure")
# Fewer training seeds than this makes a decided claim about a trained model `exploratory`.
MIN_SEEDS = 3
# A pretrained LM's claim (Claim.min_examples / min_demo_sets) needs this many unique test examples
# and demonstration sets: on 16 examples or one set, a few prompts' quirks decide the interval.
LM_MIN_EXAMPLES, LM_MIN_DEMO_SETS = 200, 3
LM_POWER = {"min_examples": LM_MIN_EXAMPLES, "min_demo_sets": LM_MIN_DEMO_SETS}  # a pretrained LM's Claim keywords


@dataclass(frozen=True)
class Measurement:
    """What a claim's measure computed from the tables: a value and its 95% interval over the
    independent unit (test examples, clustered, or training seeds), with the unit counts."""

    value: float
    ci_low: float
    ci_high: float
    n_examples: int | None = None
    n_seeds: int | None = None
    n_demo_sets: int | None = None  # demonstration sets per test example (pretrained LMs)


@dataclass(frozen=True)
class Gate:
    """A precondition of a claim, measured: `name` states it in one line with its rule ("finetuning
    learned: FT − ZS accuracy > 0"), `compute` reads the claim's tables and returns its
    Measurement. It passes when the whole 95% interval lies beyond `threshold` in `direction`; with
    `on="value"` the point value alone is judged, for exact quantities that have no sampling
    interval (a count of seeds, a step index). A gate that cannot be measured (NaN) fails."""

    name: str
    compute: Callable[[dict], Measurement]
    direction: Literal["greater", "less"] = "greater"
    threshold: float = 0.0
    on: Literal["interval", "value"] = "interval"

    def passes(self, m: Measurement) -> bool:
        lo, hi = (m.value, m.value) if self.on == "value" else (m.ci_low, m.ci_high)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return False
        return lo > self.threshold if self.direction == "greater" else hi < self.threshold


def describe(m: Measurement, value_only: bool = False) -> str:
    """'value [low, high]' (or 'value', or 'n/a'), three significant digits; `value_only` for an
    exact quantity (a count), whose interval would be degenerate."""
    if not math.isfinite(m.value):
        return "n/a"
    if not value_only and math.isfinite(m.ci_low) and math.isfinite(m.ci_high):
        return f"{m.value:.3g} [{m.ci_low:.3g}, {m.ci_high:.3g}]"
    return f"{m.value:.3g}"


@dataclass(frozen=True)
class Claim:
    """One sentence of a paper and how this study decides it.

    `direction` says which side of `threshold` the paper predicts: "greater" / "less" for a
    difference or an effect, "equivalent" for "no difference" (the interval must lie inside
    ±`margin` around `threshold`), "identity" for a sanity check. `gates` are the preconditions
    a decided verdict needs (see the module docstring). `trained` says the claim is about models
    this study trained, so its measure must report `n_seeds` and fewer than `MIN_SEEDS` makes it
    exploratory; a claim about a pretrained model or a construction sets it False. `min_examples`
    and `min_demo_sets` (a pretrained LM's claims: LM_MIN_EXAMPLES, LM_MIN_DEMO_SETS) make a decided
    verdict on fewer test examples or demonstration sets exploratory.
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
    gates: tuple[Gate, ...] = ()
    trained: bool = True
    min_examples: int = 0
    min_demo_sets: int = 0

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


def verdict(claim: Claim, m: Measurement) -> str:
    """The claim's verdict from its measured interval alone, before gates and seed counts (see
    `decide`)."""
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


def degenerate(m: Measurement) -> bool:
    """A zero-width interval: shown as the value alone, never as a measured [x, x]."""
    return math.isfinite(m.ci_low) and m.ci_low == m.ci_high


class Decision(NamedTuple):
    """A claim's verdict after its gates and seed count: `gate` names what stopped a decided
    verdict (empty when nothing did), `gates` lists every gate as 'name: value [low, high] pass'."""

    verdict: str
    gate: str
    gates: str


def decide(claim: Claim, m: Measurement, tables: dict) -> Decision:
    """The interval's verdict, then the gates (a failed one makes it inconclusive, naming the
    gate), then the seed count (a trained-model claim on fewer than MIN_SEEDS seeds is exploratory),
    then a pretrained LM's test examples and demonstration sets (fewer than the claim asks: exploratory).
    Every gate is measured and listed, whatever the interval says."""
    if claim.direction != "identity" and degenerate(m):
        # zero width: every resample gave one value (a single seed's t, all-equal draws); not evidence
        return Decision("inconclusive", "no interval: the measurement has no spread (degenerate)", "")
    results = [(gate, gate.compute(tables)) for gate in claim.gates]
    listed = "; ".join(f"{g.name}: {describe(gm, g.on == 'value')} {'pass' if g.passes(gm) else 'FAIL'}"
                       for g, gm in results)
    raw = verdict(claim, m)
    if raw not in ("reproduced", "contradicted"):
        return Decision(raw, "", listed)
    failed = [(g, gm) for g, gm in results if not g.passes(gm)]
    if failed:
        g, gm = failed[0]
        return Decision("inconclusive", f"{g.name} failed: {describe(gm, g.on == 'value')}", listed)
    if claim.trained and (m.n_seeds is None or m.n_seeds < MIN_SEEDS):
        seeds = "unknown" if m.n_seeds is None else m.n_seeds
        return Decision("exploratory", f"fewer than {MIN_SEEDS} training seeds ({seeds}); would be {raw}", listed)
    for needed, count, unit in ((claim.min_examples, m.n_examples, "test examples"),
                                (claim.min_demo_sets, m.n_demo_sets, "demonstration sets")):
        if needed and (count is None or count < needed):
            found = "unknown" if count is None else count
            return Decision("exploratory", f"fewer than {needed} {unit} ({found}); would be {raw}", listed)
    return Decision(raw, "", listed)


def ledger_rows(claims: list[Claim], tables: dict) -> list[dict]:
    """One ledger row per claim, every number computed from `tables` by the claim's measure and
    gates."""
    rows = []
    for claim in claims:
        m = claim.compute(tables)
        d = decide(claim, m, tables)
        if degenerate(m):  # an identity's worst case, or no spread: the value alone
            m = Measurement(m.value, float("nan"), float("nan"), m.n_examples, m.n_seeds, m.n_demo_sets)
        rows.append({"study": claim.study, "paper": claim.paper, "claim_id": claim.claim_id,
                     "claim": claim.claim, "measure": claim.measure, "value": m.value, "ci_low": m.ci_low,
                     "ci_high": m.ci_high, "n_examples": m.n_examples, "n_seeds": m.n_seeds,
                     "rule": claim.rule(), "verdict": d.verdict, "gate": d.gate, "gates": d.gates,
                     "figure": claim.figure})
    return rows
