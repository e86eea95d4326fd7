"""The LM substrate's part of the plan (torch-free, the plan's layer): the text models and tasks of
the LM studies, pipeline-gpt's run, and `LmPlan`, its jobs' properties, mixed into `Plan`.
"""

from __future__ import annotations

import sys
from functools import cached_property
from pathlib import Path

from icl_study.plan import Figure, TrainingJob, as_json, make_run_config

# its figures' names (results/figures/<name>.png and .pdf), written here only: the claims import them
LM_ICL_VS_K_FIGURE = "lm_icl_vs_k"

SMOLLM2_DIR = "resources/lm/smollm2-135m"  # the converted SmolLM2 (studies.lm:convert_rule)
GEMMA3_DIR = "resources/lm/gemma3-270m"  # the converted Gemma-3-270M base (studies.lm:convert_gemma3_rule)
PACKAGED_LMS = {"smollm2": ("smollm2-135m", SMOLLM2_DIR), "gemma3": ("gemma3-270m", GEMMA3_DIR)}  # spec: (name, dir)


def lm_model_name(spec: str) -> str:
    """The name of a text model in result paths: smollm2-135m, gemma3-270m, or hf-<directory name>."""
    return PACKAGED_LMS[spec][0] if spec in PACKAGED_LMS else f"hf-{Path(spec[3:]).name}"


def text_models(lm: dict, log: bool = False) -> dict[str, str]:
    """{name: spec} of the text models used (`smollm2` or `hf:<dir>`, named smollm2-135m or
    hf-<dir name>). A missing hf: directory stopped the workflow at load time (icl_study.checks)
    unless its entry is {spec: hf:<dir>, optional: true}: skipped (`log`: said on stderr)."""
    models = {}
    for entry in lm.get("models") or []:
        spec = entry["spec"] if isinstance(entry, dict) else entry
        if spec.startswith("hf:") and not Path(spec[3:]).is_dir():
            if log:
                print(f"lm: skipping optional model {spec}: directory {spec[3:]} does not exist", file=sys.stderr)
            continue
        models[lm_model_name(spec)] = spec
    return models


def text_tasks(lm: dict, log: bool = False) -> list[str]:
    """Names of the text tasks used. A csv/jsonl task without its file stopped the workflow at
    load time unless it is marked `optional: true`: skipped (`log`: said on stderr)."""
    tasks = []
    for name, task in lm["tasks"].items():
        if task["source"] in ("csv", "jsonl") and not (task.get("path") and Path(task["path"]).is_file()):
            if log:
                print(f"lm: skipping optional task {name}: source {task['source']} needs a user file, "
                      f"and path {task.get('path')!r} does not exist", file=sys.stderr)
            continue
        tasks.append(name)
    return tasks


def text_model_tasks(config: dict, tasks, overrides: dict | None) -> list[tuple[str, str]]:
    """(model name, task) pairs a section runs: each text model on `overrides[name]` where the
    section's `model_tasks` lists it, else on `tasks`; only tasks lm runs (text_tasks)."""
    available = text_tasks(config["lm"])
    return [(model, task) for model in text_models(config["lm"])
            for task in (overrides or {}).get(model, tasks) if task in available]


def lm_runs(section: dict) -> list[TrainingJob]:
    """pipeline-gpt: the small GPT pretrained on the concept corpus, read by lm, dai and shen."""
    gpt = section["pipeline_gpt"]
    return [TrainingJob("lm", "pipeline-gpt", make_run_config("concepts", gpt["task"], gpt["model"], gpt["train"], "lm.pipeline_gpt.model"), runtime=30)]


class LmPlan:
    """lm's jobs: a mixin of `Plan` (text models are lm.models: `smollm2` or `hf:<dir>`, named
    smollm2-135m or hf-<dir name>)."""

    def lm_check(self) -> None:
        """Say which optional text models and tasks are skipped (Plan.check)."""
        text_models(self.config["lm"], log=True)
        text_tasks(self.config["lm"], log=True)

    @cached_property
    def lm_models(self) -> dict[str, str]:
        return text_models(self.config["lm"])

    @cached_property
    def lm_tasks(self) -> list[str]:
        return text_tasks(self.config["lm"])

    @cached_property
    def lm_pairs(self) -> list[tuple[str, str]]:
        """(model, task) of the ICL-vs-k jobs: lm.model_tasks per model, else every task."""
        return text_model_tasks(self.config, self.lm_tasks, self.config["lm"].get("model_tasks"))

    def lm_model_input(self, model: str, task: str | None = None) -> list[str]:
        """The converted SmolLM2 directory, or an hf:<dir> model's files (read where they are), plus
        a csv/jsonl task's file: editing a user file reruns the jobs that read it. SmolLM2's
        directory stays first: the package reads inputs[0] as it (load_lm ignores the path of hf specs)."""
        spec = self.lm_models.get(model, "")
        files = [PACKAGED_LMS[spec][1]] if spec in PACKAGED_LMS else []
        if spec.startswith("hf:"):
            files += sorted(str(p) for p in Path(spec[3:]).iterdir() if p.is_file())
        tasks = self.config["lm"]["tasks"]
        if task in tasks and tasks[task]["source"] in ("csv", "jsonl"):
            files.append(tasks[task]["path"])
        return files

    def lm_text_params(self, model: str, task: str, finetune: bool = False) -> str:
        lm = self.config["lm"]
        extra = {"finetune": lm["finetune"]} if finetune else {}
        return as_json({"spec": self.lm_models[model], "model_name": model, "task_name": task,
                        "task": lm["tasks"][task], "eval": lm["eval"], **extra})

    @property
    def lm_accuracy_inputs(self) -> list[str]:
        lm = self.config["lm"]
        tables = [f"results/lm/icl/{m}/{t}.csv" for m, t in self.lm_pairs]
        if lm["finetune"]["demo_seeds"]:
            tables += [f"results/lm/finetune/{m}/{t}.csv" for m, t in self.lm_pairs if t == lm["finetune"]["task"]]
        return tables + ["results/lm/icl/pipeline-gpt/concepts.csv"]

    def lm_figures(self) -> list[Figure]:
        return [Figure(LM_ICL_VS_K_FIGURE, ["results/lm/accuracy.csv"], "plots.lm:icl_vs_k_rule")]
