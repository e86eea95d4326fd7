"""Study 2's claims (Dai et al. 2022), measured on studies/dai.py's summary tables and momentum
comparison. Torch-free, unlike dai.py: the ledger rule's inputs are resolved when Snakemake parses
the workflow.
"""

from __future__ import annotations

import math

from icl_study.claims import NO_DATA, Claim, Measurement, interval_difference, over_seeds
from icl_study.studies.lm_claims import text_model_names, text_task_names

# --- claims (Dai et al. 2022), measured on the summary tables and the momentum comparison ----------

DAI_PAPER = "Dai et al. 2022"
TABLE, DUAL_TABLE, MOMENTUM_TABLE = "dai/summary/table.csv", "dai/summary/dual.csv", "dai/momentum/comparison.csv"


def _metric(tables: dict, model: str, task: str, variant: str, metric: str):
    """(mean, low, high, n_examples) of one summary-table metric, or None."""
    frame = tables[TABLE]
    row = frame[(frame["model"] == model) & (frame["task"] == task) & (frame["variant"] == variant)
                & (frame["metric"] == metric)]
    if row.empty or not math.isfinite(row["mean"].iloc[0]):
        return None
    row = row.iloc[0]
    return float(row["mean"]), float(row["low"]), float(row["high"]), int(row["n_examples"])


def _minus(model, task, a: tuple[str, str], b: tuple[str, str]):
    """(variant, metric) a minus b on the same model and task, from their two intervals."""
    def compute(tables):
        x, y = _metric(tables, model, task, *a), _metric(tables, model, task, *b)
        if x is None or y is None:
            return NO_DATA
        return interval_difference(x[:3], y[:3], n_examples=min(x[3], y[3]))
    return compute


def _single(model, task, metric):
    def compute(tables):
        x = _metric(tables, model, task, "trained", metric)
        return NO_DATA if x is None else Measurement(*x[:3], n_examples=x[3])
    return compute


def _dual(model, task, metric, identity):
    """Over the trained model's layers: the identity's largest error over prompts, or the per-layer
    cluster-bootstrap intervals' envelope [lowest low, highest high] (every layer must agree)."""
    def compute(tables):
        frame = tables[DUAL_TABLE]
        frame = frame[(frame["model"] == model) & (frame["task"] == task) & (frame["variant"] == "trained")
                      & (frame["metric"] == metric)]
        if frame.empty:
            return NO_DATA
        n = int(frame["n_examples"].min())
        if identity:
            worst = float(frame["max"].max())
            return Measurement(worst, worst, worst, n_examples=n)
        return Measurement(float(frame["mean"].median()), float(frame["low"].min()), float(frame["high"].max()),
                           n_examples=n)
    return compute


def _momentum_gain(tables):
    """Momentum minus softmax ICL accuracy on fresh labels at the largest k, paired by training seed."""
    frame = tables[MOMENTUM_TABLE]
    frame = frame[(frame["metric"] == "accuracy") & (frame["task"] == "concepts-fresh")]
    frame = frame[frame["k"] == frame["k"].max()]
    per_seed = frame.groupby(["kind", "seed"])["value"].mean().unstack("kind")  # (seeds, kinds)
    if not {"momentum", "softmax"} <= set(per_seed.columns):
        return NO_DATA
    diff = (per_seed["momentum"] - per_seed["softmax"]).dropna()
    return over_seeds(diff.to_numpy())


def claims(config: dict) -> list:
    """Dai et al.'s claims per model: pipeline-gpt on fresh-label episodes, and each text model on
    the first of dai.text_tasks that lm runs. Differences between two metrics use the summary's
    two cluster-bootstrap intervals (conservative)."""

    settings = [("pipeline-gpt", config["dai"]["concepts_tasks"][0])] if config["dai"]["concepts_tasks"] else []
    text_tasks = [t for t in config["dai"]["text_tasks"] if t in text_task_names(config)]
    settings += [(model, text_tasks[0]) for model in text_model_names(config)] if text_tasks else []
    table, layers, dual = ("results/figures/dai_table.png", "results/figures/dai_layers.png",
                           "results/figures/dai_dual.png")
    out = []
    for model, task in settings:
        where, ident = f"{model} on {task}", f"{model}.{task}"
        out += [
            Claim(study="dai", paper=DAI_PAPER, claim_id=f"dai.dual_identity.{ident}",
                  claim="Linear attention has a dual form: the demonstrations act as a meta-gradient update of the zero-shot weights.",
                  measure=f"largest |W_V X (W_K X)ᵀ q − (W_ZSL + ΔW_ICL) q| over layers, heads and prompts (float64), {where}",
                  direction="identity", figure=dual, tables=(DUAL_TABLE,),
                  compute=_dual(model, task, "exact_max_abs_error", True)),
            Claim(study="dai", paper=DAI_PAPER, claim_id=f"dai.relaxation.{ident}",
                  claim="Softmax attention is approximated by its relaxed linear form, so the dual view carries over.",
                  measure=f"relative error |softmax output − relaxed form| / |softmax output| per layer (median of the "
                          f"layer means; interval: envelope of the per-layer intervals), {where}; the relaxed form is "
                          "no approximation where the error reaches 1",
                  direction="less", threshold=1.0, figure=dual, tables=(DUAL_TABLE,),
                  compute=_dual(model, task, "relaxed_rel_error", False)),
            Claim(study="dai", paper=DAI_PAPER, claim_id=f"dai.rec2ftp.{ident}",
                  claim="ICL recovers most of the predictions that finetuning fixes (Rec2FTP 86-89% in the paper).",
                  measure=f"Rec2FTP over the examples FT fixed (ZS wrong, FT right), {where}; most means above 0.5",
                  direction="greater", threshold=0.5, figure=table, tables=(TABLE,), compute=_single(model, task, "rec2ftp")),
            Claim(study="dai", paper=DAI_PAPER, claim_id=f"dai.simaou.{ident}",
                  claim="ICL updates the attention output in the same direction as finetuning (SimAOU above a random update).",
                  measure=f"SimAOU minus its random-update baseline, mean over layers, {where}",
                  direction="greater", figure=layers, tables=(TABLE,),
                  compute=_minus(model, task, ("trained", "simaou"), ("trained", "simaou_random"))),
            Claim(study="dai", paper="Dai et al. 2022 (control: Deutch et al. 2024)", claim_id=f"dai.simaou_trained.{ident}",
                  claim="The ICL-finetuning similarity reflects what pretraining learned, not the architecture.",
                  measure=f"SimAOU of the trained model minus that of an untrained copy, mean over layers, {where}",
                  direction="greater", figure=layers, tables=(TABLE,),
                  compute=_minus(model, task, ("trained", "simaou"), ("untrained", "simaou"))),
            Claim(study="dai", paper=DAI_PAPER, claim_id=f"dai.kendall.{ident}",
                  claim="ICL attends to the demonstration tokens that finetuning weighs most (Kendall τ above random).",
                  measure=f"token-level Kendall τ between ICL's and FT's attention minus its random-ranking baseline, "
                          f"mean over layers, {where}",
                  direction="greater", figure=layers, tables=(TABLE,),
                  compute=_minus(model, task, ("trained", "kendall_token"), ("trained", "kendall_token_random"))),
        ]
        if model != "pipeline-gpt":  # a one-token zero-shot query makes SimAM a cosine of scalars
            out.append(Claim(
                study="dai", paper=DAI_PAPER, claim_id=f"dai.simam.{ident}",
                claim="ICL changes the attention map like finetuning does (SimAM ICL-FT above ICL-ZS).",
                measure=f"SimAM(ICL, FT) minus SimAM(ICL, ZS), mean over layers, {where}",
                direction="greater", figure=layers, tables=(TABLE,),
                compute=_minus(model, task, ("trained", "simam_ft"), ("trained", "simam_zs"))))
    if config["dai"].get("momentum"):
        out.append(Claim(
            study="dai", paper=DAI_PAPER, claim_id="dai.momentum",
            claim="Momentum-based attention improves in-context learning.",
            measure="ICL accuracy on fresh labels at the largest k, momentum minus softmax attention, paired by "
                    "training seed; t-interval over seeds",
            direction="greater", figure="results/figures/dai_momentum.png", tables=(MOMENTUM_TABLE,),
            compute=_momentum_gain))
    return out
