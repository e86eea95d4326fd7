"""Study 4's claims (Shen et al. 2023), measured on studies/shen.py's order, perturbation and
ICL-vs-GD tables. Torch-free, unlike shen.py: the ledger rule's inputs are resolved when Snakemake
parses the workflow.
"""

from __future__ import annotations

from icl_study.claims import NO_DATA, Claim, Measurement, interval_difference
from icl_study.studies.lm_claims import text_model_names

# --- claims (Shen et al. 2023), measured on the order, perturbation and ICL-vs-GD tables -----------

SHEN_PAPER = "Shen et al. 2023"
ORDER, PERTURBATION, ICL_VS_GD = "shen/regression/order.csv", "shen/perturbation.csv", "shen/icl_vs_gd.csv"


def _batch_gd_order(tables):
    frame = tables[ORDER]
    worst = float(frame[frame["predictor"] == "batch GD"]["pred_spread"].max())
    return Measurement(worst, worst, worst)


def _fragility(tables):
    """ΔL at the largest noise scale: the deepest construction minus the trained regression models,
    each a t-interval over noise draws (trained: pooled over models); conservative difference."""
    from icl_study.intervals import seed_interval

    frame = tables[PERTURBATION]
    frame = frame[(frame["metric"] == "loss") & (frame["scale"] == frame["scale"].max())]
    constructed = frame[frame["kind"] == "constructed"]
    trained = frame[frame["kind"] == "trained"]["delta"].to_numpy(float)
    if constructed.empty or len(trained) == 0:
        return NO_DATA
    deepest = constructed[constructed["model"] == constructed["model"].iloc[-1]]["delta"].to_numpy(float)
    return interval_difference(seed_interval(deepest), seed_interval(trained))


def _icl_gd_gap(model: str):
    """KL(ICL‖GD) minus the larger noise floor at the largest N, the first GD setting."""
    def compute(tables):
        frame = tables[ICL_VS_GD]
        frame = frame[frame["model"] == model]
        if frame.empty:
            return NO_DATA
        frame = frame[frame["n_demos"] == frame["n_demos"].max()]
        row = frame[frame["setting"] == sorted(frame["setting"])[0]].iloc[0]
        return Measurement(float(row["kl_icl_gd_minus_floor"]), float(row["kl_icl_gd_minus_floor_low"]),
                           float(row["kl_icl_gd_minus_floor_high"]), n_examples=int(row["n_examples"]))
    return compute


def claims(config: dict) -> list:
    """Shen et al.: batch GD is order-free (a property of the algorithm: a sanity check); hand-built GD
    weights are fragile under weight noise; ICL and GD change the output distribution differently
    (per LM, at the largest N)."""

    out = [
        Claim(study="shen", paper=SHEN_PAPER, claim_id="shen.batch_gd_order_free",
              claim="Batch gradient descent does not depend on the order of the demonstrations (ICL does).",
              measure="largest spread of batch GD's query prediction over demonstration orders, every N",
              direction="identity", figure="results/figures/shen_order.png", tables=(ORDER,), compute=_batch_gd_order),
        Claim(study="shen", paper=SHEN_PAPER, claim_id="shen.constructed_fragile",
              claim="Transformers with hand-built GD weights are far more fragile under weight noise than trained ones.",
              measure="loss increase under Gaussian weight noise at the largest scale, deepest GD construction minus the "
                      "trained regression models; t-intervals over noise draws (conservative)",
              direction="greater", figure="results/figures/shen_perturbation.png", tables=(PERTURBATION,),
              compute=_fragility),
    ]
    for model in text_model_names(config) + ["pipeline-gpt"]:
        out.append(Claim(
            study="shen", paper=SHEN_PAPER, claim_id=f"shen.icl_differs_from_gd.{model}",
            claim="ICL and gradient descent on the same demonstrations change the model's output distribution differently.",
            measure=f"KL(ICL‖GD) minus the larger of the ICL–ICL and GD–GD noise floors, {model}, largest N, first "
                    "GD setting; cluster-bootstrap interval over test queries",
            direction="greater", figure="results/figures/shen_icl_vs_gd.png", tables=(ICL_VS_GD,),
            compute=_icl_gd_gap(model)))
    return out
