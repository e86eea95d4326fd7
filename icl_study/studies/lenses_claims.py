"""The lenses' claims: does each paper's measure track ICL over training? Measured on
studies/lenses.py's correlations.csv. Torch-free, unlike lenses.py: the ledger rule's inputs are
resolved when Snakemake parses the workflow.
"""

from __future__ import annotations

from icl_study.claims import NO_DATA, Claim, Measurement

# --- claims: does each paper's measure track ICL over training? (correlations.csv) -----------------

CORRELATIONS = "lenses/correlations.csv"


def _rho(family: str, metric_prefix: str):
    """Mean over training seeds of Spearman ρ(metric, ICL) across checkpoints, with its t-interval;
    the last layer's metric where the lens has one per layer."""
    def compute(tables):
        frame = tables[CORRELATIONS]
        frame = frame[(frame["family"] == family) & frame["metric"].str.match(rf"{metric_prefix}(_l\d+)?$")]
        if frame.empty:
            return NO_DATA
        row = frame.iloc[-1]  # layers in order: the last layer
        return Measurement(float(row["spearman_seed_mean"]), float(row["spearman_seed_low"]),
                           float(row["spearman_seed_high"]), n_seeds=int(row["n_seeds"]))
    return compute


def claims(config: dict) -> list:
    """Each paper's mechanism measured across one family's checkpoints: if it explains ICL, it
    should move with ICL (bursty kind: ICL accuracy; regression kind: fresh-task error, lower is
    better). Every configured family gets the claims of its kind."""

    figure = "results/figures/lenses_correlations.png"
    rho = "Spearman ρ across kept checkpoints with {icl}, mean of per-seed ρ with a t-interval over training seeds"
    acc, err = "ICL accuracy (bursty family)", "the fresh-task error (regression family)"
    spec = [
        ("lenses.simaou_tracks_icl", "Dai et al. 2022", "bursty", "simaou",
         "The ICL-finetuning similarity (SimAOU) reflects in-context learning, so it grows as ICL is learned.",
         f"{rho.format(icl=acc)}: SimAOU, last layer", "greater"),
        ("lenses.spd_gd1_tracks_icl", "von Oswald et al. 2023", "regression", "spd_gd1",
         "Trained transformers do in-context regression by gradient descent: they approach one GD step as ICL improves.",
         f"{rho.format(icl=err)}: SPD(model, one-step GD)", "greater"),
        ("lenses.spd_ols_tracks_icl", "Akyürek et al. 2022", "regression", "spd_ols",
         "Trained transformers approach least squares as they learn in-context regression.",
         f"{rho.format(icl=err)}: SPD(model, OLS)", "greater"),
        ("lenses.probe_tracks_icl", "Akyürek et al. 2022", "regression", "r2_w_ols",
         "The least-squares weights become decodable from the hidden states as in-context regression is learned.",
         f"{rho.format(icl=err)}: ridge-probe R² of w_OLS, best layer", "less"),
    ]
    from icl_study.plan import lens_family_kind

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
                             direction=direction, figure=figure, tables=(CORRELATIONS,), compute=_rho(family, metric)))
    return out
