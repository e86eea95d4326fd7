"""The LM substrate's claims (does ICL work here at all?), measured on studies/lm.py's accuracy_ci.csv.
Torch-free, unlike lm.py: the ledger rule's inputs are resolved when Snakemake parses the workflow.
"""

from __future__ import annotations

from icl_study.claims import NO_DATA, Claim, interval_difference

# --- claims (the substrate: does ICL work here at all?), measured on accuracy_ci.csv ----------------

ACCURACY_CI_TABLE = "lm/accuracy_ci.csv"


def text_model_names(config: dict) -> list[str]:
    """Result names of the text models the workflow runs (an optional, missing hf: directory is skipped)."""
    from icl_study.plan import text_models

    return list(text_models(config["lm"]))


def text_task_names(config: dict) -> list[str]:
    """The text tasks lm runs: a csv/jsonl task without its file is skipped."""
    from icl_study.plan import text_tasks

    return text_tasks(config["lm"])


def _icl_gain(model: str, task: str):
    """Accuracy at the largest k minus zero-shot (k = 0), from two cluster-bootstrap intervals."""
    def compute(tables):
        frame = tables[ACCURACY_CI_TABLE]
        frame = frame[(frame["model"] == model) & (frame["task"] == task) & (frame["predictor"] == "model")]
        zero, top = frame[frame["k"] == 0], frame[frame["k"] == frame["k"].max()]
        if zero.empty or top.empty or frame["k"].max() == 0:
            return NO_DATA
        interval = lambda row: (float(row["mean"]), float(row["low"]), float(row["high"]))  # noqa: E731
        return interval_difference(interval(top.iloc[0]), interval(zero.iloc[0]),
                                   n_examples=int(top.iloc[0]["n_examples"]))
    return compute


def claims(config: dict) -> list:
    """ICL works on the substrate: accuracy with the most demonstrations above zero-shot, for
    pipeline-gpt on fresh labels (Chan et al.'s bursty data) and each text model and task."""

    figure = "results/figures/lm_icl_vs_k.png"
    gain = ("accuracy at the largest k minus zero-shot (k = 0), mean over demonstration sets; interval from the "
            "two cluster-bootstrap 95% intervals over test examples (conservative)")
    out = [Claim(study="lm", paper="Chan et al. 2022", claim_id="lm.icl_gain.pipeline-gpt",
                 claim="A transformer pretrained on bursty sequences learns in context: demonstrations raise accuracy.",
                 measure=f"{gain}; pipeline-gpt on 2-way episodes with fresh labels (concepts-fresh)",
                 direction="greater", figure=figure, tables=(ACCURACY_CI_TABLE,),
                 compute=_icl_gain("pipeline-gpt", "concepts-fresh"))]
    for model in text_model_names(config):
        for task in text_task_names(config):
            out.append(Claim(
                study="lm", paper="Brown et al. 2020", claim_id=f"lm.icl_gain.{model}.{task}",
                claim="A pretrained language model learns a classification task from a few demonstrations in its prompt.",
                measure=f"{gain}; {model} on {task}", direction="greater", figure=figure,
                tables=(ACCURACY_CI_TABLE,), compute=_icl_gain(model, task)))
    return out
