"""LM-substrate figures, drawn from results/lm/accuracy.csv (written by icl_study/studies/lm.py)."""

from __future__ import annotations

import matplotlib.pyplot as plt

from icl_study.plots import style
from icl_study.tables import read_table

TASK_TITLES = {"mr": "MR (2-way)", "imdb": "IMDB, first 32 words (2-way)",
               "sst5like": "crowd-rated snippets (5-way, SST-5-like)",
               "concepts-fresh": "concepts, labels fresh per prompt\n(only ICL can solve it)",
               "concepts-iwl": "concepts, pretraining labels\n(in-weights answer possible)"}


def plot_icl_vs_k(accuracy_csv: str, outputs: list[str] | str, params: dict) -> None:
    """ICL accuracy vs k: one panel per (model, task); dots are demonstration seeds, the line their mean."""
    style.setup()
    table = read_table(accuracy_csv)
    table = table[table["predictor"].isin(["model", "bayes"])]
    panels = list(dict.fromkeys(zip(table["model"], table["task"])))
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols, 4.0 * nrows), squeeze=False)
    for ax, (model, task) in zip(axes.flat, panels):
        rows = table[(table["model"] == model) & (table["task"] == task)]
        ks = sorted(rows["k"].unique())
        position = {k: i for i, k in enumerate(ks)}  # k on an even grid: 0, 1, 2, 4, 8, 16
        for predictor, color, label in (("model", "C0", model), ("bayes", "black", "Bayes-optimal")):
            sub = rows[rows["predictor"] == predictor]
            if sub.empty:
                continue
            mean = sub.groupby("k")["accuracy"].mean()
            ax.plot([position[k] for k in mean.index], mean.values, color=color, lw=2,
                    ls="-" if predictor == "model" else ":", label=f"{label} (mean)", zorder=3)
            if predictor == "model":
                ax.scatter([position[k] for k in sub["k"]], sub["accuracy"], color=color, s=14, alpha=0.5,
                           label="one demonstration seed", zorder=2)
        ax.axhline(rows["chance"].iloc[0], color="grey", ls="--", lw=1, label="chance")
        n = int(rows["n_examples"].iloc[0])
        ax.set(xticks=range(len(ks)), xticklabels=[str(k) for k in ks], ylim=(0, 1.02),
               xlabel="demonstrations in the prompt k", ylabel=f"accuracy (n = {n} per point)",
               title=f"{model}\n{TASK_TITLES.get(task, task)}")
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    style.save(fig, outputs)


def icl_vs_k_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: accuracy.csv -> the ICL-vs-k figure (every output format)."""
    plot_icl_vs_k(inputs[0], outputs, params)
