"""The LM substrate's claims (does ICL work here at all?), measured on studies/lm.py's icl_gain.csv.
Torch-free, unlike lm.py: the ledger rule's inputs are resolved when Snakemake parses the workflow.
"""

from __future__ import annotations

from icl_study.claims import LM_POWER, NO_DATA, Claim, Measurement
from icl_study.jobs import figure_png
from icl_study.studies.lm_plan import LM_ICL_VS_K_FIGURE

# --- claims (the substrate: does ICL work here at all?), measured on icl_gain.csv -------------------

ICL_GAIN_TABLE = "lm/icl_gain.csv"


def text_model_names(config: dict) -> list[str]:
    """Result names of the text models the workflow runs (an optional, missing hf: directory is skipped)."""
    from icl_study.studies.lm_plan import text_models

    return list(text_models(config["lm"]))


def text_task_names(config: dict) -> list[str]:
    """The text tasks lm runs: a csv/jsonl task without its file is skipped."""
    from icl_study.studies.lm_plan import text_tasks

    return text_tasks(config["lm"])


def text_pairs(config: dict, section: str, tasks_key: str) -> list[tuple[str, str]]:
    """(model, task) pairs a section runs (lm_plan.text_model_tasks: `<section>.model_tasks` per model)."""
    from icl_study.studies.lm_plan import text_model_tasks

    part = config[section]
    tasks = text_task_names(config) if tasks_key is None else part[tasks_key]
    return text_model_tasks(config, tasks, part.get("model_tasks"))


def _icl_gain(model: str, task: str):
    """Accuracy at the largest k minus zero-shot, from icl_gain.csv (paired per example for text;
    unpaired for pipeline-gpt's episodes); n_seeds: the training runs behind a model of ours."""
    def compute(tables):
        frame = tables[ICL_GAIN_TABLE]
        frame = frame[(frame["model"] == model) & (frame["task"] == task)]
        if frame.empty:
            return NO_DATA
        row = frame[frame["k"] == frame["k"].max()].iloc[0]
        n_seeds = int(row["n_train_seeds"]) or None  # 0: a pretrained model, no training seeds of ours
        return Measurement(float(row["gain"]), float(row["low"]), float(row["high"]),
                           n_examples=int(row["n_examples"]), n_seeds=n_seeds, n_demo_sets=int(row["n_demo_sets"]))
    return compute


def claims(config: dict) -> list:
    """ICL works on the substrate: accuracy with the most demonstrations above zero-shot, for
    pipeline-gpt on fresh labels (Chan et al.'s bursty data) and each text model and task."""

    figure = figure_png(LM_ICL_VS_K_FIGURE)
    gain = "accuracy at the largest k minus zero-shot (k = 0)"
    text = (f"{gain}, paired per test example (the same examples at both k); over several demonstration sets a "
            "two-way bootstrap (examples x sets), else a cluster interval over examples")
    out = [Claim(study="lm", paper="Chan et al. 2022", claim_id="lm.icl_gain.pipeline-gpt",
                 claim="A transformer pretrained on bursty sequences learns in context: demonstrations raise accuracy.",
                 measure=f"{gain}; unpaired bootstrap over episodes (each k draws its own); pipeline-gpt on 2-way "
                         "episodes with fresh labels (concepts-fresh)",
                 direction="greater", figure=figure, tables=(ICL_GAIN_TABLE,),
                 compute=_icl_gain("pipeline-gpt", "concepts-fresh"))]
    for model, task in text_pairs(config, "lm", None):
        out.append(Claim(
            study="lm", paper="Brown et al. 2020", claim_id=f"lm.icl_gain.{model}.{task}",
            claim="A pretrained language model learns a classification task from a few demonstrations in its prompt.",
            measure=f"{text}; {model} on {task}", direction="greater", figure=figure,
            tables=(ICL_GAIN_TABLE,), compute=_icl_gain(model, task), trained=False, **LM_POWER))
    return out
