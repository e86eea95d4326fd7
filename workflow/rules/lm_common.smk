"""LM substrate: helpers of workflow/rules/lm.smk (model and task selection, params); no rules here."""

import sys

from icl_study.checks import lm_model_name

LM = config["lm"]
LM_SMOLLM2_DIR = "resources/lm/smollm2-135m"


def lm_text_models():
    """{name: spec} of the text models used here. A missing hf: directory stopped the workflow at
    load time (common.smk's checks) unless its entry is {spec: hf:<dir>, optional: true}: skipped, logged."""
    models = {}
    for entry in LM["models"]:
        spec = entry["spec"] if isinstance(entry, dict) else entry
        if spec.startswith("hf:") and not Path(spec[3:]).is_dir():
            print(f"lm: skipping optional model {spec}: directory {spec[3:]} does not exist", file=sys.stderr)
            continue
        models[lm_model_name(spec)] = spec
    return models


def lm_text_tasks():
    """Names of the text tasks used here. A csv/jsonl task without its file stopped the workflow at
    load time unless it is marked `optional: true`: skipped, logged."""
    tasks = []
    for name, task in LM["tasks"].items():
        if task["source"] in ("csv", "jsonl") and not (task["path"] and Path(task["path"]).is_file()):
            print(f"lm: skipping optional task {name}: source {task['source']} needs a user file, "
                  f"and path {task['path']!r} does not exist", file=sys.stderr)
            continue
        tasks.append(name)
    return tasks


def lm_user_files(model, task=None):
    """The user's files a job on (model, task) reads, as inputs, so that editing them reruns it:
    every file of an hf:<dir> model's directory and a csv/jsonl task's file."""
    spec = LM_MODELS.get(model, "")
    files = sorted(str(p) for p in Path(spec[3:]).iterdir() if p.is_file()) if spec.startswith("hf:") else []
    if task in LM["tasks"] and LM["tasks"][task]["source"] in ("csv", "jsonl"):
        files.append(LM["tasks"][task]["path"])
    return files


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
    """The converted SmolLM2 directory, or an hf:<dir> model's files (read where they are), plus
    the task's user file if it has one (wildcards.task, when the rule has it). SmolLM2's directory
    stays first: the package reads inputs[0] as it (load_lm ignores the path of hf specs)."""
    smollm2 = [LM_SMOLLM2_DIR] if LM_MODELS[wildcards.model] == "smollm2" else []
    return smollm2 + lm_user_files(wildcards.model, getattr(wildcards, "task", None))


def lm_text_params(wildcards, extra=None):
    spec = LM_MODELS[wildcards.model]
    return as_json({"spec": spec, "model_name": wildcards.model,
                    "task_name": wildcards.task, "task": LM["tasks"][wildcards.task], "eval": LM["eval"],
                    **(extra or {})})


def lm_finetune_params(wildcards):
    return lm_text_params(wildcards, {"finetune": LM["finetune"]})
