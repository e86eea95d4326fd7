"""Study 3's claims (Ren & Liu 2024), measured on studies/ren.py's lens and variant tables.
Torch-free, unlike ren.py: the ledger rule's inputs are resolved when Snakemake parses the workflow.
"""

from __future__ import annotations

from icl_study.claims import NO_DATA, Claim, Measurement, interval_difference, over_seeds

# --- claims (Ren & Liu 2024), measured on the lens and variant tables ------------------------------

REN = "Ren & Liu 2024"
KERNEL, IDENTITY, FIT = "ren/lens/kernel.csv", "ren/lens/dual_identity.csv", "ren/lens/generalisation_fit.csv"
VARIANTS, CORPUS = "ren/variants/errors.csv", "ren/corpus_variants/errors.csv"
GRID = "ren/variants/grid.csv"
VARIANT_KINDS = ("regularized", "augmented", "negative")


def _kernel_fall(tables):
    """Trained layers' kernel relative error at the smallest minus the largest m (> 0: it falls),
    each a t-interval over feature draws (pooled over layers); conservative difference."""
    from icl_study.intervals import seed_interval

    frame = tables[KERNEL]
    frame = frame[frame["source"].str.startswith("trained") & (frame["quantity"] == "kernel") & (frame["n_features"] > 0)]
    if frame["n_features"].nunique() < 2:
        return NO_DATA
    small, large = (frame[frame["n_features"] == m]["rel_error"].to_numpy(float)
                    for m in (frame["n_features"].min(), frame["n_features"].max()))
    return interval_difference(seed_interval(small), seed_interval(large))


def _identity(tables):
    frame = tables[IDENTITY]
    worst = float(frame[frame["quantity"] == "unnormalised_identity"]["rel_error"].max())
    return Measurement(worst, worst, worst)


def _free_exponent(tables):
    """The fitted exponent p of error ∝ N^-p, softmax dual model, first trained layer (no interval)."""

    frame = tables[FIT]
    row = frame[frame["source"].str.startswith("trained") & (frame["quantity"] == "softmax")]
    if row.empty:
        return NO_DATA
    p = float(row["p_power"].iloc[0])
    return Measurement(p, p, p)


def _variant_minus_softmax(path: str, column: str, kind: str):
    """Variant minus softmax error at the largest k, paired by training seed; t-interval over seeds."""
    def compute(tables):
        frame = tables[path]
        frame = frame[frame["k"] == frame["k"].max()].pivot_table(index="seed", columns="kind", values=column)
        if not {kind, "softmax"} <= set(frame.columns):
            return NO_DATA
        diff = (frame[kind] - frame["softmax"]).dropna().to_numpy()
        return over_seeds(diff)
    return compute


def last_k(grid, split: str):
    """The grid table's rows of one split at the largest k."""
    rows = grid[grid["split"] == split]
    return rows[rows["k"] == rows["k"].max()]


def picked_values(grid) -> dict[str, float]:
    """{kind: the grid value with the lowest validation error at the largest k, mean over seeds}."""
    val = last_k(grid, "val")
    means = val[val["kind"] != "softmax"].groupby(["kind", "value"])["normalized_error"].mean()
    return {kind: float(means[kind].idxmin()) for kind in means.index.get_level_values("kind").unique()}


def _tuned_minus_softmax(kind: str):
    """Test error at the largest k of the kind at its validation-picked value minus softmax's,
    paired by training seed; t-interval over seeds."""
    def compute(tables):
        grid = tables[GRID]
        picked = picked_values(grid)
        if kind not in picked:
            return NO_DATA
        test = last_k(grid, "test")
        tuned = test[(test["kind"] == kind) & (test["value"] == picked[kind])].set_index("seed")["normalized_error"]
        softmax = test[test["kind"] == "softmax"].set_index("seed")["normalized_error"]
        return over_seeds((tuned - softmax).dropna().to_numpy())
    return compute


def _softmax_learned(tables):
    """1 minus softmax's test error at the largest k (the zero predictor's error is 1); t-interval
    over seeds: above 0, the baseline has left its loss plateau at this budget."""
    test = last_k(tables[GRID], "test")
    return over_seeds(1.0 - test[test["kind"] == "softmax"]["normalized_error"].to_numpy())


def grid_claims(config: dict) -> list:
    """With ren.grid configured: the baseline has learned, and each variant at its tuned value
    against softmax (the comparison the untuned variants cannot settle)."""
    kinds = [kind for kind in VARIANT_KINDS if config["ren"]["grid"]["values"].get(kind)]
    if not kinds:
        return []
    figure = "results/figures/ren_variants_grid.png"
    out = [Claim(study="ren", paper=f"{REN} (control)", claim_id="ren.grid.softmax_learned",
                 claim="At this budget the softmax baseline has left its loss plateau (a control for the variants).",
                 measure="1 - normalized error of softmax attention at the largest k on the test tasks (the zero "
                         "predictor scores 1; above 0.5: it predicts better than half way from the zero predictor to perfect); t-interval over training seeds",
                 direction="greater", threshold=0.5, figure=figure, tables=(GRID,), compute=_softmax_learned)]
    for kind in kinds:
        out.append(Claim(
            study="ren", paper=REN, claim_id=f"ren.tuned_variant.{kind}",
            claim="Attention modified as contrastive learning suggests improves in-context learning.",
            measure=f"normalized regression error at the largest k, {kind} at the grid value picked on validation "
                    "tasks minus softmax attention, on test tasks, paired by training seed; t-interval over seeds",
            direction="less", figure=figure, tables=(GRID,), compute=_tuned_minus_softmax(kind)))
    return out


def claims(config: dict) -> list:
    """Ren & Liu: softmax attention as a kernel approximated by random features; ICL as one GD step
    of a dual model (an identity of the construction); its generalisation error (a CLT rate here, a
    sanity check); contrastive attention variants that improve ICL (on regression and on tokens)."""

    out = [
        Claim(study="ren", paper=REN, claim_id="ren.kernel",
              claim="Softmax attention is a kernel that positive random features approximate, better with more features.",
              measure="relative error of the random-feature estimate of exp(qᵀk/√Dh) on the trained layers, at the "
                      "smallest minus the largest number of features m; t-intervals over feature draws (conservative)",
              direction="greater", figure="results/figures/ren_kernel.png", tables=(KERNEL,), compute=_kernel_fall),
        Claim(study="ren", paper=REN, claim_id="ren.dual_identity",
              claim="Kernel attention equals a dual model trained by one gradient step on the demonstrations.",
              measure="largest relative error between the dual model's prediction and un-normalised kernel attention",
              direction="identity", figure="results/figures/ren_dual.png", tables=(IDENTITY,), compute=_identity),
        Claim(study="ren", paper=REN, claim_id="ren.generalisation",
              claim="The dual model's generalisation error is bounded at O(1/√N) in the number of demonstrations.",
              measure="fitted exponent p of the dual model's distance to its N → ∞ limit ∝ N^-p (softmax, first trained "
                      "layer): the sampling error of a mean, O(1/√N) by the central limit theorem, not the paper's bound",
              direction="identity", figure="results/figures/ren_generalisation.png", tables=(FIT,),
              compute=_free_exponent),
    ]
    # (claim id prefix, table, error column, what the error is, figure): regression, then tokens
    settings = [("ren.variant", VARIANTS, "normalized_error", "normalized regression error at the largest k",
                 "ren_variants"),
                ("ren.corpus_variant", CORPUS, "icl_error", "ICL error on fresh-label episodes at the largest k "
                 "(token corpus)", "ren_variants_corpus")]
    for prefix, table, column, error, figure in settings:
        out += [Claim(study="ren", paper=REN, claim_id=f"{prefix}.{kind}",
                      claim="Attention modified as contrastive learning suggests improves in-context learning.",
                      measure=f"{error}, {kind} minus softmax attention, paired by training seed; t-interval over seeds",
                      direction="less", figure=f"results/figures/{figure}.png", tables=(table,),
                      compute=_variant_minus_softmax(table, column, kind))
                for kind in VARIANT_KINDS]
    return out + grid_claims(config)
