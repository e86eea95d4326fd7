"""Study 3 figures (Ren & Liu's representation-learning lens), from the tables of studies/ren.py."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from icl_study.plots import style
from icl_study.studies.ren_claims import loglog_slope
from icl_study.tables import read_table

QUANTITY_TITLES = {"kernel": "kernel exp(qᵀk/√Dh)", "pattern": "attention pattern (softmax)",
                   "output": "attention output"}


def _mean_band(ax, rows: pd.DataFrame, x: str, y: str, label: str, color, **kwargs) -> pd.Series:
    """Mean of `y` per `x` with a min-max band over the other rows; returns the mean."""
    grouped = rows.groupby(x)[y]
    mean = grouped.mean()
    ax.plot(mean.index, mean.values, marker="o", ms=3, label=label, color=color, **kwargs)
    ax.fill_between(mean.index, grouped.min().values, grouped.max().values, color=color, alpha=0.2, lw=0)
    return mean


def plot_kernel(kernel_csv: str, outputs: list[str]) -> None:
    """Relative error of the random-feature estimate vs m, per quantity, with 1/√m references."""
    style.setup()
    table = read_table(kernel_csv)
    sources = list(dict.fromkeys(table["source"]))
    palette = dict(zip(sources, sns.color_palette("colorblind", len(sources))))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3), sharey=True)
    for ax, quantity in zip(axes, QUANTITY_TITLES):
        for source in sources:
            rows = table[(table["source"] == source) & (table["quantity"] == quantity)]
            label = source
            if quantity == "kernel":  # the ren.kernel claim's statistic: log-log slope, mean over draws
                slopes = [loglog_slope(d["n_features"], d["rel_error"]) for _, d in rows.groupby("draw")]
                label = f"{source} (slope {np.mean(slopes):.2f})"
            mean = _mean_band(ax, rows, "n_features", "rel_error", label, palette[source])
            m0 = mean.index[0]  # Monte-Carlo reference anchored at the smallest m: err(m0) sqrt(m0 / m)
            ax.plot(mean.index, mean.iloc[0] * np.sqrt(m0 / mean.index), ls=":", color=palette[source], lw=1)
        ax.set(xscale="log", yscale="log", title=QUANTITY_TITLES[quantity],
               xlabel="random features m", ylabel="relative Frobenius error")
    axes[0].plot([], [], ls=":", color="grey", label="1/√m reference")
    axes[0].legend(fontsize=8)
    style.save(fig, outputs)


def plot_dual(identity_csv: str, steps_csv: str, outputs: list[str]) -> None:
    """(a) dual model vs attention: exact identity (un-normalised) and softmax error vs m;
    (b) distance of the GD-trained dual model's prediction to the attention output per step."""
    style.setup()
    identity, steps = read_table(identity_csv), read_table(steps_csv)
    sources = list(dict.fromkeys(identity["source"]))
    palette = dict(zip(sources, sns.color_palette("colorblind", len(sources))))
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for source in sources:
        rows = identity[identity["source"] == source]
        _mean_band(ax_a, rows[rows["quantity"] == "softmax_dual"], "n_features", "rel_error", f"{source}: softmax", palette[source])
        exact = rows[rows["quantity"] == "unnormalised_identity"]
        ax_a.scatter(exact["n_features"], exact["rel_error"].clip(lower=1e-17), marker="*", s=80, color=palette[source],
                     label=f"{source}: un-normalised (exact identity)")
    ax_a.set(xscale="log", yscale="log", xlabel="random features m", ylabel="relative error vs attention output",
             title="(a) dual model W φ(q) vs the layer")
    ax_a.legend(fontsize=7)
    styles = dict(zip(dict.fromkeys(steps["setting"]), ["-", "--", "-."]))
    for (source, setting), rows in steps.groupby(["source", "setting"], sort=False):
        ax_b.plot(rows["step"], rows["rel_error"], ls=styles[setting], marker="o", ms=3, color=palette[source],
                  label=f"{source}, {setting}")
    ax_b.axvline(1, color="grey", lw=1, ls=":")
    ax_b.set(yscale="log", xlabel="GD steps on the dual loss (from W₀ = the query's own pair)",
             ylabel="relative distance to the attention output", title="(b) training the dual model longer")
    ax_b.legend(fontsize=7)
    style.save(fig, outputs)


def plot_generalisation(table_csv: str, fit_csv: str, outputs: list[str]) -> None:
    """Held-out error of the dual model vs demonstration tokens N, with the fitted c/√N curves."""
    style.setup()
    table, fits = read_table(table_csv), read_table(fit_csv).set_index(["source", "quantity"])
    sources = list(dict.fromkeys(table["source"]))
    palette = dict(zip(sources, sns.color_palette("colorblind", len(sources))))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, quantity in zip(axes, ["softmax", "unnormalised"]):
        for source in sources:
            rows = table[(table["source"] == source) & (table["quantity"] == quantity)]
            per_draw = rows.groupby(["n_tokens", "repeat"], as_index=False)["rel_error"].mean()  # heads averaged
            mean = _mean_band(ax, per_draw, "n_tokens", "rel_error", source, palette[source])
            fit = fits.loc[(source, quantity)]
            ax.plot(mean.index, fit["c_inverse_sqrt"] / np.sqrt(mean.index), ls="--", color=palette[source],
                    label=f"fit {fit['c_inverse_sqrt']:.2f}/√N (free power: N^-{fit['p_power']:.2f})")
        ax.set(xscale="log", yscale="log", xlabel="demonstration tokens N",
               ylabel="held-out RMS error vs N → ∞ (units of ||v||)", title=f"{quantity} attention's dual model")
        ax.legend(fontsize=8)
    fig.suptitle("Sanity check, not the paper's bound: the N-token dual model's distance to its own N → ∞ limit\n"
                 "(the sampling error of a mean, which the central limit theorem sets to O(1/√N))", fontsize=10)
    fig.subplots_adjust(top=0.82)
    style.save(fig, outputs)


# What each variants table measures: (error column, its axis label, training-curve metric, whether
# the curve metric is an accuracy (plotted as 1 - value), the curve's axis label).
VARIANT_TABLES = {
    "regression": ("normalized_error", "normalized squared error (squared error / d)", "normalized_error_last",
                   False, "held-out error at the last position"),
    "corpus": ("icl_error", "ICL error on fresh-label episodes (fraction wrong)", "icl_fresh", True,
               "ICL error, fresh-label episodes at full context"),
}


def plot_variants(errors_csv: str, curves_csv: str, outputs: list[str], table: str = "regression") -> None:
    """(a) ICL error vs k per attention kind (mean over seeds, band: min-max over seeds);
    (b) training curves (held-out ICL error vs step). `table` names the dataset (VARIANT_TABLES)."""
    style.setup()
    error_col, error_label, curve_metric, curve_is_accuracy, curve_label = VARIANT_TABLES[table]
    errors, curves = read_table(errors_csv), read_table(curves_csv)
    curves = curves[curves["metric"] == curve_metric].copy()
    if curve_is_accuracy:
        curves["value"] = 1.0 - curves["value"]
    kinds = list(dict.fromkeys(errors["kind"]))
    palette = dict(zip(kinds, sns.color_palette("colorblind", len(kinds))))
    n_seeds = errors["seed"].nunique()
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for kind in kinds:
        _mean_band(ax_a, errors[errors["kind"] == kind], "k", error_col, kind, palette[kind])
        _mean_band(ax_b, curves[curves["kind"] == kind], "step", "value", kind, palette[kind])
    ax_a.set(xlabel="in-context examples k", ylabel=error_label,
             title=f"(a) ICL error vs k, {table} ({n_seeds} seeds each)")
    ax_b.set(xlabel="training step", ylabel=curve_label, title="(b) training curves (same budget)")
    ax_a.legend(fontsize=8)
    style.save(fig, outputs)


def kernel_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    plot_kernel(inputs[0], outputs)


def dual_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    plot_dual(inputs[0], inputs[1], outputs)


def generalisation_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    plot_generalisation(inputs[0], inputs[1], outputs)


def variants_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    plot_variants(inputs[0], inputs[1], outputs)


def corpus_variants_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    plot_variants(inputs[0], inputs[1], outputs, table="corpus")


def plot_grid(grid_csv: str, outputs: list[str]) -> None:
    """Each variant's error at the largest k against its own parameter (test tasks: mean over seeds
    with each seed's point; validation: dashed), the validation-picked value starred, and softmax's
    test error as a line with its seed range."""
    from icl_study.studies.ren_claims import last_k, picked_values

    style.setup()
    grid = read_table(grid_csv)
    test, val, picked = last_k(grid, "test"), last_k(grid, "val"), picked_values(grid)
    kinds = [kind for kind in dict.fromkeys(grid["kind"]) if kind != "softmax"]
    softmax = test[test["kind"] == "softmax"]["normalized_error"]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.5 * len(kinds), 4), sharey=True, squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        rows = test[test["kind"] == kind]
        mean = rows.groupby("value")["normalized_error"].mean()
        ax.plot(mean.index, mean.values, marker="o", color="C0", label="test (mean over seeds)")
        ax.scatter(rows["value"], rows["normalized_error"], s=10, color="C0", alpha=0.5, label="test, one seed")
        val_mean = val[val["kind"] == kind].groupby("value")["normalized_error"].mean()
        ax.plot(val_mean.index, val_mean.values, ls="--", color="C2", label="validation (picks the value)")
        ax.scatter([picked[kind]], [mean[picked[kind]]], marker="*", s=200, color="C3", zorder=3, label="picked")
        ax.axhline(softmax.mean(), color="k", lw=1, label="softmax (test)")
        ax.axhspan(softmax.min(), softmax.max(), color="k", alpha=0.1, lw=0)
        parameter = rows["parameter"].iloc[0]
        ax.set(xscale="log" if parameter == "aug_hidden" else "linear", xlabel=f"{parameter}",
               ylabel=f"normalized error at k = {int(test['k'].max())}", title=kind)
    axes[0][0].legend(fontsize=7)
    style.save(fig, outputs)


def grid_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    plot_grid(inputs[0], outputs)
