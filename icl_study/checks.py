"""Load-time checks of the whole workflow config that the JSON schema cannot express (no torch).

The workflow (`common.smk`) calls `check_workflow_config(config)` right after the schema check, so each of these
stops `snakemake` (also `-n`) with one line naming the key, instead of a failing job or an
InputFunctionException traceback later:

- numbers that are not finite (`.nan`, `.inf` pass the schema's minimums);
- training settings: integer step counts (YAML `1e21` is a float), `warmup_steps` and
  `keep_steps` within `steps`, `d_model` divisible by `n_head`;
- linear regression: each run's sequence fits `model.n_positions`, `knn_k` below the largest k;
- names that refer to other keys: `shen.linreg_runs`, `transience.base_size`, text tasks named by
  `dai`, `shen` and `lm.finetune`;
- user data (`lm.tasks.<name>.path`, `hf:<dir>` models): present unless marked optional, and no
  two models with the same result name.
"""

from __future__ import annotations

import math
from pathlib import Path

from icl_study.config import ConfigError, deep_merge
from icl_study.studies.linreg_plan import sweep_runs
from icl_study.studies.lm_plan import lm_model_name

def check_workflow_config(config: dict) -> None:
    """Raise a one-line ConfigError naming the key of the first problem found."""
    check_finite(config)
    for path, section in training_sections(config):
        check_training_section(section, path)
    if "linreg" in config:
        check_linreg(config["linreg"])
    check_names(config)
    if "lm" in config:
        check_lm_files(config["lm"])


def check_finite(value, path: str = "") -> None:
    """Every float anywhere in the config is finite."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_finite(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_finite(item, f"{path}[{index}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{path}: {value} is not a finite number")


def training_sections(config: dict, path: str = "", inherited: dict | None = None):
    """(dotted path, merged section) for every mapping that sets `model` or `train`, each merged
    over the nearest enclosing such section (as a run's overrides are merged over its study's)."""
    inherited = inherited or {}
    here = inherited
    if any(isinstance(config.get(key), dict) for key in ("model", "train")):
        here = deep_merge(inherited, {k: v for k, v in config.items() if k in ("task", "model", "train")})
        yield path, here
    for key, value in config.items():
        if isinstance(value, dict) and key not in ("task", "model", "train"):
            yield from training_sections(value, f"{path}.{key}" if path else str(key), here)


def check_training_section(section: dict, path: str) -> None:
    train, model = section.get("train") or {}, section.get("model") or {}
    steps = train.get("steps")
    if steps is not None:
        if train.get("warmup_steps", 0) > steps:
            raise ConfigError(f"{path}.train.warmup_steps: {train['warmup_steps']} is more than train.steps {steps}")
        late = [s for s in train.get("keep_steps") or [] if not isinstance(s, int) or s > steps or s < 1]
        if late:
            raise ConfigError(f"{path}.train.keep_steps: {late[0]!r} is not a step of 1..train.steps ({steps})")
    if model.get("d_model") and model.get("n_head") and model["d_model"] % model["n_head"]:
        raise ConfigError(f"{path}.model.d_model: {model['d_model']} is not divisible by model.n_head {model['n_head']}")


def linreg_run_names(section: dict) -> dict[str, dict]:
    """{run name: overrides} of the linreg study: its `runs` plus the sweep's cells (every seed),
    named as the plan names them (L{n_layer}_noise{noise_std:g}[_s{seed}])."""
    return {**(section.get("runs") or {}), **sweep_runs(section.get("sweep"))}


def check_linreg(section: dict) -> None:
    """Each run's (x, y) sequence fits the model; kNN uses fewer neighbours than the largest context."""
    base = {key: section.get(key) or {} for key in ("task", "model", "train")}
    for name, overrides in linreg_run_names(section).items():
        run = deep_merge(base, overrides)
        n_points, n_positions = run["task"].get("n_points"), run["model"].get("n_positions")
        where = "linreg.sweep" if name not in (section.get("runs") or {}) else f"linreg.runs.{name}"
        if n_points and n_positions and 2 * n_points > n_positions:
            raise ConfigError(f"{where}: model.n_positions {n_positions} is shorter than the 2 x task.n_points = "
                              f"{2 * n_points} tokens of run {name}")
    n_points = base["task"].get("n_points")
    for key in ("eval", "matching"):
        knn_k = (section.get(key) or {}).get("knn_k")
        if knn_k and n_points and knn_k > n_points - 1:
            raise ConfigError(f"linreg.{key}.knn_k: {knn_k} neighbours, but a context holds at most "
                              f"task.n_points - 1 = {n_points - 1} examples")


def check_names(config: dict) -> None:
    """Names in one section that must be keys of another."""
    linreg_runs = set(linreg_run_names(config["linreg"])) if "linreg" in config else set()
    for run in (config.get("shen") or {}).get("linreg_runs", []):
        if run not in linreg_runs:
            raise ConfigError(f"shen.linreg_runs: {run!r} is not a linreg run (runs and sweep cells: "
                              f"{', '.join(sorted(linreg_runs))})")
    transience = config.get("transience") or {}
    if "base_size" in transience and transience["base_size"] not in (transience.get("sizes") or {}):
        raise ConfigError(f"transience.base_size: {transience['base_size']!r} is not one of transience.sizes "
                          f"({', '.join(transience.get('sizes') or {})})")
    tasks = set((config.get("lm") or {}).get("tasks") or {})
    named = [("dai.text_tasks", t) for t in (config.get("dai") or {}).get("text_tasks", [])]
    named += [("shen.tasks", t) for t in (config.get("shen") or {}).get("tasks", [])]
    for section in ("lm", "dai", "shen"):
        for model, listed in ((config.get(section) or {}).get("model_tasks") or {}).items():
            named += [(f"{section}.model_tasks.{model}", t) for t in listed]
    finetune = ((config.get("lm") or {}).get("finetune") or {}).get("task")
    named += [("lm.finetune.task", finetune)] if finetune else []
    for key, task in named:
        if task not in tasks:
            raise ConfigError(f"{key}: {task!r} is not a task of lm.tasks ({', '.join(sorted(tasks))})")


def check_lm_files(lm: dict) -> None:
    """User files the LM studies read exist (unless the config marks them optional), and no two
    models share a result name (hf:/a/gpt2 and hf:/b/gpt2 would both write results/lm/.../hf-gpt2)."""
    for name, task in (lm.get("tasks") or {}).items():
        if task.get("source") in ("csv", "jsonl") and not task.get("optional"):
            path = task.get("path")
            if not path or not Path(path).is_file():
                raise ConfigError(f"lm.tasks.{name}.path: {path!r} is not a file (source {task['source']} reads a "
                                  f"user file; set lm.tasks.{name}.optional: true to skip the task when it is absent)")
    seen = {}
    for spec in lm.get("models") or []:
        spec, optional = (spec["spec"], spec.get("optional", False)) if isinstance(spec, dict) else (spec, False)
        if spec.startswith("hf:") and not optional and not Path(spec[3:]).is_dir():
            raise ConfigError(f"lm.models: {spec}: directory {spec[3:]!r} does not exist (write "
                              f"{{spec: {spec}, optional: true}} to skip the model when it is absent)")
        if spec.startswith("hf:") and Path(spec[3:]).is_dir():
            check_hf_dir(spec)
        name = lm_model_name(spec)
        if name in seen:
            if spec.startswith("hf:") and Path(seen[name][3:]).resolve() == Path(spec[3:]).resolve():
                raise ConfigError(f"lm.models: {seen[name]} and {spec} are the same directory: list it once")
            raise ConfigError(f"lm.models: {seen[name]} and {spec} would both be named {name} in results/lm/: "
                              f"rename one directory")
        seen[name] = spec


# The files of a model saved with save_pretrained: its config and its weights (whole or sharded).
HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")


def check_hf_dir(spec: str) -> None:
    """An `hf:<dir>` that exists holds a saved model (config.json and weights), so a half-copied
    directory stops the workflow at load time instead of a job's traceback."""
    directory = Path(spec[3:])
    if not (directory / "config.json").is_file():
        raise ConfigError(f"lm.models: {spec}: {directory} has no config.json (save the model there with "
                          f"save_pretrained)")
    if not any((directory / name).is_file() for name in HF_WEIGHTS):
        raise ConfigError(f"lm.models: {spec}: {directory} has no weights ({' or '.join(HF_WEIGHTS[:2])}; save the "
                          f"model there with save_pretrained)")
