"""Study 1 figures, drawn from the tidy tables written by icl_study/studies/linreg.py."""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

from icl_study.plots import style
from icl_study.tables import read_table


def plot_error_vs_k(errors_csv: str, outputs: list[str] | str, params: dict) -> None:
    """Normalized error vs number of in-context examples: one panel per trained model.

    params: n_dims (marks k = d, where OLS becomes exact without noise), y_max (optional clip).
    """
    style.setup()
    table = read_table(errors_csv)
    table = table[table["metric"] == "normalized_error"]  # not the paired "minus_model" rows
    runs = list(dict.fromkeys(table["run"]))
    fig, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 4.2), squeeze=False, sharey=True)
    labels = list(dict.fromkeys(table.loc[table["predictor"] != "model", "label"]))
    palette = dict(zip(labels, sns.color_palette("colorblind", len(labels))))
    palette["transformer"] = (0.0, 0.0, 0.0)
    for ax, run in zip(axes[0], runs):
        for label, rows in table[table["run"] == run].groupby("label", sort=False):
            is_model = label == "transformer"
            ax.plot(rows["k"], rows["value"], label=label, color=palette[label],
                    lw=2.5 if is_model else 1.3, zorder=3 if is_model else 2)
            ax.fill_between(rows["k"], rows["ci_low"], rows["ci_high"], color=palette[label], alpha=0.2, lw=0)
        ax.axvline(params["n_dims"], color="grey", ls="--", lw=1)
        ax.text(params["n_dims"], 0.98, " k = d", transform=ax.get_xaxis_transform(), va="top", color="grey")
        ax.set(title=f"run: {run}", xlabel="in-context examples k",
               ylabel="normalized squared error (squared error / d)")
        if params.get("y_max"):
            ax.set_ylim(0, params["y_max"])
    axes[0, -1].legend(loc="upper right", fontsize=8, frameon=True)
    style.save(fig, outputs)


def error_vs_k_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: errors.csv -> the error-vs-k figure (every output format)."""
    plot_error_vs_k(inputs[0], outputs, params)
