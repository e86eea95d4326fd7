"""Study 4's claims (Shen et al. 2023), measured on studies/shen.py's order, perturbation and
ICL-vs-GD tables. Torch-free, unlike shen.py: the ledger rule's inputs are resolved when Snakemake
parses the workflow.
"""

from __future__ import annotations

from icl_study.claims import LM_POWER, NO_DATA, Claim, Gate, Measurement
from icl_study.studies.lm_claims import text_pairs
from icl_study.jobs import figure_png
from icl_study.studies.shen_plan import SHEN_ORDER_FIGURE, SHEN_PERTURBATION_FIGURE, SHEN_ICL_VS_GD_FIGURE

# --- claims (Shen et al. 2023), measured on the order, perturbation and ICL-vs-GD tables -----------

SHEN_PAPER = "Shen et al. 2023"
ORDER, PERTURBATION, ICL_VS_GD = "shen/regression/order.csv", "shen/perturbation.csv", "shen/icl_vs_gd.csv"


def _batch_gd_order(tables):
    frame = tables[ORDER]
    worst = float(frame[frame["predictor"] == "batch GD"]["pred_spread"].max())
    return Measurement(worst, worst, worst)


MIN_DRAWS = 20  # noise draws per model: the fragility interval is over draws, and a t-interval on 3 is wide


def _log_loss_ratios(tables) -> tuple[dict, dict]:
    """({model: log(L_noisy / L_clean) per draw at the largest noise scale}, {model: (kind, depth)})
    of the regression models (the rows with a depth; LM rows have none). A ratio, not ΔL: the
    constructions and the trained models start from different clean losses."""
    import numpy as np

    frame = tables[PERTURBATION]
    if "depth" not in frame:
        return {}, {}
    loss = frame[(frame["metric"] == "loss") & frame["depth"].notna()]
    if loss.empty:
        return {}, {}
    clean = loss[loss["scale"] == 0].set_index("model")["value"]
    noisy = loss[loss["scale"] == loss["scale"].max()]
    ratios = {m: np.log(rows.set_index("draw")["value"] / clean[m]) for m, rows in noisy.groupby("model", sort=False)}
    info = {m: (rows["kind"].iloc[0], int(rows["depth"].iloc[0])) for m, rows in loss.groupby("model", sort=False)}
    return ratios, info


def _fragility(tables):
    """Constructed minus trained log(L_noisy / L_clean) at the largest scale, for each construction
    against each trained model of the same depth: per pair, the mean of the per-draw differences with
    a t-interval over draws (draw i of every model is its own independent noise draw, so the
    differences are i.i.d. over draws). Every pair must agree: the value is the median of the pairs'
    means and the interval the envelope [lowest low, highest high], so reproduced needs every
    matched pair above 0 and contradicted every pair below. n_seeds: the trained models matched."""
    import numpy as np

    from icl_study.intervals import seed_interval

    ratios, info = _log_loss_ratios(tables)
    pairs = [(c, t) for c, (kind, depth) in info.items() if kind == "constructed"
             for t, (kind_t, depth_t) in info.items() if kind_t == "trained" and depth_t == depth]
    results = []
    for c, t in pairs:
        diff = (ratios[c] - ratios[t]).dropna()  # aligned on the draw index
        if len(diff):
            results.append((*seed_interval(diff.to_numpy(float)), len(diff)))
    if not results:
        return NO_DATA
    means, lows, highs, draws = (np.array(column, dtype=float) for column in zip(*results))
    return Measurement(float(np.median(means)), float(lows.min()), float(highs.max()), n_examples=int(draws.min()),
                       n_seeds=len({t for _, t in pairs}))


def _n_draws(tables):
    """The fewest noise draws any regression model has at the largest scale (an exact count)."""
    ratios, _ = _log_loss_ratios(tables)
    if not ratios:
        return NO_DATA
    fewest = float(min(len(r.dropna()) for r in ratios.values()))
    return Measurement(fewest, fewest, fewest)


def _verdict_row(tables, model: str, task: str | None = None):
    """The ICL-vs-GD verdict row of `model` (on `task`, if given) at its largest N and first GD
    setting (None if absent)."""
    frame = tables[ICL_VS_GD]
    frame = frame[(frame["model"] == model) & ((frame["task"] == task) if task is not None else True)]
    if frame.empty:
        return None
    frame = frame[frame["n_demos"] == frame["n_demos"].max()]
    return frame[frame["setting"] == sorted(frame["setting"])[0]].iloc[0]


def _verdict_column(model: str, column: str, n_seeds: int | None, task: str | None = None):
    """A paired per-query column of the verdict row (icl_vs_gd_verdicts), with its interval."""
    def compute(tables):
        row = _verdict_row(tables, model, task)
        if row is None or column not in row:
            return NO_DATA
        return Measurement(float(row[column]), float(row[f"{column}_low"]), float(row[f"{column}_high"]),
                           n_examples=int(row["n_examples"]), n_seeds=n_seeds, n_demo_sets=int(row["n_demo_sets"]))
    return compute


def claims(config: dict) -> list:
    """Shen et al.: batch GD is order-free (a property of the algorithm: a sanity check); hand-built GD
    weights are fragile under weight noise; ICL and GD change the output distribution differently
    (per LM, at the largest N)."""

    out = [
        Claim(study="shen", paper=SHEN_PAPER, claim_id="shen.batch_gd_order_free",
              claim="Batch gradient descent does not depend on the order of the demonstrations (ICL does).",
              measure="largest spread of batch GD's query prediction over demonstration orders, every N",
              direction="identity", figure=figure_png(SHEN_ORDER_FIGURE), tables=(ORDER,), compute=_batch_gd_order),
        Claim(study="shen", paper=SHEN_PAPER, claim_id="shen.constructed_fragile",
              claim="Transformers with hand-built GD weights are far more fragile under weight noise than trained ones.",
              measure="log(L_noisy / L_clean) at the largest noise scale, GD construction minus a trained regression "
                      "model of the same depth (layers = GD steps), per noise draw; t-interval over draws per pair; median "
                      "of the pairs, interval: envelope of the pairs' intervals (every matched depth must agree)",
              direction="greater", figure=figure_png(SHEN_PERTURBATION_FIGURE), tables=(PERTURBATION,),
              compute=_fragility,
              gates=(Gate(f"at least {MIN_DRAWS} noise draws per model", _n_draws, threshold=MIN_DRAWS - 0.5,
                          on="value"),)),
    ]
    # text LMs: one claim per (model, task) shen runs (shen.tasks, or shen.model_tasks per model)
    for model, task in text_pairs(config, "shen", "tasks") + [("pipeline-gpt", None)]:
        # pipeline-gpt is this study's own model: one checkpoint (lm/pipeline-gpt/model.pt) behind every
        # row, so one training seed; the text LMs are pretrained (no seeds of ours)
        trained = model == "pipeline-gpt"
        ident, where = (model, model) if task is None else (f"{model}.{task}", f"{model} on {task}")
        out.append(Claim(
            study="shen", paper=SHEN_PAPER, claim_id=f"shen.icl_differs_from_gd.{ident}",
            claim="ICL and gradient descent on the same demonstrations change the model's output distribution differently.",
            measure=f"KL(ICL‖GD) minus the larger of the ICL–ICL and GD–GD noise floors, {where}, largest N, first "
                    "GD setting; paired per query, interval over test queries (two-way over queries x "
                    "demonstration sets where there are several)",
            direction="greater", figure=figure_png(SHEN_ICL_VS_GD_FIGURE), tables=(ICL_VS_GD,),
            compute=_verdict_column(model, "kl_icl_gd_minus_floor", 1 if trained else None, task),
            # comparing two update mechanisms means something only where both learned the task: a GD
            # that moved the model into one class for every query differs from ICL trivially
            gates=(Gate("ICL learned: ICL − ZS accuracy > 0, paired per query",
                        _verdict_column(model, "acc_icl_minus_zs", None, task)),
                   Gate("GD learned: GD − ZS accuracy > 0, paired per query",
                        _verdict_column(model, "acc_gd_minus_zs", None, task)),
                   Gate("GD moved the model beyond its noise floor: KL(GD‖ZS) − GD–GD floor > 0, paired per query",
                        _verdict_column(model, "kl_gd_zs_minus_floor", None, task))),
            trained=trained, **({} if trained else LM_POWER)))
    return out
