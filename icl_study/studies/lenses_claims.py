"""The lenses' claims: does each paper's measure track ICL over training? Measured on
studies/lenses.py's correlations.csv. Torch-free, unlike lenses.py: the ledger rule's inputs are
resolved when Snakemake parses the workflow.

Statistic: the partial Spearman ρ of the lens metric and the family's ICL metric given log(step),
per training seed over its checkpoints, combined over seeds in Fisher z (interval: Fisher z with
one control). Gate: ICL is not monotone in training step (a majority of seeds' ICL falls after its
best checkpoint beyond the 95% intervals); with ICL moving one way, anything that drifts with
training time correlates with it, and no verdict is drawn. docs/definitions.md, "Lenses".
"""

from __future__ import annotations

import re

from icl_study.claims import NO_DATA, Claim, Gate, Measurement
from icl_study.jobs import figure_png
from icl_study.studies.lenses_plan import LENSES_CORRELATIONS_FIGURE

# --- claims: does each paper's measure track ICL over training? (correlations.csv) -----------------

CORRELATIONS = "lenses/correlations.csv"
# The gate passes when more than this share of seeds has an ICL curve that falls after its best checkpoint.
MIN_FALL_SHARE = 0.5


def last_layer(metrics, metric_prefix: str) -> str | None:
    """The metric of the highest layer index among `{prefix}` and `{prefix}_l{i}` (by the number,
    not the string: `_l11` after `_l9`); None when there is none."""
    pattern = re.compile(rf"{re.escape(metric_prefix)}(?:_l(\d+))?$")
    found = {m: int(match.group(1) or -1) for m in metrics if (match := pattern.match(m))}
    return max(found, key=found.get) if found else None


def _row(frame, family: str, metric_prefix: str):
    """The family's correlations row of the metric (its last layer), or None."""
    frame = frame[frame["family"] == family]
    metric = last_layer(frame["metric"].unique(), metric_prefix)
    return None if metric is None else frame[frame["metric"] == metric].iloc[0]


def _partial_rho(family: str, metric_prefix: str):
    """Partial Spearman ρ(metric, ICL | log step), per seed combined in Fisher z, with its interval;
    n_seeds: the seeds that entered it. The last layer's metric where the lens has one per layer."""
    def compute(tables):
        row = _row(tables[CORRELATIONS], family, metric_prefix)
        if row is None:
            return NO_DATA
        return Measurement(float(row["partial_spearman"]), float(row["partial_low"]), float(row["partial_high"]),
                           n_seeds=int(row["partial_n_seeds"]))
    return compute


def _icl_fall_share(family: str):
    """Share of the family's seeds whose ICL falls after its best checkpoint (a point value: a
    count of seeds has no sampling interval); n_seeds: the seeds with an ICL curve."""
    def compute(tables):
        frame = tables[CORRELATIONS]
        frame = frame[frame["family"] == family]
        if frame.empty:
            return NO_DATA
        row = frame.iloc[0]  # family-level columns, the same on every row
        return Measurement(float(row["icl_fall_share"]), float("nan"), float("nan"), n_seeds=int(row["icl_seeds"]))
    return compute


def icl_not_monotone(family: str) -> Gate:
    return Gate(f"ICL not monotone in step: share of seeds whose ICL falls after its best checkpoint "
                f"beyond both 95% intervals > {MIN_FALL_SHARE:g}", _icl_fall_share(family),
                threshold=MIN_FALL_SHARE, on="value")


def claims(config: dict) -> list:
    """Each paper's mechanism measured across one family's checkpoints: if it explains ICL, it
    should move with ICL beyond their common drift with training time (bursty kind: ICL accuracy;
    regression kind: fresh-task error, lower is better). Every configured family gets the claims
    of its kind."""

    figure = figure_png(LENSES_CORRELATIONS_FIGURE)
    rho = ("partial Spearman ρ with {icl} given log(step), across each seed's kept checkpoints, combined over "
           "training seeds in Fisher z (95% Fisher-z interval, one control)")
    acc, err = "ICL accuracy (bursty family)", "the fresh-task error (regression family)"
    spec = [
        ("lenses.simaou_tracks_icl", "Dai et al. 2022", "bursty", "simaou",
         "The ICL-finetuning similarity (SimAOU) reflects in-context learning, so it grows as ICL is learned.",
         f"{rho.format(icl=acc)}: SimAOU, last layer", "greater"),
        ("lenses.spd_gd1_tracks_icl", "von Oswald et al. 2023", "regression", "spd_gd1",
         "Trained transformers do in-context regression by gradient descent: they approach one GD step as ICL improves.",
         f"{rho.format(icl=err)}: SPD(model, one-step GD)", "greater"),
        ("lenses.spd_ols_tracks_icl", "Akyürek et al. 2022", "regression", "spd_ols_minus_ridge",
         "Trained transformers approach least squares as they learn in-context regression.",
         f"{rho.format(icl=err)}: SPD(model, OLS) − SPD(model, ridge λ = σ²/τ²), lower = closer to OLS "
         "than to the Bayes rule (SPD to OLS alone is near a function of the error)", "greater"),
        ("lenses.probe_tracks_icl", "Akyürek et al. 2022", "regression", "r2_w_ols_given_xty",
         "The least-squares weights become decodable from the hidden states as in-context regression is learned.",
         f"{rho.format(icl=err)}: partial R² of the ridge probe for w_OLS given Xᵀy, best layer", "less"),
    ]
    from icl_study.studies.lenses_plan import lens_family_kind

    out = []
    for family, section in config["lenses"]["families"].items():
        kind = lens_family_kind(family, section)
        for claim_id, paper, spec_kind, metric, claim, measure, direction in spec:
            if spec_kind != kind:
                continue
            if family != kind:  # a further family of that kind: its own claim id and measure text
                claim_id = claim_id.replace("lenses.", f"lenses.{family}.", 1)
                measure = measure.replace(f"({kind} family)", f"({family} family)")
            out.append(Claim(study="lenses", paper=paper, claim_id=claim_id, claim=claim, measure=measure,
                             direction=direction, figure=figure, tables=(CORRELATIONS,),
                             compute=_partial_rho(family, metric), gates=(icl_not_monotone(family),)))
    return out
