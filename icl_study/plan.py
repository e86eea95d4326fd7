"""The plan of a run, from the config: the generic part, naming no study.

`TrainingJob` (one training job: a run, or a group of seeds), `make_run_config`, `TrainingRule` and `Figure` (the shapes of the generated
training and figure rules), `Plan` (every study's runs, training and figure rules, `rule all`'s
targets), and the rule files' helpers (`as_json`, `params_option`, `pattern`, `lookup`, `caption`). Each
study declares its part in icl_study/studies/<study>_plan.py, at this module's layer: its runs
(`runs=` in the registry), its figures and a mixin of its jobs' properties (`plan=`), with which
`Plan(config)` is built, so the rule files read `PLAN.<study>_<property>`; config checks that
need the plan raise a one-line ConfigError there. The registry (icl_study/registry.py) is
re-exported for the rule files. Torch-free and cheap: Snakemake builds the plan on every parse.

A run's results live in `results/<study>/<name>/` (model.pt, train_metrics.csv); a group's runs,
trained in one job (one torch import for all its seeds), in `results/<study>/<name>_s<seed>/`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache, cached_property
from pathlib import Path

from icl_study.config import ConfigError
from icl_study.jobs import (NO_MATCH, Analysis, Figure, as_json, caption, lookup, params_option,  # noqa: F401
                            pattern)
from icl_study.registry import (REPORT_CATEGORIES, STUDIES, STUDY_RULE_FILES, TABLE_TARGETS, Study,  # noqa: F401
                                import_ref)
from icl_study.tasks.io import model_io


@dataclass(frozen=True)
class TrainingJob:
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


def make_run_config(task: str, task_config: dict, model: dict, train: dict, where: str = "model") -> dict:
    """A run's config, the model's widths and sequence length filled in from the task (a config
    that states one of them must state the task's value; `where` names its model block)."""
    io = model_io(task, task_config)
    for key, value in io.items():
        if key in model and model[key] != value:
            raise ConfigError(f"{where}.{key}: must be {value} for the {task} task, got {model[key]} "
                              f"(it is derived from the task: leave it out)")
    return {"task": task, "task_config": task_config, "model": {**model, **io}, "train": train}


def log_steps(total: int, n: int, first: int = 10) -> list[int]:
    """About `n` distinct integer steps spaced evenly in log between `first` and `total`."""
    import numpy as np

    if total <= first:
        return [total]
    steps = np.unique(np.round(np.geomspace(first, total, n)).astype(int))
    return [int(s) for s in steps]


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


def with_studies(cls: type) -> type:
    """`cls` with every registered study's plan mixin (`Study.plan`) as further bases."""
    if cls.__dict__.get("with_studies"):
        return cls
    return composed(cls)


@cache
def composed(cls: type) -> type:
    mixins = tuple(import_ref(study.plan) for study in STUDIES if study.plan)
    return type(cls.__name__, (cls, *mixins), {"__module__": cls.__module__, "__doc__": cls.__doc__,
                                               "with_studies": True})


@dataclass
class Plan:
    """Every run and analysis job of one config (built once per workflow parse); `root` is the
    repository, where the caption and docs templates are. An instance has every study's jobs'
    properties too: `Plan(config)` (and a subclass's) is built with the studies' plan mixins."""

    config: dict
    root: Path = Path(".")

    def __new__(cls, *args, **kwargs):
        return super().__new__(with_studies(cls))

    # training

    @cached_property
    def runs(self) -> list[TrainingJob]:
        """Every training job of every study; a run name (a group's member names) is unique."""
        runs = [run for study in STUDIES for run in study.training_runs(self.config.get(study.name))]
        names = [(run.study, member) for run in runs for member in run.members]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ConfigError(f"{twice[0][0]}: run {twice[0][1]!r} is declared twice")
        return runs

    def training(self, study: str, group: bool) -> dict[str, TrainingJob]:
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
        """Build everything once, so a config error stops the workflow at load time: each study's
        `<study>_check` (its plan mixin's, in registry order: it may also say what it skips), then
        every run."""
        for study in STUDIES:
            check = getattr(self, f"{study.name}_check", None)
            if check is not None:
                check()
        self.runs

    # report and targets

    @cached_property
    def figure_rules(self) -> list[Figure]:
        """Every study's figure rules (`<study>_figures()` of its plan mixin), in registry order."""
        figures = []
        for study in STUDIES:
            declare = getattr(self, f"{study.name}_figures", None)
            figures += [replace(figure, study=study.name) for figure in (declare() if declare else [])]
        return figures

    @cached_property
    def analysis_rules(self) -> list[Analysis]:
        """Every study's declared analyses (`<study>_analyses()` of its plan mixin), in registry order."""
        return [replace(job, study=study.name) for study in STUDIES
                for job in (getattr(self, f"{study.name}_analyses", list)())]

    def figures(self, study: str) -> list[str]:
        """The figures the study's wanted figure rules draw (those of the optional analyses its
        config turns on too), in its declaration order."""
        return [shows for rule in self.figure_rules if rule.study == study and rule.wanted
                for _, shows in rule.outputs().values() if shows]

    def targets(self, study: str) -> list[str]:
        figures = [f"results/figures/{name}.{ext}" for name in self.figures(study) for ext in ("png", "pdf")]
        return figures + TABLE_TARGETS.get(study, [])

    @property
    def all_targets(self) -> list[str]:
        return [path for study in REPORT_CATEGORIES for path in self.targets(study)]

