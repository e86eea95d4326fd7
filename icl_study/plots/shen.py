"""Study 4 (Shen et al. 2023) figures and table, from the tidy tables of icl_study/studies/shen.py.

- `order_rule`: order sensitivity vs N (regression predictors; ICL on each LM);
- `perturbation_rule`: ΔL(s) vs the relative noise scale s (constructed, trained, pretrained);
- `icl_vs_gd_rule`: ICL vs GD on each LM over N: accuracy, and agreement of the adapted
  distributions next to the two noise floors (ICL vs ICL in another order, GD vs GD);
- `table_rule`: one summary table (CSV and Markdown) and the ICL-vs-GD verdicts per (LM, N, GD
  setting) with cluster-bootstrap intervals over unique test queries.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from icl_study.plots import style
from icl_study.tables import read_table

COMPARISONS = {"icl_vs_gd": ("ICL vs GD", "C3", "-"), "icl_vs_icl": ("ICL vs ICL, other order (floor)", "C0", ":"),
               "gd_vs_gd": ("GD vs GD, other seed (floor)", "C2", "--"),
               "icl_vs_zs": ("ICL vs zero-shot", "C1", "-."), "gd_vs_zs": ("GD vs zero-shot", "C4", "-.")}
N_BOOT = 1000  # bootstrap resamples of the ICL-vs-GD intervals
AGREEMENT = [("top1_overlap", "top-1 overlap"), ("top10_overlap", "top-10 overlap"), ("kl_vocab", "KL over vocabulary"),
             ("cos_vocab", "cos(Δp) over vocabulary"), ("kl_labels", "KL over label words")]


def _lm_panels(table: pd.DataFrame) -> list[tuple[str, str]]:
    return list(dict.fromkeys(zip(table["model"], table["task"])))


def _mean_over_seeds(rows: pd.DataFrame) -> pd.Series:
    return rows.groupby("n_demos")["value"].mean()


def plot_order(regression_csv: str, lm_csv: str, outputs: list[str]) -> None:
    """Left: spread of the regression query prediction over demonstration orders; right: ICL
    accuracy spread over orders on each LM (batch GD's is zero by construction)."""
    style.setup()
    reg, lm = read_table(regression_csv), read_table(lm_csv)
    fig, (ax_reg, ax_lm) = plt.subplots(1, 2, figsize=(11, 4.2))
    floor = 1e-9  # log axis: exact zeros are drawn at this floor
    for i, (name, rows) in enumerate(reg.groupby("predictor", sort=False)):
        ax_reg.plot(rows["n_demos"], rows["pred_spread"].clip(lower=floor), marker="o", color=f"C{i}", label=name)
    ax_reg.set(yscale="log", xlabel="demonstrations N", ylabel="std of the query prediction over orders",
               title=f"regression (exact zeros drawn at {floor:g})")
    ax_reg.legend(fontsize=7)
    order = lm[lm["comparison"] == "order"]
    for i, (model, task) in enumerate(_lm_panels(order)):
        rows = order[(order["model"] == model) & (order["task"] == task)]
        for metric, ls in (("accuracy_spread", "-"), ("prob_spread", ":")):
            mean = _mean_over_seeds(rows[rows["metric"] == metric])
            ax_lm.plot(mean.index, mean.values, marker="o", ls=ls, color=f"C{i}",
                       label=f"{model} / {task}: {'accuracy' if metric == 'accuracy_spread' else 'p(true label)'}")
    ax_lm.set(xscale="log", xlabel="demonstrations N", ylabel="std over demonstration orders",
              title="ICL on language models (batch GD: 0)")
    ax_lm.set_xticks(sorted(order["n_demos"].unique()), [str(n) for n in sorted(order["n_demos"].unique())])
    ax_lm.legend(fontsize=7)
    fig.tight_layout()
    style.save(fig, outputs)


def plot_perturbation(perturbation_csv: str, outputs: list[str]) -> None:
    """ΔL(s), mean over noise draws, per model; and log(L_noisy / L(W)), the fragility claim's
    measure, so that losses of different scale compare (the legend gives regression models' depth)."""
    style.setup()
    table = read_table(perturbation_csv)
    table = table[(table["metric"] == "loss") & (table["scale"] > 0)]
    clean = read_table(perturbation_csv).query("metric == 'loss' and scale == 0").set_index("model")["value"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"constructed": "-", "trained": "--", "pretrained LM": ":"}
    for i, (name, rows) in enumerate(table.groupby("model", sort=False)):
        mean = rows.groupby("scale")["delta"].mean()
        log_ratio = np.log(rows["value"] / clean[name]).groupby(rows["scale"]).mean()
        depth = rows["depth"].iloc[0] if "depth" in rows else np.nan
        label = f"{name} [{rows['kind'].iloc[0]}{'' if np.isnan(depth) else f', depth {depth:g}'}]"
        kw = dict(marker="o", color=f"C{i % 10}", ls=styles[rows["kind"].iloc[0]], label=label)
        axes[0].plot(mean.index, mean.values, **kw)
        axes[1].plot(log_ratio.index, log_ratio.values, **kw)
    axes[0].set(xscale="log", xlabel="relative noise scale s", ylabel="ΔL(s) (symlog: linear below 1e-3, may be < 0)",
                title="loss increase under weight noise")
    axes[1].set(xscale="log", xlabel="relative noise scale s", ylabel="log(L_noisy / L(W)), mean over draws",
                title="relative to the clean loss (the fragility claim)")
    for ax in axes:
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.axhline(0.0, color="grey", lw=0.8)
    axes[1].legend(fontsize=6)
    fig.tight_layout()
    style.save(fig, outputs)


def plot_icl_vs_gd(lm_csv: str, outputs: list[str]) -> None:
    """Per LM (rows): accuracy of ZS/ICL/GD vs N, then each agreement metric for ICL vs GD and the floors."""
    style.setup()
    lm = read_table(lm_csv)
    panels = _lm_panels(lm)
    ncols = 1 + len(AGREEMENT)
    fig, axes = plt.subplots(len(panels), ncols, figsize=(3.3 * ncols, 3.2 * len(panels)), squeeze=False)
    for row, (model, task) in zip(axes, panels):
        rows = lm[(lm["model"] == model) & (lm["task"] == task)]
        acc = rows[rows["comparison"] == "accuracy"]
        for name, color in (("zs", "grey"), ("icl0", "C0"), *[(m, f"C{2 + i}") for i, m in enumerate(
                sorted(n for n in acc["metric"].unique() if n.startswith("gd") and n.endswith("_s0")))]):
            mean = _mean_over_seeds(acc[acc["metric"] == name])
            row[0].plot(mean.index, mean.values, marker="o", color=color, label=name.replace("_s0", "").replace("icl0", "ICL"))
        row[0].set(xscale="log", ylim=(0, 1.02), xlabel="N", ylabel="accuracy", title=f"{model} / {task}")
        row[0].legend(fontsize=6)
        for ax, (metric, label) in zip(row[1:], AGREEMENT):
            for (setting, comparison), sub in rows[rows["metric"] == metric].groupby(["setting", "comparison"]):
                name, color, ls = COMPARISONS[comparison]
                mean = _mean_over_seeds(sub)
                ax.plot(mean.index, mean.values, marker="o", color=color, ls=ls,
                        label=name if setting == "-" else f"{name} [{setting}]")
            ax.set(xscale="log", xlabel="N", title=label)
        row[1].legend(fontsize=5)
    for ax in axes.flat:
        ax.set_xticks(sorted(lm["n_demos"].unique()), [str(n) for n in sorted(lm["n_demos"].unique())])
    fig.tight_layout()
    style.save(fig, outputs)


def summary_table(lm_csv: str, sparsity_csv: str, order_csv: str) -> pd.DataFrame:
    """One row per (model, task, setting, comparison): each metric's mean over N and demonstration
    sets; then sparsity rows; then the regression order spread at the largest N."""
    lm = read_table(lm_csv)
    agree = lm[lm["comparison"].isin(list(COMPARISONS) + ["order"])]
    table = agree.pivot_table(index=["model", "task", "setting", "comparison"], columns="metric", values="value",
                              aggfunc="mean").reset_index()
    acc = lm[lm["comparison"] == "accuracy"].pivot_table(index=["model", "task"], columns="metric", values="value",
                                                         aggfunc="mean").reset_index()
    acc["comparison"] = "accuracy (mean over N)"
    sparse = read_table(sparsity_csv).pivot_table(index=["model", "kind"], columns="tau", values="sparsity").reset_index()
    sparse.columns = [c if isinstance(c, str) else f"sparsity_tau{c:g}" for c in sparse.columns]
    sparse["comparison"] = "sparsity"
    order = read_table(order_csv)
    order = order[order["n_demos"] == order.groupby("predictor")["n_demos"].transform("max")]
    order = order.rename(columns={"predictor": "model"}).assign(comparison="regression order spread (largest N)")
    return pd.concat([table, acc, sparse, order], ignore_index=True)


def _markdown(table: pd.DataFrame) -> str:
    """A Markdown table per comparison kind, numbers to 3 significant digits, empty columns dropped."""
    parts = []
    for comparison, rows in table.groupby("comparison", sort=False):
        rows = rows.dropna(axis=1, how="all").drop(columns="comparison")
        header = list(rows.columns)
        fmt = lambda v: f"{v:.3g}" if isinstance(v, (float, np.floating)) else str(v)  # noqa: E731
        lines = [f"**{comparison}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(fmt(v) for v in values) + " |" for values in rows.itertuples(index=False)]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def order_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: regression order.csv and lm.csv -> the order-sensitivity figure."""
    plot_order(inputs[0], inputs[1], outputs)


def perturbation_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: perturbation.csv -> the ΔL(s) figure."""
    plot_perturbation(inputs[0], outputs)


def icl_vs_gd_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: lm.csv -> the ICL-vs-GD figure."""
    plot_icl_vs_gd(inputs[0], outputs)


def _ci(row, name: str, digits: str = ".2f") -> str:
    return f"{row[name]:{digits}} [{row[name + '_low']:{digits}}, {row[name + '_high']:{digits}}]"


def verdicts_markdown(verdicts: pd.DataFrame) -> str:
    """The ICL-vs-GD verdicts as one Markdown table: mean [95% cluster-bootstrap CI] per cell."""
    header = ["model", "task", "N", "GD", "acc ZS", "acc ICL", "acc GD", "ICL − ZS", "GD − ZS", "KL(ICL‖ZS)",
              "KL(GD‖ZS)", "GD–GD floor", "KL(ICL‖GD) − larger floor", "n_examples", "n_demo_sets", "verdict"]
    lines = ["**ICL vs GD (KL over the vocabulary, nats)**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, r in verdicts.iterrows():
        cells = [r["model"], r["task"], str(r["n_demos"]), r["setting"], f"{r['acc_zs']:.2f}", f"{r['acc_icl']:.2f}",
                 f"{r['acc_gd']:.2f}", _ci(r, "acc_icl_minus_zs"), _ci(r, "acc_gd_minus_zs"), _ci(r, "kl_icl_zs", ".3g"),
                 _ci(r, "kl_gd_zs", ".3g"), _ci(r, "kl_gd_gd_floor", ".3g"), _ci(r, "kl_icl_gd_minus_floor", ".3g"),
                 str(r["n_examples"]), str(r["n_demo_sets"]), r["verdict"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n"


def table_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: lm.csv, sparsity.csv, regression order.csv -> table.csv, table.md, icl_vs_gd.csv."""
    from icl_study.measures.icl_vs_gd import icl_vs_gd_verdicts  # torch: imported only when this figure is drawn

    table = summary_table(*inputs)
    table.to_csv(outputs[0], index=False)
    verdicts = icl_vs_gd_verdicts(read_table(inputs[0]), N_BOOT)
    verdicts.to_csv(outputs[2], index=False)
    with open(outputs[1], "w") as f:
        f.write(verdicts_markdown(verdicts) + _markdown(table))
