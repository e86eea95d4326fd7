"""LM substrate: helpers of workflow/rules/lm.smk (model and task selection, params); no rules here."""

import sys

LM = config["lm"]
LM_SMOLLM2_DIR = "resources/lm/smollm2-135m"


def lm_model_name(spec):
    return "smollm2-135m" if spec == "smollm2" else f"hf-{Path(spec[3:]).name}"


def lm_text_models():
    """{name: spec} of the text models usable here (an absent hf: directory is skipped, logged)."""
    models = {}
    for spec in LM["models"]:
        if spec.startswith("hf:") and not Path(spec[3:]).is_dir():
            print(f"lm: skipping model {spec}: directory {spec[3:]} does not exist", file=sys.stderr)
            continue
        models[lm_model_name(spec)] = spec
    return models


def lm_text_tasks():
    """Names of the text tasks usable here (a csv/jsonl task without its file is skipped, logged)."""
    tasks = []
    for name, task in LM["tasks"].items():
        if task["source"] in ("csv", "jsonl") and not (task["path"] and Path(task["path"]).is_file()):
            print(f"lm: skipping task {name}: source {task['source']} needs a user file, "
                  f"and path {task['path']!r} does not exist", file=sys.stderr)
            continue
        tasks.append(name)
    return tasks


LM_MODELS = lm_text_models()
LM_TASKS = lm_text_tasks()


def lm_targets():
    return ["results/figures/lm_icl_vs_k.png", "results/figures/lm_icl_vs_k.pdf", "results/lm/accuracy.csv",
            "results/lm/accuracy_ci.csv"]


def lm_accuracy_inputs():
    tables = [f"results/lm/icl/{m}/{t}.csv" for m in LM_MODELS for t in LM_TASKS]
    if LM["finetune"]["demo_seeds"] and LM["finetune"]["task"] in LM_TASKS:
        tables += [f"results/lm/finetune/{m}/{LM['finetune']['task']}.csv" for m in LM_MODELS]
    return tables + ["results/lm/icl/pipeline-gpt/concepts.csv"]


def lm_model_input(wildcards):
    """The converted SmolLM2 directory, or nothing for hf:<dir> models (read where they are)."""
    return [LM_SMOLLM2_DIR] if LM_MODELS[wildcards.model] == "smollm2" else []


def lm_text_params(wildcards, extra=None):
    spec = LM_MODELS[wildcards.model]
    return as_json({"spec": spec, "model_name": wildcards.model,
                    "task_name": wildcards.task, "task": LM["tasks"][wildcards.task], "eval": LM["eval"],
                    **(extra or {})})


def lm_finetune_params(wildcards):
    return lm_text_params(wildcards, {"finetune": LM["finetune"]})
