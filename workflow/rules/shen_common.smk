"""Study 4 (Shen et al. 2023): helpers of workflow/rules/shen.smk (models, params, targets); no rules here.

Language models: every text model of lm.models (lm_common.smk) on each task of shen.tasks, plus
pipeline-gpt on its fresh-label concept episodes (task name `concepts`).
"""

SHEN = config["shen"]
SHEN_TEXT_TASKS = [task for task in SHEN["tasks"] if task in LM_TASKS]
SHEN_LMS = [(model, task) for model in LM_MODELS for task in SHEN_TEXT_TASKS] + [("pipeline-gpt", "concepts")]
SHEN_LINREG_INPUTS = ["results/linreg/gd/lsa/model.pt"] + [f"results/linreg/{run}/model.pt" for run in SHEN["linreg_runs"]]
SHEN_FIGURES = ["shen_order", "shen_perturbation", "shen_icl_vs_gd"]
SHEN_TARGETS = [f"results/figures/{name}.{ext}" for name in SHEN_FIGURES for ext in ("png", "pdf")] + [
    "results/shen/table.csv", "results/shen/table.md", "results/shen/icl_vs_gd.csv"]


def shen_lm_tables(name):
    """Every LM's table `name` (an N-file per demonstration count for `N`)."""
    if name == "N":
        return [f"results/shen/lm/{m}/{t}/N{n}.csv" for m, t in SHEN_LMS for n in SHEN["lm"]["ns"]]
    return [f"results/shen/lm/{m}/{t}/{name}.csv" for m, t in SHEN_LMS]


def shen_model_input(wildcards):
    """pipeline-gpt's checkpoint, or the text model's input (the SmolLM2 directory; none for hf:)."""
    if wildcards.model == "pipeline-gpt":
        return ["results/lm/pipeline-gpt/model.pt"]
    return lm_model_input(wildcards)


def shen_lm_params(wildcards):
    """One LM job's params: the model, its task and eval split (text), and shen.lm (with
    shen.pipeline_gpt's overrides for pipeline-gpt); N from the {n} wildcard when there is one."""
    extra = {"n_demos": int(wildcards.n)} if hasattr(wildcards, "n") else {}
    if wildcards.model == "pipeline-gpt":
        return as_json({"spec": "pipeline-gpt", "model_name": "pipeline-gpt", "task_name": "concepts",
                        "shen": deep_merge(SHEN["lm"], SHEN["pipeline_gpt"]), **extra})
    split = {key: LM["eval"][key] for key in ("n_eval", "n_val", "eval_seed")}
    return as_json({"spec": LM_MODELS[wildcards.model], "model_name": wildcards.model, "task_name": wildcards.task,
                    "task": LM["tasks"][wildcards.task], "eval": split, "shen": SHEN["lm"], **extra})
