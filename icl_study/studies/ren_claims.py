"""Study 3's claims (Ren & Liu 2024), measured on studies/ren.py's lens and variant tables.
Torch-free, unlike ren.py: the ledger rule's inputs are resolved when Snakemake parses the workflow.
"""

from __future__ import annotations

from dataclasses import replace

from icl_study.claims import NO_DATA, Claim, Gate, Measurement, over_seeds
from icl_study.jobs import figure_png
from icl_study.studies.ren_plan import (REN_KERNEL_FIGURE, REN_DUAL_FIGURE, REN_GENERALISATION_FIGURE,
                                        REN_VARIANTS_FIGURE, REN_VARIANTS_CORPUS_FIGURE,
                                        REN_VARIANTS_GRID_FIGURE)

# --- claims (Ren & Liu 2024), measured on the lens and variant tables ------------------------------

REN = "Ren & Liu 2024"
KERNEL, IDENTITY, GENERALISATION = "ren/lens/kernel.csv", "ren/lens/dual_identity.csv", "ren/lens/generalisation.csv"
VARIANTS, CORPUS = "ren/variants/errors.csv", "ren/corpus_variants/errors.csv"
GRID = "ren/variants/grid.csv"
VARIANT_KINDS = ("regularized", "augmented", "negative")


# The lens reads one trained model (PLAN.ren_lens_run, the softmax variant's first seed): its
# claims about trained layers stand on one training seed, so a decided verdict is exploratory.
LENS_SEEDS = 1
MONTE_CARLO = -0.5  # log-log slope of a Monte-Carlo (CLT) error: error ∝ m^-1/2 or N^-1/2


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y on log x (NaN with fewer than two distinct x)."""
    import numpy as np

    x, y = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    if len(np.unique(x)) < 2:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


def kernel_slopes(tables, sources: str) -> list[float]:
    """One log-log slope of the kernel's relative error vs m per feature draw: per draw index, the
    slope of each source (layer) over m, averaged over the sources whose name starts with
    `sources`. The draw index is the independent unit: draw d at each m is a fresh set of features,
    shared by every layer (the same generator), so the layers of one draw are not independent."""
    frame = tables[KERNEL]
    frame = frame[frame["source"].str.startswith(sources) & (frame["quantity"] == "kernel") & (frame["n_features"] > 0)]
    slopes = []
    for _, draw in frame.groupby("draw"):
        per_layer = [loglog_slope(rows["n_features"], rows["rel_error"]) for _, rows in draw.groupby("source")]
        slopes.append(sum(per_layer) / len(per_layer))
    return [s for s in slopes if s == s]  # NaN (one m only) dropped


def _kernel_slope(sources: str, n_seeds: int | None = None):
    """Mean over feature draws of the per-draw slope (mean over layers); t-interval over draws,
    reported with the training seeds the sources stand on (`n_seeds`) where given."""
    def compute(tables):
        m = over_seeds(kernel_slopes(tables, sources))  # its n_seeds: the number of draws
        return m if n_seeds is None else replace(m, n_seeds=n_seeds)
    return compute


def _identity(tables):
    # An identity: its value only; a [x, x] interval would pose as a measurement.
    frame = tables[IDENTITY]
    worst = float(frame[frame["quantity"] == "unnormalised_identity"]["rel_error"].max())
    return Measurement(worst, float("nan"), float("nan"))


def generalisation_slope(table, source: str = "trained", n_boot: int = 2000,
                         seed: int = 0) -> tuple[float, float, float, int]:
    """Log-log slope of the softmax dual model's mean error vs N (of the source whose name starts
    with `source`: the first trained layer, or the random-token control), with a stratified
    percentile bootstrap: within each (head, N) the demonstration draws (repeats), the independent
    unit given the token pool, are resampled with replacement, then the means per N are refitted.
    Returns (slope, low, high, draws per N); NaNs without two N."""
    import numpy as np

    rows = table[table["source"].str.startswith(source) & (table["quantity"] == "softmax")]
    if rows["n_tokens"].nunique() < 2:
        return float("nan"), float("nan"), float("nan"), 0
    ns = np.sort(rows["n_tokens"].unique())
    strata = [[g["rel_error"].to_numpy(float) for _, g in rows[rows["n_tokens"] == n].groupby("head")] for n in ns]
    slope = loglog_slope(ns, [np.concatenate(cell).mean() for cell in strata])
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    for b in range(n_boot):
        means = [np.concatenate([v[rng.integers(0, len(v), len(v))] for v in cell]).mean() for cell in strata]
        boot[b] = loglog_slope(ns, means)
    low, high = np.percentile(boot, [2.5, 97.5])
    return slope, float(low), float(high), int(min(sum(len(v) for v in cell) for cell in strata))


def _generalisation(source: str):
    def compute(tables):
        slope, low, high, draws = generalisation_slope(tables[GENERALISATION], source)
        return Measurement(slope, low, high, n_examples=draws, n_seeds=LENS_SEEDS)
    return compute


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
    figure = figure_png(REN_VARIANTS_GRID_FIGURE)
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
    """Ren & Liu: softmax attention as a kernel approximated by random features (at the Monte-Carlo
    rate, gated on the random-token control reaching it); ICL as one GD step of a dual model (an
    identity of the construction); its generalisation error's rate in N; contrastive attention
    variants that improve ICL (on regression and on tokens)."""

    out = [
        Claim(study="ren", paper=REN, claim_id="ren.kernel",
              claim="Softmax attention is a kernel that positive random features approximate, better with more features.",
              measure="log-log slope of the relative error of the random-feature estimate of exp(qᵀk/√Dh) vs the number "
                      "of features m, per trained layer, averaged over layers; mean and t-interval over feature draws. "
                      "The Monte-Carlo rate is −0.5",
              direction="equivalent", threshold=MONTE_CARLO, margin=0.1, figure=figure_png(REN_KERNEL_FIGURE),
              tables=(KERNEL,), compute=_kernel_slope("trained", LENS_SEEDS),
              gates=(Gate("the estimator reaches the Monte-Carlo rate on the random-token control: slope < −0.4, "
                          "t over feature draws", _kernel_slope("random", None), direction="less", threshold=-0.4),)),
        Claim(study="ren", paper=REN, claim_id="ren.dual_identity",
              claim="Kernel attention equals a dual model trained by one gradient step on the demonstrations.",
              measure="largest relative error between the dual model's prediction and un-normalised kernel attention",
              direction="identity", figure=figure_png(REN_DUAL_FIGURE), tables=(IDENTITY,), compute=_identity,
              trained=False),
        Claim(study="ren", paper=REN, claim_id="ren.generalisation",
              claim="The dual model's generalisation error is bounded at O(1/√N) in the number of demonstrations.",
              measure="log-log slope of the softmax dual model's distance to its N → ∞ limit on held-out tokens vs N "
                      "(first trained layer; the estimation error the bound controls, not the bound itself); "
                      "bootstrap over the demonstration draws per (head, N). O(1/√N) needs a slope ≤ −0.5",
              direction="less", threshold=MONTE_CARLO, figure=figure_png(REN_GENERALISATION_FIGURE),
              tables=(GENERALISATION,), compute=_generalisation("trained"),
              gates=(Gate("the measurement reaches the CLT rate on the random-token control: slope < −0.4, "
                          "bootstrap over draws", _generalisation("random"), direction="less", threshold=-0.4),)),
    ]
    # (claim id prefix, table, error column, what the error is, figure): regression, then tokens
    settings = [("ren.variant", VARIANTS, "normalized_error", "normalized regression error at the largest k",
                 REN_VARIANTS_FIGURE),
                ("ren.corpus_variant", CORPUS, "icl_error", "ICL error on fresh-label episodes at the largest k "
                 "(token corpus)", REN_VARIANTS_CORPUS_FIGURE)]
    for prefix, table, column, error, figure in settings:
        out += [Claim(study="ren", paper=REN, claim_id=f"{prefix}.{kind}",
                      claim="Attention modified as contrastive learning suggests improves in-context learning.",
                      measure=f"{error}, {kind} minus softmax attention, paired by training seed; t-interval over seeds",
                      direction="less", figure=figure_png(figure), tables=(table,),
                      compute=_variant_minus_softmax(table, column, kind))
                for kind in VARIANT_KINDS]
    return out + grid_claims(config)
