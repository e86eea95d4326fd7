"""Figures of study 2 (ICL as implicit finetuning, Dai et al. 2022), from the summary tables only.

Inputs (icl_study/studies/dai.py): results/dai/summary/{table,layers,dual}.csv and
results/dai/momentum/comparison.csv. `markdown_table` renders the Dai-layout table for the README.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from icl_study.plots import style
from icl_study.plots.lm import TASK_TITLES
from icl_study.tables import read_table

# Dai-layout columns: (label, metric, its baseline metric or None)
COLUMNS = [("ZS", "acc_zs", None), ("FT (concepts: on its training pairs)", "acc_ft", None),
           ("FT, query pair held out", "acc_ft_heldout", None), ("ICL", "acc_icl", None), ("Rec2FTP", "rec2ftp", None),
           ("SimAOU (random)", "simaou", "simaou_random"), ("SimAM ICL-FT (ICL-ZS)", "simam_ft", "simam_zs"),
           ("Kendall token (random)", "kendall_token", "kendall_token_random"),
           ("Kendall example (random)", "kendall_example", "kendall_example_random")]
# Per-layer panels: (title, metric, baseline, baseline label)
CURVES = [("SimAOU", "simaou", "simaou_random", "random update"),
          ("SimAM", "simam_ft", "simam_zs", "ICL vs ZS"),
          ("Kendall tau (tokens)", "kendall_token", "kendall_token_random", "random ranking")]
VARIANT_STYLE = {"trained": "-", "untrained": "--"}


def cell(table: pd.DataFrame, metric: str, base: str | None) -> str:
    """'mean [low, high]' of one metric, with its baseline's mean in parentheses."""
    row = table[table["metric"] == metric]
    if row.empty or np.isnan(row["mean"].iloc[0]):
        return "n/a"
    r = row.iloc[0]
    text = f"{r['mean']:.2f} [{r['low']:.2f}, {r['high']:.2f}]"
    if base is not None:
        b = table[table["metric"] == base]["mean"].iloc[0]
        text += f" ({b:.2f})"
    if metric == "rec2ftp":  # a ratio over the examples FT fixed: few of them
        text += f" n={int(r['n_examples'])}"
    return text


def wide_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, task, variant), one column per Dai metric (strings with intervals)."""
    rows = []
    for (model, task, variant), sub in table.groupby(["model", "task", "variant"], sort=False):
        rows.append({"model": model, "task": task, "variant": variant,
                     **{label: cell(sub, metric, base) for label, metric, base in COLUMNS}})
    return pd.DataFrame(rows)


def markdown_table(table_csv: str) -> str:
    wide = wide_table(read_table(table_csv))
    header = "| " + " | ".join(wide.columns) + " |\n|" + "---|" * len(wide.columns) + "\n"
    return header + "".join("| " + " | ".join(map(str, row)) + " |\n" for row in wide.itertuples(index=False))


def plot_table(table_csv: str, outputs: list[str]) -> None:
    style.setup()
    wide = wide_table(read_table(table_csv))
    fig, ax = plt.subplots(figsize=(22, 0.45 * len(wide) + 1.2))
    ax.axis("off")
    shown = wide.copy()
    shown.columns = [c.replace(" (", "\n(") for c in shown.columns]
    grid = ax.table(cellText=shown.values, colLabels=shown.columns, loc="center", cellLoc="center")
    grid.auto_set_font_size(False)
    grid.set_fontsize(7)
    grid.scale(1, 2.2)
    ax.set_title("ICL vs finetuning (Dai et al. layout): mean [95% bootstrap CI] (baseline mean); "
                 "untrained rows are the control", fontsize=9)
    style.save(fig, outputs)


def plot_layers(curves_csv: str, outputs: list[str]) -> None:
    """Rows: SimAOU, SimAM, Kendall; columns: model x task; solid trained, dashed untrained."""
    style.setup()
    curves = read_table(curves_csv)
    panels = list(dict.fromkeys(zip(curves["model"], curves["task"])))
    fig, axes = plt.subplots(len(CURVES), len(panels), figsize=(3.6 * len(panels), 2.9 * len(CURVES)), squeeze=False)
    for col, (model, task) in enumerate(panels):
        for row, (title, metric, base, base_label) in enumerate(CURVES):
            ax = axes[row, col]
            for variant, ls in VARIANT_STYLE.items():
                for name, color, label in ((metric, "C0", title), (base, "grey", base_label)):
                    sub = curves[(curves["model"] == model) & (curves["task"] == task) & (curves["variant"] == variant)
                                 & (curves["metric"] == name)].sort_values("layer")
                    if sub.empty or sub["mean"].isna().all():
                        continue
                    ax.plot(sub["layer"], sub["mean"], color=color, ls=ls, marker=".", label=f"{label}, {variant}")
                    ax.fill_between(sub["layer"], sub["low"], sub["high"], color=color, alpha=0.15)
            if not ax.lines:  # SimAM of a one-token zero-shot query (pipeline-gpt) is undefined
                ax.text(0.5, 0.5, "undefined: the zero-shot\nquery is one token", ha="center", transform=ax.transAxes)
            ax.axhline(0, color="black", lw=0.5)
            ax.set(xlabel="layer", ylabel=title)
            if row == 0:
                ax.set_title(f"{model}\n{TASK_TITLES.get(task, task)}", fontsize=8)
            if ax.get_legend_handles_labels()[0] and not any(a.get_legend() for a in axes[row, :col]):  # one per row
                ax.legend(fontsize=6)
    fig.tight_layout()
    style.save(fig, outputs)


def plot_dual(dual_csv: str, outputs: list[str]) -> None:
    """Softmax attention vs its relaxed linear form per layer; the exact identity's error in the titles."""
    style.setup()
    dual = read_table(dual_csv)
    models = list(dict.fromkeys(dual["model"]))
    fig, axes = plt.subplots(2, len(models), figsize=(4.2 * len(models), 6.4), squeeze=False)
    for col, model in enumerate(models):
        rows = dual[dual["model"] == model]
        exact = rows[rows["metric"] == "exact_max_abs_error"]["max"].max()
        for row, (metric, label, log) in enumerate((("relaxed_rel_error", "relative error of the relaxed form", True),
                                                    ("relaxed_cosine", "cosine(relaxed, softmax)", False))):
            ax = axes[row, col]
            for (task, variant), sub in rows[rows["metric"] == metric].groupby(["task", "variant"]):
                sub = sub.sort_values("layer")
                ax.plot(sub["layer"], sub["mean"], ls=VARIANT_STYLE[variant], marker=".", label=f"{task}, {variant}")
            ax.set(xlabel="layer", ylabel=label, yscale="log" if log else "linear")
            if row == 0:
                ax.set_title(f"{model}\nexact linear dual: max |error| = {exact:.1e}", fontsize=8)
            ax.legend(fontsize=6)
    fig.tight_layout()
    style.save(fig, outputs)


def plot_momentum(comparison_csv: str, outputs: list[str]) -> None:
    """Validation loss per seed and ICL accuracy vs k (fresh labels), vanilla vs momentum."""
    style.setup()
    table = read_table(comparison_csv)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    kinds = list(dict.fromkeys(table["kind"]))
    loss = table[table["metric"] == "val_loss"]
    for i, kind in enumerate(kinds):
        values = loss[loss["kind"] == kind]["value"]
        axes[0].scatter([i] * len(values), values, color=f"C{i}", alpha=0.7)
        axes[0].hlines(values.mean(), i - 0.2, i + 0.2, color=f"C{i}")
    axes[0].set(xticks=range(len(kinds)), xticklabels=kinds, ylabel="validation loss (one dot per seed)")
    for ax, task in zip(axes[1:], ("concepts-fresh", "concepts-iwl")):
        acc = table[(table["metric"] == "accuracy") & (table["task"] == task)]
        for i, kind in enumerate(kinds):
            per_seed = acc[acc["kind"] == kind].groupby(["seed", "k"])["value"].mean().unstack("seed")
            ax.plot(per_seed.index, per_seed.mean(axis=1), color=f"C{i}", marker="o", label=f"{kind} (mean of seeds)")
            ax.fill_between(per_seed.index, per_seed.min(axis=1), per_seed.max(axis=1), color=f"C{i}", alpha=0.2)
        ax.set(xlabel="demonstrations k", ylabel="ICL accuracy (band: seeds' range)", title=TASK_TITLES.get(task, task),
               ylim=(0, 1.02))
        ax.legend(fontsize=7)
    fig.tight_layout()
    style.save(fig, outputs)


def figures_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: (table, layers, dual, momentum) CSVs -> four figures, png and pdf each."""
    table, curves, dual, momentum = inputs
    plot_table(table, outputs[0:2])
    plot_layers(curves, outputs[2:4])
    plot_dual(dual, outputs[4:6])
    plot_momentum(momentum, outputs[6:8])
