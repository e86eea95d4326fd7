"""Study 5 figures, drawn from the tidy tables written by icl_study/studies/transience.py.

- `curves_rule`: ICL / ICL-flip / IWL / CIWL accuracy and training loss vs step (log x), one
  panel per weight decay (base model size, every seed drawn thin);
- `peak_final_rule`: peak and final ICL accuracy per model size (and weight decay);
- `regression_rule`: the finite-pool regression runs' in-pool vs fresh-task error vs step, and the
  model's distance to the ridge (generalising) and dMMSE (memorising) predictors.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from icl_study.plots import style
from icl_study.tables import read_table

ACCURACIES = {"icl": "ICL (holdout classes)", "icl_flip": "ICL (training classes relabelled)",
              "iwl": "IWL (query class absent)", "ciwl": "CIWL (label in context, class absent)"}


def _panel_grid(n: int, width: float = 4.6, height: float = 3.8):
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False, sharey=True)
    return fig, axes[0]


def plot_curves(curves: pd.DataFrame, outputs, params: dict) -> None:
    """Accuracy (left axis) and training loss (right axis, log) vs step; a panel per weight decay of
    the base size, then one per (arm, weight decay) of `params["arms"]`; every seed drawn."""
    style.setup()
    sizes = [params["size"], *params.get("arms", [])]
    rows = curves[(curves["dataset"] == "bursty") & curves["size"].isin(sizes)]
    panels = [(size, wd) for size in sizes for wd in sorted(rows.loc[rows["size"] == size, "weight_decay"].unique())]
    fig, axes = _panel_grid(len(panels))
    colors = dict(zip(ACCURACIES, sns.color_palette("colorblind", len(ACCURACIES))))
    losses = rows.loc[(rows["split"] == "train") & (rows["metric"] == "loss"), "value"]
    loss_lim = (0.8 * losses.min(), 1.25 * losses.max())  # one loss scale for every panel
    for i, (ax, (size, wd)) in enumerate(zip(axes, panels)):
        loss_ax = ax.twinx()
        panel = rows[(rows["size"] == size) & (rows["weight_decay"] == wd)]
        for seed, run in panel.groupby("seed"):
            for metric, label in ACCURACIES.items():
                m = run[run["metric"] == metric].sort_values("step")
                ax.plot(m["step"], m["value"], color=colors[metric], lw=1.6,
                        label=label if seed == rows["seed"].min() else None)
            loss = run[(run["split"] == "train") & (run["metric"] == "loss")].sort_values("step")
            loss_ax.plot(loss["step"], loss["value"], color="black", lw=1, ls="--",
                         label="training loss" if seed == rows["seed"].min() else None)
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        n_seeds = panel["seed"].nunique()
        ax.set(xscale="log", ylim=(-0.02, 1.02), xlabel="training step",
               title=f"{size}, weight decay {wd:g}\n(n_seeds = {n_seeds}{', 1 seed, exploratory' if n_seeds == 1 else ''})",
               ylabel="accuracy (ICL: chance 0.5, dotted)" if i == 0 else "")
        loss_ax.set(yscale="log", ylim=loss_lim)
        loss_ax.grid(False)
        if i == len(panels) - 1:
            loss_ax.set_ylabel("training loss (cross-entropy, nats; dashed)")
        else:
            loss_ax.tick_params(labelright=False, which="both")
    handles = [h for a in (axes[0], axes[0].figure.axes[-1]) for h in a.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8, bbox_to_anchor=(0.5, -0.08))
    fig.suptitle(params.get("title", "Transience of ICL: accuracy and loss over training"), y=1.06)  # above two-line panel titles
    fig.subplots_adjust(wspace=0.08)
    style.save(fig, outputs)


def plot_peak_final(summary: pd.DataFrame, outputs, params: dict) -> None:
    """Peak vs final ICL accuracy per model size, one marker style per weight decay."""
    style.setup()
    rows = summary[summary["dataset"] == "bursty"].copy()
    rows["weight decay"] = rows["weight_decay"].map(lambda v: f"{v:g}")
    long = rows.melt(id_vars=["size", "weight decay", "seed"], value_vars=["peak_icl", "final_icl"],
                     var_name="when", value_name="ICL accuracy")
    long["when"] = long["when"].map({"peak_icl": "peak", "final_icl": "final"})
    fig, ax = plt.subplots(figsize=(6, 4))
    sns.pointplot(long, x="size", y="ICL accuracy", hue="when", ax=ax, dodge=0.3, linestyle="none",
                  errorbar=("pi", 100), markers=["o", "s"])
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set(ylim=(0.4, 1.02), xlabel="model size", ylabel="ICL accuracy (holdout, 2-way; chance 0.5)",
           title="Peak and final ICL per model size (bars: range over seeds and weight decays)")
    style.save(fig, outputs)


def plot_regression(curves: pd.DataFrame, outputs, params: dict) -> None:
    """Finite-pool regression: errors (left) and distances to ridge / dMMSE (right) vs step."""
    style.setup()
    rows = curves[curves["dataset"] == "regression"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    fig.subplots_adjust(wspace=0.32)
    series = [("pool_error", "tasks from the pool"), ("fresh_error", "fresh tasks")]
    distances = [("fresh_to_ridge", "fresh: to ridge"), ("fresh_to_dmmse", "fresh: to dMMSE"),
                 ("pool_to_ridge", "pool: to ridge"), ("pool_to_dmmse", "pool: to dMMSE")]
    for ax, pairs, ylabel in ((axes[0], series, "normalized error (squared error / d)"),
                              (axes[1], distances, "distance to baseline (squared / d)")):
        for (key, group) in rows.groupby(["weight_decay", "seed"]):
            for metric, label in pairs:
                m = group[group["metric"] == metric].sort_values("step")
                ax.plot(m["step"], m["value"], label=f"{label} (wd {key[0]:g}, seed {key[1]})")
        if ax is axes[0]:  # the baselines' errors as reference lines
            for metric, style_, label in (("fresh_error_ridge", ":", "ridge, fresh tasks"),
                                          ("pool_error_dmmse", "-.", "dMMSE, pool tasks"),
                                          ("fresh_error_dmmse", "--", "dMMSE, fresh tasks")):
                ref = rows.loc[rows["metric"] == metric, "value"]
                if len(ref):
                    ax.axhline(ref.iloc[0], color="grey", ls=style_, lw=1, label=label)
        ax.set(xscale="log", yscale="log", xlabel="training step", ylabel=ylabel)
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_title(f"Finite pool of {params['pool_size']} tasks: error")
    axes[1].set_title("Which predictor the model is closest to")
    style.save(fig, outputs)


def curves_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: curves.csv -> accuracy/loss curves figure."""
    plot_curves(read_table(inputs[0]), outputs, params)


def peak_final_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: summary.csv -> peak/final ICL per model size."""
    plot_peak_final(read_table(inputs[0]), outputs, params)


def regression_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: curves.csv -> the finite-pool regression figure."""
    plot_regression(read_table(inputs[0]), outputs, params)
