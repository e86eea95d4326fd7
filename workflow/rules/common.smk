"""Config validation and helpers shared by every study's rules (no torch import here)."""

import json
from pathlib import Path

from icl_study.checks import check_workflow_config
from icl_study.config import ConfigError, deep_merge, model_for_kind, validate_workflow_config

# The shared schema; each study's part lies in schemas/studies/ beside it.
SCHEMA = Path(workflow.current_basedir).parent / "schemas" / "config.schema.yaml"

try:
    validate_workflow_config(config, str(SCHEMA))
    check_workflow_config(config)  # what the schema cannot express: cross-references, files, finite numbers
except ConfigError as err:
    raise SystemExit(f"icl_study: config error: {err}")


wildcard_constraints:
    run=r"[A-Za-z0-9][A-Za-z0-9_.-]*",


def as_json(value):
    """A config slice as a canonical JSON string: the form rules pass to the package as params."""
    return json.dumps(value, sort_keys=True)


def run_settings(study, run):
    """The study's task/model/train settings with one run's overrides merged in."""
    section = config[study]
    base = {key: section[key] for key in ("task", "model", "train")}
    return deep_merge(base, study_runs(study)[run])


def study_runs(study):
    """A study's named runs: its `runs`, plus one per cell of its `sweep` if it has one."""
    section = config[study]
    return {**section["runs"], **sweep_runs(section.get("sweep"))}


def sweep_runs(sweep):
    """{"L{n_layer}_noise{noise_std}[_s{seed}]": overrides} for each cell (and seed) of a depth x noise sweep.

    Each cell is the sweep's own `overrides` (its scale) with model.n_layer and task.noise_std set,
    so `--configfile` widening the two lists widens the sweep without code changes. The first of
    `seeds` keeps the plain cell name (other studies, e.g. shen, read those checkpoints); the cells
    at a noise level in `seeded_noise_std` also train every further seed as "<cell>_s{seed}".
    """
    if not sweep:
        return {}
    seeds = sweep.get("seeds", [0])
    seeded = sweep.get("seeded_noise_std", sweep["noise_std"])
    runs = {}
    for n_layer in sweep["n_layer"]:
        for noise_std in sweep["noise_std"]:
            cell = f"L{n_layer}_noise{noise_std:g}"
            for i, seed in enumerate(seeds if noise_std in seeded else seeds[:1]):
                runs[cell if i == 0 else f"{cell}_s{seed}"] = deep_merge(
                    sweep["overrides"],
                    {"model": {"n_layer": n_layer}, "task": {"noise_std": noise_std}, "train": {"seed": seed}},
                )
    return runs


def run_params(study, task):
    """An input function for a training rule: the {run}'s full run config as JSON params."""

    def params(wildcards):
        settings = run_settings(study, wildcards.run)
        return as_json({"task": task, "task_config": settings["task"], "model": settings["model"], "train": settings["train"]})

    return params


def train_gpus(study):
    """Resource `gpu` of a study's training rule: 1 when the run's tier sets train.device: cuda.

    On SLURM the plugin turns it into --gpus=1; locally `--resources gpu=N` caps GPU jobs at once.
    """

    def gpus(wildcards):
        return 1 if run_settings(study, wildcards.run)["train"]["device"] == "cuda" else 0

    return gpus


def run_gpus(run):
    """Resource `gpu` of any training rule, from its `params.run`: a run-config JSON string or a
    function of wildcards returning one (or a job {"run": run config, "seeds": [...]}). 1 when the
    run sets train.device: cuda, else 0."""

    def gpus(wildcards):
        text = run(wildcards) if callable(run) else run
        cfg = json.loads(text)
        return 1 if cfg.get("run", cfg)["train"].get("device") == "cuda" else 0

    return gpus


def lookup(table, wildcard="run"):
    """An input function: `table[wildcards.<wildcard>]`, e.g. the params of generated runs."""

    def value(wildcards):
        return table[wildcards[wildcard]]

    return value
