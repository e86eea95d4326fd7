"""Study 1 figures (which learning algorithm?), drawn from tidy tables only (no torch).

- `plot_matching`: SPD, ILWD and implicit-weight fit R² vs k, one column per trained model;
- `plot_depth_noise`: heatmaps over depth x noise of the best-matching predictor and the SPD gap;
- `plot_probes`: probe R² vs layer for Xᵀy and w_OLS, with untrained and shuffled controls;
- `plot_gd`: the trained 1-layer LSA against the hand-built GD layer.
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from icl_study.plots import style
from icl_study.tables import read_table

METRIC_AXES = {"spd": "SPD(model, predictor)\n(squared difference, log scale)",
               "ilwd": "ILWD(model, predictor)\n(mean_j (ŵ_model − ŵ)_j², log scale)",
               "fit_r2": "R² of the implicit-weight fit\n(1 = linear in the query)"}


def _palette(labels: list[str]) -> dict:
    palette = dict(zip(labels, sns.color_palette("colorblind", len(labels))))
    palette["transformer"] = (0.0, 0.0, 0.0)
    return palette


def _pool_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of runs "<cell>" and "<cell>_s{seed}" pooled per cell: value = mean over seeds, band = a
    t-interval over seeds (a single seed keeps its bootstrap band over tasks); adds n_seeds."""
    from scipy import stats

    table = table.assign(run=table["run"].str.replace(r"_s\d+$", "", regex=True))
    keys = ["run", "n_layer", "noise_std", "predictor", "label", "k", "metric"]
    rows = []
    for key, group in table.groupby(keys, sort=False):
        n, mean = len(group), group["value"].mean()
        if n > 1:
            half = stats.t.ppf(0.975, n - 1) * group["value"].std(ddof=1) / n ** 0.5
            low, high = mean - half, mean + half
        else:
            low, high = group["ci_low"].iloc[0], group["ci_high"].iloc[0]
        rows.append((*key, mean, low, high, n))
    return pd.DataFrame(rows, columns=[*keys, "value", "ci_low", "ci_high", "n_seeds"])


def plot_matching(tables: list[pd.DataFrame], outputs: list[str]) -> None:
    """Rows: SPD, ILWD, fit R²; columns: trained models (a sweep cell's seeds pooled: mean and
    t-interval over seeds); one line per predictor, `zero` and `averaging` included."""
    style.setup()
    table = pd.concat(tables, ignore_index=True)
    # GD's tuned η differs per run: colour and name a predictor without it (η is in the tables).
    table["label"] = [re.sub(r" \(η=[^)]*\)", " (η tuned)", label) for label in table["label"]]
    table = _pool_seeds(table)
    runs = list(dict.fromkeys(table["run"]))
    palette = _palette(list(dict.fromkeys(table.loc[table["predictor"] != "model", "label"])))
    fig, axes = plt.subplots(3, len(runs), figsize=(3.6 * len(runs), 9.5), squeeze=False, sharex="col")
    for col, run in enumerate(runs):
        rows = table[table["run"] == run]
        for row, metric in enumerate(METRIC_AXES):
            ax = axes[row, col]
            for label, line in rows[rows["metric"] == metric].groupby("label", sort=False):
                is_model = label == "transformer"
                ax.plot(line["k"], line["value"], color=palette[label], label=label, lw=2.5 if is_model else 1.3,
                        ls="--" if label in ("zero", "averaging") else "-")
                ax.fill_between(line["k"], line["ci_low"], line["ci_high"], color=palette[label], alpha=0.2, lw=0)
            if metric != "fit_r2":
                ax.set_yscale("log")
            else:
                ax.set_ylim(-0.2, 1.05)  # a non-linear predictor's R² can be far below 0
            ax.set(ylabel=METRIC_AXES[metric] if col == 0 else None,
                   xlabel="in-context examples k" if row == 2 else None)
        noise, n_seeds = rows["noise_std"].iloc[0], int(rows["n_seeds"].max())
        band = "t-interval over seeds" if n_seeds > 1 else "1 seed, exploratory"
        axes[0, col].set_title(f"{run}: L = {rows['n_layer'].iloc[0]}, σ = {noise:g}\nn_seeds = {n_seeds} ({band})")
    legend = {}
    for ax in axes.flat:  # every predictor once, whichever panel drew it
        legend.update(zip(*reversed(ax.get_legend_handles_labels())))
    handles, labels = list(legend.values()), list(legend)
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), bbox_to_anchor=(0.5, -0.04))
    style.save(fig, outputs)


def plot_depth_noise(summary: pd.DataFrame, outputs: list[str]) -> None:
    """Left: best-matching predictor per (depth, noise) cell, with its match verdict against `zero`
    and n_seeds; right: log10 SPD(GD-1) / SPD(Bayes-optimal), mean and t-interval over seeds."""
    style.setup()
    depths, noises = sorted(summary["n_layer"].unique()), sorted(summary["noise_std"].unique())
    cells = summary.set_index(["n_layer", "noise_std"])
    names = sorted(summary["best_label"].unique())
    code = np.array([[names.index(cells.loc[(L, s), "best_label"]) for s in noises] for L in depths])
    gap = np.array([[cells.loc[(L, s), "spd_gap_log10"] for s in noises] for L in depths])
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 1.1 * len(depths) + 2.5))
    colors = sns.color_palette("pastel", len(names))
    left.imshow(code, cmap=plt.matplotlib.colors.ListedColormap(colors), vmin=-0.5, vmax=len(names) - 0.5, aspect="auto")
    for i, L in enumerate(depths):
        for j, s in enumerate(noises):
            c = cells.loc[(L, s)]
            interval = "" if np.isnan(c["best_spd_low"]) else f" [{c['best_spd_low']:.2g}, {c['best_spd_high']:.2g}]"
            left.text(j, i, f"{c['best_label']}\nSPD {c['best_spd']:.3g}{interval}\nvs zero {c['spd_zero']:.3g}: "
                      f"match {c['match']}\nn_seeds = {c['n_seeds']}", ha="center", va="center", fontsize=7)
    limit = max(np.abs(gap).max(), 0.1)
    image = right.imshow(gap, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for i, L in enumerate(depths):
        for j, s in enumerate(noises):
            c = cells.loc[(L, s)]
            interval = "" if np.isnan(c["spd_gap_low"]) else f"\n[{c['spd_gap_low']:+.2f}, {c['spd_gap_high']:+.2f}]"
            right.text(j, i, f"{gap[i, j]:+.2f}{interval}\nn = {c['n_seeds']}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=right, label="log10 SPD(model, GD 1 step) / SPD(model, Bayes-optimal)\n> 0: closer to Bayes-optimal")
    left.set_title("best-matching predictor (smallest SPD, mean over k ≥ 1 and seeds);\n"
                   "match only if it beats zero by more than the seed spread")
    right.set_title("SPD gap: 1-step GD vs Bayes-optimal (95% t-interval over seeds)\n(OLS at σ = 0, ridge λ = σ²/τ² otherwise)")
    for ax in (left, right):
        ax.set(xticks=range(len(noises)), xticklabels=[f"{s:g}" for s in noises], xlabel="label noise σ",
               yticks=range(len(depths)), yticklabels=[str(L) for L in depths], ylabel="depth L (blocks)")
        ax.grid(False)
    style.save(fig, outputs)


PROBE_LINES = {  # (model, probe, target) -> (colour, line style, label)
    ("trained", "ridge", "xty"): ("tab:blue", "-", "Xᵀy, ridge R²"),
    ("trained", "ridge", "w_ols"): ("tab:orange", "-", "w_OLS, ridge R²"),
    ("trained", "ridge, partial given the other target", "xty"): ("tab:blue", "--", "Xᵀy | w_OLS, partial R²"),
    ("trained", "ridge, partial given the other target", "w_ols"): ("tab:orange", "--", "w_OLS | Xᵀy, partial R²"),
    ("trained", "MLP", "xty"): ("tab:purple", "-.", "Xᵀy, MLP R² (last k)"),
    ("trained", "MLP", "w_ols"): ("tab:brown", "-.", "w_OLS, MLP R² (last k)"),
    ("untrained", "ridge", "xty"): ("tab:blue", ":", "untrained: Xᵀy ridge R²"),
    ("untrained", "ridge", "w_ols"): ("tab:orange", ":", "untrained: w_OLS ridge R²"),
    ("trained", "ridge, shuffled targets", "xty"): ("tab:red", "-", "shuffled-target control"),
}


def _pool_probe_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """Probe rows of a sweep cell's seeds pooled: mean r2 and a t-interval over seeds; adds n_seeds."""
    from scipy import stats

    table = table.assign(run=table["run"].str.replace(r"_s\d+$", "", regex=True))
    keys = ["run", "model", "target", "probe", "layer", "k"]
    stats_rows = []
    for key, group in table.groupby(keys, sort=False):
        n, mean = len(group), group["r2"].mean()
        half = stats.t.ppf(0.975, n - 1) * group["r2"].std(ddof=1) / n ** 0.5 if n > 1 else float("nan")
        stats_rows.append((*key, mean, mean - half, mean + half, n))
    return pd.DataFrame(stats_rows, columns=[*keys, "r2", "r2_low", "r2_high", "n_seeds"])


def plot_probes(tables: list[pd.DataFrame], outputs: list[str]) -> None:
    """Probe R² vs layer: rows are models (a sweep cell's seeds pooled), columns the probed k; ridge R²
    and partial R² of each target given the other, the MLP at the last k, untrained and shuffled controls."""
    style.setup()
    table = _pool_probe_seeds(pd.concat(tables, ignore_index=True))
    runs = list(dict.fromkeys(table["run"]))
    n_cols = max(table.groupby("run")["k"].nunique())
    fig, axes = plt.subplots(len(runs), n_cols, figsize=(4.2 * n_cols, 3.4 * len(runs)), squeeze=False, sharey=True)
    for r, run in enumerate(runs):
        rows = table[table["run"] == run]
        ks = sorted(rows["k"].unique())
        for c in range(n_cols):
            ax = axes[r, c]
            if c >= len(ks):
                ax.axis("off")
                continue
            for (kind, probe, target), (color, ls, label) in PROBE_LINES.items():
                line = rows[(rows["k"] == ks[c]) & (rows["model"] == kind) & (rows["probe"] == probe) & (rows["target"] == target)]
                if line.empty:
                    continue
                ax.plot(line["layer"], line["r2"], color=color, ls=ls, marker="o", ms=3, label=label)
                ax.fill_between(line["layer"], line["r2_low"], line["r2_high"], color=color, alpha=0.15, lw=0)
            ax.axhline(0, color="grey", lw=0.8)
            n_seeds = int(rows["n_seeds"].max())
            ax.set(title=f"{run} (n_seeds = {n_seeds}), k = {ks[c]}", ylim=(-0.2, 1.02), xticks=sorted(rows["layer"].unique()),
                   xlabel="layer (0 = embedding)" if r == len(runs) - 1 else None,
                   ylabel="held-out R²" if c == 0 else None)
    legend = {}
    for ax in axes.flat:
        legend.update(zip(*reversed(ax.get_legend_handles_labels())))
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=5, bbox_to_anchor=(0.5, -0.03))
    style.save(fig, outputs)


def plot_gd(summary: pd.DataFrame, interpolation: pd.DataFrame, predictions: pd.DataFrame,
            exactness: pd.DataFrame, outputs: list[str]) -> None:
    """Trained 1-layer LSA vs hand-built one-step GD: predictions, sensitivities, interpolation, exactness."""
    style.setup()
    values = dict(zip(summary["metric"], summary["value"]))
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.4))
    ax = axes[0]
    ax.scatter(predictions["y_gd"], predictions["y_trained"], s=4, alpha=0.4, color="black")
    lim = np.percentile(np.abs(predictions[["y_gd", "y_trained"]].to_numpy()), 99.5)
    ax.plot([-lim, lim], [-lim, lim], color="tab:red", lw=1, label="ŷ_trained = ŷ_GD")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel=f"ŷ of hand-built GD layer (η* = {values['eta_star']:.3g})",
           ylabel="ŷ of trained 1-layer LSA",
           title=f"predictions: mean |ŷ_trained − ŷ_GD| = {values['mean_abs_diff_trained_gd']:.3f}")
    ax.legend(loc="upper left")
    ax = axes[1]
    ax.hist(predictions["sensitivity_cosine"], bins=np.linspace(-1, 1, 81), color="tab:blue")
    ax.set(xlabel="cos(∂ŷ_trained/∂x_q, ∂ŷ_GD/∂x_q) per task", ylabel="tasks",
           title=f"sensitivity cosine: mean {values['sensitivity_cosine_mean']:.3f}, "
                 f"median {values['sensitivity_cosine_median']:.3f}")
    ax = axes[2]
    ax.plot(interpolation["alpha"], interpolation["query_mse"], marker="o", color="black")
    ax.axhline(values["mse_zero"], color="grey", ls="--", label="zero predictor")
    ax.set(yscale="log", xlabel="α  (θ = (1 − α) θ_GD + α θ_trained)", ylabel="query squared error (log scale)",
           title="loss along the straight line between the weights")
    ax.legend()
    ax = axes[3]
    names = ["1-layer LSA" if c == "one_layer_lsa" else f"stack, {s} step{'s' * (s > 1)}"
             for c, s in zip(exactness["construction"], exactness["gd_steps"])]
    ax.barh(names, np.log10(exactness["max_abs_diff"].clip(lower=1e-18)), color="tab:green")
    ax.set_xlim(-18, 0)
    ax.axvline(-5, color="tab:red", ls="--", label="test threshold 1e-5")
    ax.set(xlabel="log10 max |ŷ_construction − ŷ_GD| (float64)", title="exactness of the constructions")
    ax.legend(loc="lower right")
    fig.subplots_adjust(wspace=0.4)
    style.save(fig, outputs)


def matching_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: per-run matching tables -> the SPD / ILWD figure."""
    plot_matching([read_table(path) for path in inputs], outputs)


def depth_noise_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: sweep_summary.csv -> the depth x noise heatmaps."""
    plot_depth_noise(read_table(inputs[0]), outputs)


def probes_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: per-run probe tables -> the probe figure."""
    plot_probes([read_table(path) for path in inputs], outputs)


def gd_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: the four GD comparison tables -> the figure."""
    plot_gd(*(read_table(path) for path in inputs), outputs)
