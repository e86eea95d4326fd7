"""Figures of the diversity study, from its tidy tables only (icl_study/studies/diversity.py).

Every rule entry gets the same inputs (sweep, threshold, transient, layers, layers_spd tables):

- `threshold_rule`: error (in-pool, fresh) and fresh-task SPD to ridge and to dMMSE vs pool size M
  (log 2), mean over seeds with 95% t-intervals, the references' own distance SPD(ridge, dMMSE),
  the measured threshold M* with its interval and the 4-16 x M* window the claim is judged in;
- `transient_rule`: fresh-task SPD to ridge and to dMMSE and the training loss over steps at the
  transient pool size, every seed drawn, each seed's ridge-like step, and "not observed within the
  budget" in the title when some seed's ridge-like step is its last;
- `layers_rule`: matched Newton and GD steps per layer, per input condition, every seed drawn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_study.intervals import seed_interval
from icl_study.plots import style
from icl_study.tables import read_table


def _tables(inputs: list[str]) -> dict[str, pd.DataFrame]:
    names = ("sweep", "threshold", "transient", "layers", "spd")
    return {name: read_table(path) for name, path in zip(names, inputs)}


def _mean_band(ax, frame: pd.DataFrame, x: str, y: str, label: str, color, style_: str = "-o"):
    rows = [(key, *seed_interval(group[y].to_numpy())) for key, group in frame.groupby(x)]
    xs, mean, low, high = (np.array(v, dtype=float) for v in zip(*rows))
    ax.plot(xs, mean, style_, color=color, label=label, markersize=4)
    ax.fill_between(xs, low, high, color=color, alpha=0.2, linewidth=0)


def plot_threshold(t: dict, outputs) -> None:
    import matplotlib.pyplot as plt
    import seaborn as sns

    style.setup()
    sweep, thr = t["sweep"], t["threshold"]
    colors = sns.color_palette("colorblind", 4)
    fig, (ax_err, ax_spd) = plt.subplots(1, 2, figsize=(10, 3.8))
    _mean_band(ax_err, sweep, "log2_pool_size", "pool_error", "model, in-pool tasks", colors[0])
    _mean_band(ax_err, sweep, "log2_pool_size", "fresh_error", "model, fresh tasks", colors[1])
    _mean_band(ax_err, sweep, "log2_pool_size", "fresh_error_ridge", "ridge, fresh tasks", colors[2], "--")
    _mean_band(ax_err, sweep, "log2_pool_size", "fresh_error_dmmse", "dMMSE, fresh tasks", colors[3], ":")
    ax_err.set(xlabel="log2 M (training pool size)", ylabel="normalized squared error (/ d)",
               title="Error vs task diversity (last step)")
    _mean_band(ax_spd, sweep, "log2_pool_size", "fresh_to_ridge", "SPD to ridge", colors[2])
    _mean_band(ax_spd, sweep, "log2_pool_size", "fresh_to_dmmse", "SPD to dMMSE", colors[3])
    if "fresh_ridge_to_dmmse" in sweep:  # the references' own distance: where they can be told apart
        _mean_band(ax_spd, sweep, "log2_pool_size", "fresh_ridge_to_dmmse", "SPD(ridge, dMMSE)", "grey", ":")
    finite = thr["log2_threshold"].dropna()
    if len(finite):
        mean, low, high = seed_interval(finite.to_numpy())
        ax_spd.axvline(mean, color="black", linewidth=1, label=f"M* = 2^{mean:.2f} ({len(finite)} of {len(thr)} seeds)")
        if np.isfinite(low):
            ax_spd.axvspan(low, high, color="black", alpha=0.1)
        # the window where diversity.generalises is judged: 4-16 x M* (log2: M* + 2 to M* + 4)
        ax_spd.axvspan(mean + 2, mean + 4, color="tab:green", alpha=0.08, label="4–16 × M* (claim compared here)")
    else:
        ax_spd.text(0.02, 0.95, "M* not bracketed by the grid", transform=ax_spd.transAxes, va="top")
    ax_spd.set(xlabel="log2 M (training pool size)", ylabel="SPD on fresh tasks (squared difference / d)",
               title="Which Bayes predictor does the model match?")
    for ax in (ax_err, ax_spd):
        ax.legend(fontsize=8)
    fig.tight_layout()
    style.save(fig, outputs)


def plot_transient(t: dict, outputs) -> None:
    import matplotlib.pyplot as plt
    import seaborn as sns

    style.setup()
    curves = t["transient"]
    colors = sns.color_palette("colorblind", 3)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    loss_ax = ax.twinx()
    labels = {"fresh_to_ridge": ("SPD to ridge (fresh tasks)", colors[0]),
              "fresh_to_dmmse": ("SPD to dMMSE (fresh tasks)", colors[1])}
    for seed, run in curves.groupby("seed"):
        first = seed == curves["seed"].min()
        for metric, (label, color) in labels.items():
            rows = run[run["metric"] == metric].sort_values("step")
            ax.plot(rows["step"], rows["value"], "-o", color=color, markersize=3, label=label if first else None)
        loss = run[run["metric"] == "loss"].sort_values("step")
        loss_ax.plot(loss["step"], loss["value"], "--", color="grey", label="training loss" if first else None)
    from icl_study.studies.diversity_claims import RIDGE_NOT_OBSERVED, transient_points

    points = transient_points(curves)
    for p in points:  # each seed's ridge-like step (leave-one-seed-out), where the claims compare from
        ax.axvline(p["step"], color=colors[0], lw=0.8, ls=":", label="ridge-like step" if p is points[0] else None)
    ended = all(p["steps_after"] > 0 for p in points)
    ax.set_xscale("log")
    ax.set(xlabel="training step (log scale)", ylabel="SPD (squared difference / d)",
           title=f"Transient ridge at M = {int(curves['pool_size'].iloc[0])} ({curves['seed'].nunique()} seeds)"
                 + ("" if ended else f"\n{RIDGE_NOT_OBSERVED}"))
    loss_ax.set_ylabel("training loss (MSE)")
    loss_ax.grid(False)
    handles = ax.get_legend_handles_labels()
    extra = loss_ax.get_legend_handles_labels()
    ax.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize=8)
    fig.tight_layout()
    style.save(fig, outputs)


def plot_layers(t: dict, outputs) -> None:
    import matplotlib.pyplot as plt
    import seaborn as sns

    style.setup()
    layers = t["layers"]
    colors = dict(zip(("newton", "gd"), sns.color_palette("colorblind", 2)))
    conditions = list(dict.fromkeys(layers["condition"]))
    fig, axes = plt.subplots(1, len(conditions), figsize=(5 * len(conditions), 3.8), sharey=True, squeeze=False)
    for ax, condition in zip(axes[0], conditions):
        rows = layers[layers["condition"] == condition]
        for member, run in rows.groupby("member"):
            first = member == rows["member"].min()
            for name, label in (("newton", "Newton steps matched"), ("gd", "GD steps matched")):
                ax.plot(run["layer"], run[f"{name}_steps"], "-o", color=colors[name], markersize=4, alpha=0.8,
                        label=label if first else None)
        ax.set_yscale("symlog", linthresh=4)  # GD's matched steps run to the hundreds, Newton's stay near 10
        ax.set_xticks(sorted(rows["layer"].unique()))
        ax.set(xlabel="layer (0 = embedding, l = after block l)", ylabel="matched steps (first SPD within tolerance of the min)",
               title=f"{condition.replace('_', ' ')} inputs (GD lr {rows['gd_lr'].iloc[0]:g})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    style.save(fig, outputs)


def threshold_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    plot_threshold(_tables(inputs), outputs)


def transient_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    plot_transient(_tables(inputs), outputs)


def layers_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    plot_layers(_tables(inputs), outputs)
