"""The plan of a run: every training run of every study and every analysis job, from the config.

The registry of studies (`STUDIES`, `Study`, `REPORT_CATEGORIES`, `FIGURES`, `TABLE_TARGETS`)
lives in icl_study/registry.py and is re-exported here for the rule files. Snakemake's rule files read this module and nothing else to know what to train and
analyse: `Plan(config).runs` holds every training run (study, run name, full run config, seeds of
a group job); the per-study properties hold the analysis jobs (their wildcard values, inputs and
params); `targets` and `REPORT_CATEGORIES` are what `rule all` asks for and how the report groups
it.
Torch-free and cheap: Snakemake builds the plan every time it parses the workflow (also `-n`).

A run's results live in `results/<study>/<name>/` (model.pt, train_metrics.csv); a group's runs,
trained in one job (one torch import for all its seeds), in `results/<study>/<name>_s<seed>/`.
Config checks that the schema cannot express and that need the plan (names that refer to
transience runs, kept steps, lenses per family) raise ConfigError here, with one line naming the key.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from icl_study.config import KIND_PARAMETERS, ConfigError, deep_merge, model_for_kind
from icl_study.registry import (FIGURES, OPTIONAL_FIGURES, REPORT_CATEGORIES, STUDIES, STUDY_RULE_FILES,  # noqa: F401
                                TABLE_TARGETS, Study, resolve)
from icl_study.tasks.io import model_io

NO_MATCH = "(?!x)x"  # a wildcard pattern for an empty list: the rule then claims no file
SMOLLM2_DIR = "resources/lm/smollm2-135m"  # the converted SmolLM2 (studies.lm:convert_rule)
GEMMA3_DIR = "resources/lm/gemma3-270m"  # the converted Gemma-3-270M base (studies.lm:convert_gemma3_rule)
PACKAGED_LMS = {"smollm2": ("smollm2-135m", SMOLLM2_DIR), "gemma3": ("gemma3-270m", GEMMA3_DIR)}  # spec: (name, dir)
DAI_VARIANTS = ["trained", "untrained"]
DAI_TABLES = ["examples", "layers", "dual"]
REN_LENS_TABLES = ["kernel", "dual_identity", "dual_steps", "generalisation", "generalisation_fit"]
LENSES_REGRESSION_ONLY = ("spd", "probe")


def as_json(value) -> str:
    """A config slice as a canonical JSON string: the form rules pass to the package as params."""
    return json.dumps(value, sort_keys=True)


def pattern(names) -> str:
    """A wildcard constraint matching exactly `names` (and nothing when there are none)."""
    return "|".join(re.escape(str(name)) for name in names) or NO_MATCH


def lookup(table: dict, wildcard: str = "run"):
    """An input function: `table[wildcards.<wildcard>]`."""
    return lambda wildcards: table[wildcards[wildcard]]


def caption(name: str) -> str:
    """A figure's report caption, rendered into the run's results/report/ by rule caption.

    Absolute, because Snakemake resolves a relative caption against the rule file's folder, while
    the rendered caption lives in the working directory (they differ under --directory)."""
    return os.path.abspath(f"results/report/{name}.rst")


def figure_paths(names) -> list[str]:
    return [f"results/figures/{name}.{ext}" for name in names for ext in ("png", "pdf")]


# --- the text models and tasks of the LM studies ---------------------------------------------------


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


# --- training runs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One training job: `config` ({task, task_config, model, train}) trained once, or, for a group
    (`seeds` non-empty), once per seed with train.seed set, into `member` (`<name>_s<seed>`)."""

    study: str
    name: str
    config: dict
    seeds: tuple[int, ...] = ()
    runtime: int = 60  # minutes a job may take (SLURM)
    member: str = "{name}_s{seed}"  # a group member's run name

    @property
    def params(self) -> str:
        """The params of `train:train_rule` (a run) or `train:train_seeds_rule` (a group)."""
        return as_json({"run": self.config, "seeds": list(self.seeds)} if self.seeds else self.config)

    @property
    def gpus(self) -> int:
        """1 when the run sets train.device: cuda (SLURM: --gpus=1; locally `--resources gpu=N`)."""
        return 1 if self.config["train"].get("device") == "cuda" else 0

    @property
    def members(self) -> list[str]:
        """Run names whose results/<study>/<name>/model.pt this job writes."""
        return [self.member.format(name=self.name, seed=seed) for seed in self.seeds] if self.seeds else [self.name]


def run_config(task: str, task_config: dict, model: dict, train: dict, where: str = "model") -> dict:
    """A run's config, the model's widths and sequence length filled in from the task (a config
    that states one of them must state the task's value; `where` names its model block)."""
    io = model_io(task, task_config)
    for key, value in io.items():
        if key in model and model[key] != value:
            raise ConfigError(f"{where}.{key}: must be {value} for the {task} task, got {model[key]} "
                              f"(it is derived from the task: leave it out)")
    return {"task": task, "task_config": task_config, "model": {**model, **io}, "train": train}


def lsa_model(n_dims: int, n_points: int, d_model: int | None = None) -> dict:
    """The one-layer, one-head linear self-attention on (x, y) pair tokens (von Oswald et al.):
    the hand-built GD construction's shape and the trained LSA's. d_model defaults to d + 1."""
    return {"n_layer": 1, "n_head": 1, "d_model": d_model or n_dims + 1, "d_mlp": 0, "n_positions": n_points,
            "attention": "linear", "layer_norm": False, "n_dims_in": n_dims + 1, "n_dims_out": 1,
            "positions": "none"}


def sweep_runs(sweep: dict | None) -> dict[str, dict]:
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


def linreg_runs(section: dict) -> list[Run]:
    """Every named run and sweep cell (task/model/train with the run's overrides), and the
    1-layer linear self-attention of linreg.gd on pair tokens ("gd/lsa")."""
    base = {key: section[key] for key in ("task", "model", "train")}
    runs = []
    for name, overrides in {**section["runs"], **sweep_runs(section.get("sweep"))}.items():
        merged = deep_merge(base, overrides)
        runs.append(Run("linreg", name, run_config("regression", merged["task"], merged["model"], merged["train"], "linreg.model")))
    gd = section["gd"]
    task = deep_merge(section["task"], gd["task"])
    # torch init: at GPT-2's N(0, 0.02) the product of six small matrices barely moves
    model = {**lsa_model(task["n_dims"], task["n_points"], gd["d_model"]), "vocab_size": 0, "init": "torch"}
    lsa = run_config("regression_pairs", task, model, deep_merge(section["train"], gd["train"]), "linreg.gd")
    return runs + [Run("linreg", "gd/lsa", lsa, runtime=30)]


def log_steps(total: int, n: int, first: int = 10) -> list[int]:
    """About `n` distinct integer steps spaced evenly in log between `first` and `total`."""
    import numpy as np

    if total <= first:
        return [total]
    steps = np.unique(np.round(np.geomspace(first, total, n)).astype(int))
    return [int(s) for s in steps]


def run_tag(size: str, weight_decay: float, seed: int) -> str:
    """The directory name of one transience run: `<size>/wd<weight_decay>/seed<seed>`."""
    return f"{size}/wd{weight_decay:g}/seed{seed}"


def transience_runs(section: dict) -> list[tuple[str, str, float, int]]:
    """(dataset, size, weight_decay, seed) of every run: the weight-decay sweep at the base size and
    the size sweep at the first weight decay (`full_grid`: every combination), for each seed; each
    arm's weight decays x its own seeds (the arm's name stands in the size's place); plus the
    regression runs (size "pool": their own model; `regression_seeds`, default `seeds`)."""
    decays, sizes, base = section["weight_decays"], list(section["sizes"]), section["base_size"]
    pairs = [(s, wd) for s in sizes for wd in decays] if section["full_grid"] else \
        [(base, wd) for wd in decays] + [(s, decays[0]) for s in sizes if s != base]
    out = [("bursty", s, wd, seed) for s, wd in pairs for seed in section["seeds"]]
    for name, arm in section.get("arms", {}).items():
        out += [("bursty", name, wd, seed) for wd in arm["weight_decays"] for seed in arm["seeds"]]
    reg_seeds = section.get("regression_seeds", section["seeds"])
    out += [("regression", "pool", wd, seed) for wd in section["regression_weight_decays"] for seed in reg_seeds]
    return out


def transience_run_params(section: dict, dataset: str, size: str, weight_decay: float, seed: int) -> dict:
    """The `train:train_rule` params of one transience run.

    `dataset` is `bursty` or `regression`; the model size's overrides, the weight decay and the
    seed are merged into that dataset's task/model/train, and log-spaced `eval_steps` (evaluators)
    and `keep_steps` (checkpoints) are filled in from `n_eval_points` / `n_keep_checkpoints`.
    """
    base = section[dataset]
    arm = section.get("arms", {}).get(size) if dataset == "bursty" else None
    if arm is not None:  # an arm: its size's model and budget, with its own task overrides
        base = {**base, "task": deep_merge(base["task"], arm.get("task", {}))}
        size = arm["size"]
    if dataset == "regression":  # one model for the regression runs: size sweeps are bursty-only
        model = base["model"]
    elif size in section["sizes"]:
        model = deep_merge(base["model"], section["sizes"][size])
    else:
        raise ConfigError(f"transience.sizes: unknown size {size!r}")
    train = deep_merge(base["train"], {"weight_decay": weight_decay, "seed": seed})
    steps = train["steps"]
    task = {**base["task"], "eval_steps": log_steps(steps, section["n_eval_points"])}
    train["keep_steps"] = log_steps(steps, section["n_keep_checkpoints"], first=100)
    return run_config("bursty" if dataset == "bursty" else "pool_regression", task, model, train,
                      f"transience.{dataset}.model")


def ren_runs(section: dict) -> list[Run]:
    """One group per attention kind and task, trained once per seed in one job: "{kind}_s{seed}" on
    the regression task and "corpus_{kind}_s{seed}" on pipeline-gpt's token corpus. A job per group,
    not per seed, pays for torch's import once: on a 2-core machine ~5 s of a ~20 s run."""
    variants, corpus = section["variants"], section["corpus"]
    seeds = tuple(variants["seeds"])
    runs = []
    for kind in variants["kinds"]:
        runs.append(Run("ren", kind, run_config("regression", variants["task"], model_for_kind(variants["model"], kind),
                                                variants["train"], "ren.variants.model"), seeds))
        runs.append(Run("ren", f"corpus_{kind}", run_config("concepts", corpus["task"],
                                                            model_for_kind(corpus["model"], kind), corpus["train"],
                                                            "ren.corpus.model"), seeds))
    return runs + ren_grid_runs(section)


def ren_grid_runs(section: dict) -> list[Run]:
    """The variants' parameter grid (ren.grid.values): one seed group per kind and value other than
    the one in variants.model, named "{kind}_{parameter}{value}", at the variants' task and budget."""
    variants, runs = section["variants"], []
    for kind, values in section["grid"]["values"].items():
        if kind not in variants["kinds"]:
            raise ConfigError(f"ren.grid.values.{kind}: not one of ren.variants.kinds {variants['kinds']}")
        (parameter,) = KIND_PARAMETERS[kind]
        for value in values:
            if value == variants["model"].get(parameter):  # that model is the kind's own run
                continue
            model = model_for_kind({**variants["model"], parameter: value}, kind)
            runs.append(Run("ren", f"{kind}_{parameter}{value:g}",
                            run_config("regression", variants["task"], model, variants["train"], "ren.variants.model"),
                            tuple(variants["seeds"])))
    return runs


def dai_runs(section: dict) -> list[Run]:
    """Momentum comparison: one pipeline-gpt pretraining per attention kind and seed."""
    momentum = section["momentum"]
    model = {**momentum["model"], "momentum_eta": momentum["eta"]}
    return [Run("dai", f"momentum/{kind}_s{seed}",
                run_config("concepts", momentum["task"], model_for_kind(model, kind), {**momentum["train"], "seed": seed},
                           "dai.momentum.model"),
                runtime=20)
            for kind in ("softmax", "momentum") for seed in momentum["seeds"]]


def lm_runs(section: dict) -> list[Run]:
    """pipeline-gpt: the small GPT pretrained on the concept corpus, read by lm, dai and shen."""
    gpt = section["pipeline_gpt"]
    return [Run("lm", "pipeline-gpt", run_config("concepts", gpt["task"], gpt["model"], gpt["train"], "lm.pipeline_gpt.model"), runtime=30)]


def diversity_runs(section: dict) -> list[Run]:
    """One seed group per pool size M, all at one budget, into M<M>/seed<seed>; log-spaced
    evaluator steps, and kept checkpoints for the transient-ridge runs (M = transient_pool_size).
    The section's defaults live in settings/diversity.py's DiversityConfig."""
    from icl_study.settings.diversity import settings

    cfg = settings(section)
    steps = cfg.train["steps"]
    runs = []
    for pool_size in cfg.pool_sizes:
        task = {**cfg.task, "pool_size": pool_size, "eval_steps": log_steps(steps, cfg.n_eval_points)}
        keep = log_steps(steps, cfg.n_keep_checkpoints, first=20) if pool_size == cfg.transient_pool_size else []
        config = run_config("pool_regression", task, cfg.model, {**cfg.train, "keep_steps": keep}, "diversity.model")
        runs.append(Run("diversity", f"M{pool_size}", config, tuple(cfg.seeds), runtime=30, member="{name}/seed{seed}"))
    return runs


def transience_training(section: dict) -> list[Run]:
    """Every transience run (`transience_runs`), named `<dataset>/<size>/wd<wd>/seed<seed>`."""
    return [Run("transience", f"{dataset}/{run_tag(size, wd, seed)}",
                transience_run_params(section, dataset, size, wd, seed))
            for dataset, size, wd, seed in transience_runs(section)]


# --- the registry of studies ---------------------------------------------------------------------


def lens_family_kind(family: str, section: dict) -> str:
    """A lens family's kind, which decides its lenses and its ICL metric: a transience family is
    named after its dataset (bursty | regression); a diversity family is finite-pool regression."""
    return "regression" if section.get("study") == "diversity" else family


@dataclass(frozen=True)
class TrainingRule:
    """The shape of one generated training rule (workflow/rules/train.smk)."""

    study: str
    group: bool
    name: str
    seeds: tuple[int, ...] = ()
    member: str = "{name}_s{seed}"

    @property
    def wildcard(self) -> str:
        return "group" if self.group else "run"

    @property
    def param(self) -> str:
        """The name of the params the rule passes: a run config (`run`), or a group job (`job`)."""
        return "job" if self.group else "run"

    def outputs(self) -> dict:
        """The rule's named outputs: model and metrics of a run, or models and metrics (one per seed)
        of a group."""
        if self.group:
            members = [self.member.format(name="{group}", seed=seed) for seed in self.seeds]
            return {"models": [f"results/{self.study}/{m}/model.pt" for m in members],
                    "metrics": [f"results/{self.study}/{m}/train_metrics.csv" for m in members]}
        return {"model": f"results/{self.study}/{{run}}/model.pt",
                "metrics": f"results/{self.study}/{{run}}/train_metrics.csv"}


# --- the plan ------------------------------------------------------------------------------------


@dataclass
class Plan:
    """Every run and analysis job of one config (built once per workflow parse); `root` is the
    repository, where the caption and docs templates are."""

    config: dict
    root: Path = Path(".")

    # training

    @cached_property
    def runs(self) -> list[Run]:
        """Every training job of every study; a run name (a group's member names) is unique."""
        runs = [run for study in STUDIES for run in study.training_runs(self.config.get(study.name))]
        names = [(run.study, member) for run in runs for member in run.members]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ConfigError(f"{twice[0][0]}: run {twice[0][1]!r} is declared twice")
        return runs

    def training(self, study: str, group: bool) -> dict[str, Run]:
        """{name: run} of a study's single runs (group False) or seed groups (group True)."""
        return {run.name: run for run in self.runs if run.study == study and bool(run.seeds) == group}

    def training_lookup(self, study: str, group: bool, attribute: str):
        """An input function: one attribute (params, runtime, gpus) of the wildcards' run or group."""
        runs, wildcard = self.training(study, group), "group" if group else "run"
        return lambda wildcards: getattr(runs[wildcards[wildcard]], attribute)

    def training_rules(self) -> list[TrainingRule]:
        """One training rule per study and form: `<study>_train` for its single runs, and for its
        seed groups `<study>_train` too, or `<study>_train_seeds` when it has both forms."""
        rules = []
        for group in (False, True):
            for study in dict.fromkeys(run.study for run in self.runs if bool(run.seeds) == group):
                both = group and self.training(study, group=False)
                name = f"{study}_train_seeds" if both else f"{study}_train"
                if group:
                    members = {run.member for run in self.training(study, group=True).values()}
                    if len(members) != 1:
                        raise ConfigError(f"{study}: its seed groups name their members differently {sorted(members)}")
                    rules.append(TrainingRule(study, group, name, tuple(self.group_seeds(study)), members.pop()))
                else:
                    rules.append(TrainingRule(study, group, name))
        return rules

    def group_seeds(self, study: str) -> list[int]:
        """The seeds of a study's groups: one list per study (its rule's outputs name every seed)."""
        seeds = {run.seeds for run in self.training(study, group=True).values()}
        if len(seeds) != 1:
            raise ConfigError(f"{study}: its seed groups train different seeds {sorted(seeds)}")
        return list(seeds.pop())

    def run_dir(self, study: str, name: str) -> str:
        return f"results/{study}/{name}"

    def run_names(self, study: str) -> list[str]:
        """Names of every trained model of a study (a group's members one by one)."""
        return [member for run in self.runs if run.study == study for member in run.members]

    def check(self) -> None:
        """Build everything once, so a config error stops the workflow at load time; say which
        optional text models and tasks are skipped."""
        text_models(self.config["lm"], log=True)
        text_tasks(self.config["lm"], log=True)
        self.runs
        self.lenses_cells
        for family in self.config["lenses"]["families"]:
            self.lenses_steps(family)

    # report and targets

    def figures(self, study: str) -> list[str]:
        """The study's figures, and those of the optional analyses its config turns on."""
        optional = [name for name, wanted in OPTIONAL_FIGURES.get(study, {}).items() if wanted(self.config)]
        return FIGURES.get(study, []) + optional

    def targets(self, study: str) -> list[str]:
        return figure_paths(self.figures(study)) + TABLE_TARGETS.get(study, [])

    @property
    def all_targets(self) -> list[str]:
        return [path for study in REPORT_CATEGORIES for path in self.targets(study)]

    # linreg

    @property
    def linreg_sweep_runs(self) -> list[str]:
        return list(sweep_runs(self.config["linreg"]["sweep"]))

    @property
    def linreg_matching_runs(self) -> list[str]:
        """Every named run, then every seed of the sweep's lowest-noise cells."""
        section = self.config["linreg"]
        low = f"_noise{min(section['sweep']['noise_std']):g}"
        return list(section["runs"]) + [run for run in self.linreg_sweep_runs if run.rsplit("_s", 1)[0].endswith(low)]

    # lm (text models are lm.models: `smollm2` or `hf:<dir>`, named smollm2-135m or hf-<dir name>)

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

    # dai: per model x task x variant (trained | untrained copy)

    @cached_property
    def dai_text_jobs(self) -> dict[str, dict]:
        """{"{model}/{task}/{variant}": {"params": JSON, "input": files}} of the text-model jobs."""
        dai, lm = self.config["dai"], self.config["lm"]
        pairs = text_model_tasks(self.config, dai["text_tasks"], dai.get("model_tasks"))
        return {f"{m}/{t}/{v}": {"params": as_json({"spec": self.lm_models[m], "model_name": m, "task_name": t,
                                                    "task": lm["tasks"][t], "variant": v,
                                                    "untrained_seed": dai["untrained_seed"], "analysis": dai["text"]}),
                                 "input": self.lm_model_input(m, t)}
                for m, t in pairs for v in DAI_VARIANTS}

    @cached_property
    def dai_concepts_jobs(self) -> dict[str, str]:
        """{"{task}/{variant}": params} of pipeline-gpt's concept-task jobs."""
        dai = self.config["dai"]
        return {f"{t}/{v}": as_json({"task_name": t, "variant": v, "untrained_seed": dai["untrained_seed"],
                                     "analysis": dai["concepts"]})
                for t in dai["concepts_tasks"] for v in DAI_VARIANTS}

    @property
    def dai_tables(self) -> list[str]:
        jobs = list(self.dai_text_jobs) + [f"pipeline-gpt/{job}" for job in self.dai_concepts_jobs]
        return [f"results/dai/{job}/{name}.csv" for job in jobs for name in DAI_TABLES]

    # ren

    @property
    def ren_regression_runs(self) -> list[str]:
        """Every seed of each kind in ren.variants.kinds, at its configured parameter."""
        return [m for kind in self.config["ren"]["variants"]["kinds"] for m in self.training("ren", group=True)[kind].members]

    @property
    def ren_grid_runs(self) -> list[str]:
        """The regression variants at every grid value (their own runs, softmax first, then the grid's)."""
        return [m for run in self.training("ren", group=True).values() if run.config["task"] == "regression"
                for m in run.members]

    @property
    def ren_corpus_runs(self) -> list[str]:
        return [m for run in self.training("ren", group=True).values() if run.config["task"] == "concepts"
                for m in run.members]

    @property
    def ren_lens_run(self) -> str:
        return self.ren_regression_runs[0]  # the first kind's first seed: vanilla softmax

    # shen: every text model on each of shen.tasks, plus pipeline-gpt on its concept episodes

    @property
    def shen_lms(self) -> list[tuple[str, str]]:
        shen = self.config["shen"]
        return text_model_tasks(self.config, shen["tasks"], shen.get("model_tasks")) + [("pipeline-gpt", "concepts")]

    @property
    def shen_linreg_inputs(self) -> list[str]:
        return ["results/linreg/gd/lsa/model.pt"] + [f"results/linreg/{run}/model.pt"
                                                     for run in self.config["shen"]["linreg_runs"]]

    def shen_lm_tables(self, name: str) -> list[str]:
        """Every LM's table `name` (an N-file per demonstration count for `N`)."""
        if name == "N":
            return [f"results/shen/lm/{m}/{t}/N{n}.csv" for m, t in self.shen_lms for n in self.config["shen"]["lm"]["ns"]]
        return [f"results/shen/lm/{m}/{t}/{name}.csv" for m, t in self.shen_lms]

    def shen_model_input(self, model: str, task: str) -> list[str]:
        """pipeline-gpt's checkpoint, or the text model's input (the SmolLM2 directory; none for hf:)."""
        return ["results/lm/pipeline-gpt/model.pt"] if model == "pipeline-gpt" else self.lm_model_input(model, task)

    def shen_lm_params(self, model: str, task: str, n: str | None = None) -> str:
        """One LM job's params: the model, its task and eval split (text), and shen.lm (with
        shen.pipeline_gpt's overrides for pipeline-gpt); N from the {n} wildcard when there is one."""
        shen, lm = self.config["shen"], self.config["lm"]
        extra = {"n_demos": int(n)} if n is not None else {}
        if model == "pipeline-gpt":
            return as_json({"spec": "pipeline-gpt", "model_name": "pipeline-gpt", "task_name": "concepts",
                            "shen": deep_merge(shen["lm"], shen["pipeline_gpt"]), **extra})
        split = {key: lm["eval"][key] for key in ("n_eval", "n_val", "eval_seed")}
        return as_json({"spec": self.lm_models[model], "model_name": model, "task_name": task,
                        "task": lm["tasks"][task], "eval": split, "shen": shen["lm"], **extra})

    # transience

    @property
    def transience_run_dirs(self) -> list[str]:
        return [self.run_dir("transience", run) for run in self.training("transience", group=False)]

    # diversity

    @cached_property
    def diversity_settings(self):
        from icl_study.settings.diversity import settings

        return settings(self.config.get("diversity"))

    @property
    def diversity_metrics(self) -> list[str]:
        return [f"{self.run_dir('diversity', m)}/train_metrics.csv" for m in self.run_names("diversity")]

    @property
    def diversity_layers_models(self) -> list[str]:
        """The models whose layers are read out: every seed at layers.pool_size."""
        run = self.training("diversity", group=True)[f"M{self.diversity_settings.layers.pool_size}"]
        return [f"{self.run_dir('diversity', m)}/model.pt" for m in run.members]

    # lenses: every lens on the kept checkpoints of transience or diversity runs, one job per
    # (family, seed, lens)

    def lenses_run(self, family: str, seed: int) -> tuple[str, str, Run]:
        """(study, run name, the run's training job) of a family's run for one training seed."""
        section = self.config["lenses"]["families"][family]
        study = section.get("study", "transience")
        if study == "diversity":  # a seed group M<pool size>, members M<pool size>/seed<seed>
            name, job = f"{section['run']}/seed{seed}", self.training("diversity", group=True).get(section["run"])
            if job is None or name not in job.members:
                raise ConfigError(f"lenses.families.{family}: {name!r} is not a diversity run")
            return study, name, job
        name = f"{family}/{section['run']}/seed{seed}"  # a transience run: <dataset>/<size or arm>/wd<decay>
        if name not in self.training("transience", group=False):
            raise ConfigError(f"lenses.families.{family}: {name.split('/', 1)[1]!r} is not a transience run")
        return study, name, self.training("transience", group=False)[name]

    def lenses_run_dir(self, family: str, seed: int) -> str:
        """A family's run directory for one training seed (the run must be configured)."""
        study, name, _ = self.lenses_run(family, seed)
        return self.run_dir(study, name)

    def lenses_kind(self, family: str) -> str:
        return lens_family_kind(family, self.config["lenses"]["families"][family])

    @property
    def lenses_kinds(self) -> dict[str, str]:
        return {family: self.lenses_kind(family) for family in self.config["lenses"]["families"]}

    def lenses_steps(self, family: str) -> list[int]:
        """The family's kept checkpoint steps (all, or the configured subset of them)."""
        section = self.config["lenses"]["families"][family]
        _, _, job = self.lenses_run(family, section["seeds"][0])
        kept, wanted = job.config["train"]["keep_steps"], section["steps"]
        if not kept:
            raise ConfigError(f"lenses.families.{family}: its run keeps no checkpoints")
        missing = sorted(set(wanted) - set(kept))
        if missing:
            raise ConfigError(f"lenses.families.{family}.steps: {missing} not kept (kept: {kept})")
        return sorted(wanted) if wanted else kept

    def lenses_of(self, family: str) -> list[str]:
        lenses = self.config["lenses"]["families"][family]["lenses"]
        wrong = [lens for lens in lenses if lens in LENSES_REGRESSION_ONLY and self.lenses_kind(family) != "regression"]
        if wrong:
            raise ConfigError(f"lenses.families.{family}.lenses: {wrong} apply to regression only")
        return lenses

    @property
    def lenses_curves(self) -> dict[str, list[str]]:
        """{family: the training logs of its runs}: the ICL curves the over-training figure draws."""
        families = self.config["lenses"]["families"]
        return {family: [f"{self.lenses_run_dir(family, seed)}/train_metrics.csv" for seed in families[family]["seeds"]]
                for family in families}

    @cached_property
    def lenses_cells(self) -> list[tuple[str, int, str]]:
        """(family, training seed, lens) of every cell; one job each, over every kept step (one
        process per cell pays for importing torch once, not once per checkpoint)."""
        families = self.config["lenses"]["families"]
        return [(family, seed, lens) for family in families for seed in families[family]["seeds"]
                for lens in self.lenses_of(family)]

    @property
    def lenses_tables(self) -> list[str]:
        return [f"results/lenses/{family}/seed{seed}/{lens}.csv" for family, seed, lens in self.lenses_cells]

    def lenses_cell_params(self, family: str, seed: str, lens: str) -> str:
        """A cell's params: its coordinates, its own lens's settings, the bootstrap size and the lens
        seed (the same episodes for every training seed: the seeds differ only in the model)."""
        lenses = self.config["lenses"]
        settings = {} if lens == "evaluators" else lenses[lens]
        return as_json({"family": family, "member": f"seed{seed}", "steps": self.lenses_steps(family),
                        "lens": lens, "settings": settings, "n_boot": lenses["n_boot"], "seed": lenses["seed"]})

    # the claims ledger: its inputs are the union of the claims' tables
