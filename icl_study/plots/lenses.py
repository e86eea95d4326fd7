"""Across-papers figures, drawn from the tables of icl_study/studies/lenses.py (no torch import).

- `over_training_rule`: one column per checkpoint family, one row per lens, a shared log-step x
  axis; each lens metric with its 95% interval, and the family's ICL curve (grey, right axis: the
  dense training-log curve, dots at the checkpoints) in every panel;
- `correlations_rule`: Spearman ρ across checkpoints between each lens metric and the family's ICL
  metric (bars), the claims' partial ρ given log(step) with its Fisher-z interval (dots), the
  metric's direction over ICL's rise and fall, and the claims' gate (seeds whose ICL falls).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from icl_study.columns import LENS_ICL_METRIC as ICL_METRIC
from icl_study.plots import style
from icl_study.tables import read_table

LENS_TITLES = {"evaluators": "evaluators (Study 5)", "spd": "SPD at the query (Study 1)",
               "probe": "probe R², best layer (Study 1)", "dai": "SimAOU / Kendall τ (Study 2)",
               "dual": "dual model vs attention (Study 3)", "order": "order sensitivity (Study 4)"}
ICL_LABEL = {"bursty": "ICL accuracy", "regression": "fresh-task error"}
LOG_Y_LENSES = ("spd", "dual")


def icl_curves(curves: dict[str, list[str]], kinds: dict[str, str]) -> dict[str, pd.DataFrame]:
    """{family: (step, value)} of the family's ICL metric from its runs' training logs (mean over seeds)."""
    out = {}
    for family, paths in curves.items():
        logs = [read_table(path) for path in paths]
        metric = ICL_METRIC[kinds[family]]
        out[family] = pd.concat([log[log["metric"] == metric][["step", "value"]] for log in logs]).groupby(
            "step", as_index=False)["value"].mean()
    return out


def _metric_style(lens: str, metrics: list[str]) -> dict[str, dict]:
    """Line colour per metric; an untrained control is dashed in its trained metric's colour."""
    base = sorted({m.removesuffix("_untrained") for m in metrics})
    colors = dict(zip(base, sns.color_palette("colorblind", len(base))))
    return {m: {"color": colors[m.removesuffix("_untrained")], "ls": "--" if m.endswith("_untrained") else "-"}
            for m in metrics}


def _panel(ax, rows: pd.DataFrame, lens: str, icl: pd.DataFrame | None, kind: str) -> None:
    styles = _metric_style(lens, list(rows["metric"].unique()))
    for metric, m in rows.groupby("metric", sort=False):
        m = m.sort_values("step")
        ax.plot(m["step"], m["value"], marker="o", ms=3, lw=1.4, label=metric, **styles[metric])
        ax.fill_between(m["step"], m["ci_low"], m["ci_high"], color=styles[metric]["color"], alpha=0.15, lw=0)
    if lens in LOG_Y_LENSES and (rows["value"] > 0).all():
        ax.set_yscale("log")
    ax.legend(fontsize=6, ncol=2, loc="best")
    if icl is not None and len(icl):
        icl_ax = ax.twinx()
        icl_ax.plot(icl["step"], icl["value"], color="grey", lw=1.2, alpha=0.8)
        icl_ax.set_ylabel(ICL_LABEL[kind], color="grey", fontsize=8)
        icl_ax.tick_params(axis="y", colors="grey", labelsize=7)
        icl_ax.grid(False)


def plot_over_training(table: pd.DataFrame, curves: dict[str, pd.DataFrame], kinds: dict[str, str], outputs) -> None:
    """Grid: rows = lenses, columns = families, shared log-step x axis, ICL overlaid in grey."""
    style.setup()
    families = list(dict.fromkeys(table["family"]))
    lenses = [lens for lens in LENS_TITLES if lens in set(table["lens"])]
    fig, axes = plt.subplots(len(lenses), len(families), figsize=(5.2 * len(families), 2.6 * len(lenses)),
                             squeeze=False, sharex="col")
    for j, family in enumerate(families):
        for i, lens in enumerate(lenses):
            ax, rows = axes[i, j], table[(table["family"] == family) & (table["lens"] == lens)]
            if rows.empty:
                ax.text(0.5, 0.5, "not measured for this family", ha="center", va="center", transform=ax.transAxes)
                ax.set(xscale="log", yticks=[])
            else:
                _panel(ax, rows, lens, curves.get(family), kinds.get(family, family))
            ax.set_xscale("log")
            n_seeds = int(rows["n_seeds"].max()) if "n_seeds" in rows and len(rows) else 1
            ax.set_title(f"{family}: {LENS_TITLES[lens]} (n_seeds = {n_seeds})", fontsize=9)
            if i == len(lenses) - 1:
                ax.set_xlabel("training step (log)")
    fig.suptitle("Every lens on the same checkpoints over training: mean over training seeds, 95% t-interval\n"
                 "over seeds (grey: ICL, right axis, mean over seeds)", y=1.0)
    fig.tight_layout()
    style.save(fig, outputs)


def plot_correlations(corr: pd.DataFrame, outputs) -> None:
    """Horizontal bars of Spearman ρ per lens metric, a panel per family; rise/fall arrows as labels."""
    style.setup()
    families = list(dict.fromkeys(corr["family"])) or ["(none)"]
    heights = [max(1, (corr["family"] == f).sum()) for f in families]
    fig, axes = plt.subplots(len(families), 1, figsize=(7, 0.28 * sum(heights) + 1.2 * len(families)),
                             squeeze=False, gridspec_kw={"height_ratios": heights})
    arrow = {1: "↑", -1: "↓", 0: "–"}
    for ax, family in zip(axes[:, 0], families):
        rows = corr[corr["family"] == family].iloc[::-1]
        labels = [f"{r.lens}: {r.metric}  (rise {arrow[r.rise_direction]}, fall {arrow[r.fall_direction]})"
                  + ("  ρ n/a: constant" if pd.isna(r.spearman) else "") for r in rows.itertuples()]
        colors = ["#0072B2" if v >= 0 else "#D55E00" for v in rows["spearman"].fillna(0)]
        ax.barh(range(len(rows)), rows["spearman"].fillna(0), color=colors)
        ax.set_yticks(range(len(rows)), labels, fontsize=7)
        ax.axvline(0, color="black", lw=0.8)
        icl = rows["icl_metric"].iloc[0] if len(rows) else ""
        n_seeds = int(rows["n_seeds"].max()) if "n_seeds" in rows and len(rows) else 1
        # The claims' statistic: partial ρ given log(step), per seed combined in Fisher z.
        ax.errorbar(rows["partial_spearman"], range(len(rows)), fmt="o", color="black", ms=3,
                    xerr=[rows["partial_spearman"] - rows["partial_low"],
                          rows["partial_high"] - rows["partial_spearman"]], lw=1)
        falls = (f"ICL falls after its best in {int(rows['icl_fall_seeds'].iloc[0])} of "
                 f"{int(rows['icl_seeds'].iloc[0])} seeds") if len(rows) else ""
        ax.set(xlim=(-1.05, 1.05), title=f"{family}: Spearman ρ with {icl} across checkpoints; {falls}\n"
               f"(bars: raw ρ, seeds pooled, n_seeds = {n_seeds}; dots: partial ρ given log step, 95% Fisher z)",
               xlabel="Spearman ρ")
    fig.tight_layout()
    style.save(fig, outputs)


def over_training_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: inputs[0] the lens table (then the families' train_metrics.csv, named by
    params["curves"] per family; params["kinds"]: each family's kind) -> png, pdf."""
    kinds = params["kinds"]
    plot_over_training(read_table(inputs[0]), icl_curves(params["curves"], kinds), kinds, outputs)


def correlations_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: the correlation table -> png, pdf."""
    plot_correlations(read_table(inputs[0]), outputs)
