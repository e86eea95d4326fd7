"""The representation-lens study's part of the plan (torch-free, the plan's layer): the variants'
seed groups, and `RenPlan`, its jobs' properties, mixed into `Plan`.
"""

from __future__ import annotations

from icl_study.config import KIND_PARAMETERS, ConfigError, model_for_kind
from icl_study.plan import Figure, TrainingJob, make_run_config

# its figures' names (results/figures/<name>.png and .pdf), written here only: the claims import them
REN_KERNEL_FIGURE = "ren_kernel"
REN_DUAL_FIGURE = "ren_dual"
REN_GENERALISATION_FIGURE = "ren_generalisation"
REN_VARIANTS_FIGURE = "ren_variants"
REN_VARIANTS_CORPUS_FIGURE = "ren_variants_corpus"
REN_VARIANTS_GRID_FIGURE = "ren_variants_grid"

REN_LENS_TABLES = ["kernel", "dual_identity", "dual_steps", "generalisation", "generalisation_fit"]


def ren_runs(section: dict) -> list[TrainingJob]:
    """One group per attention kind and task, trained once per seed in one job: "{kind}_s{seed}" on
    the regression task and "corpus_{kind}_s{seed}" on pipeline-gpt's token corpus. A job per group,
    not per seed, pays for torch's import once: on a 2-core machine ~5 s of a ~20 s run."""
    variants, corpus = section["variants"], section["corpus"]
    seeds = tuple(variants["seeds"])
    runs = []
    for kind in variants["kinds"]:
        runs.append(TrainingJob("ren", kind, make_run_config("regression", variants["task"], model_for_kind(variants["model"], kind),
                                                variants["train"], "ren.variants.model"), seeds))
        runs.append(TrainingJob("ren", f"corpus_{kind}", make_run_config("concepts", corpus["task"],
                                                            model_for_kind(corpus["model"], kind), corpus["train"],
                                                            "ren.corpus.model"), seeds))
    return runs + ren_grid_runs(section)


def ren_grid_runs(section: dict) -> list[TrainingJob]:
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
            runs.append(TrainingJob("ren", f"{kind}_{parameter}{value:g}",
                            make_run_config("regression", variants["task"], model, variants["train"], "ren.variants.model"),
                            tuple(variants["seeds"])))
    return runs


class RenPlan:
    """ren's jobs: a mixin of `Plan`."""

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

    def ren_figures(self) -> list[Figure]:
        lens, variants, corpus = "results/ren/lens", "results/ren/variants", "results/ren/corpus_variants"
        return [
            Figure(REN_KERNEL_FIGURE, [f"{lens}/kernel.csv"], "plots.ren:kernel_rule"),
            Figure(REN_DUAL_FIGURE, {"identity": f"{lens}/dual_identity.csv", "steps": f"{lens}/dual_steps.csv"},
                   "plots.ren:dual_rule"),
            Figure(REN_GENERALISATION_FIGURE, {"table": f"{lens}/generalisation.csv", "fit": f"{lens}/generalisation_fit.csv"},
                   "plots.ren:generalisation_rule"),
            Figure(REN_VARIANTS_FIGURE, {"errors": f"{variants}/errors.csv", "curves": f"{variants}/curves.csv"},
                   "plots.ren:variants_rule"),
            Figure(REN_VARIANTS_CORPUS_FIGURE, {"errors": f"{corpus}/errors.csv", "curves": f"{corpus}/curves.csv"},
                   "plots.ren:corpus_variants_rule"),
            # the grid is an optional analysis: rule all asks for it where ren.grid.values has values
            Figure(REN_VARIANTS_GRID_FIGURE, [f"{variants}/grid.csv"], "plots.ren:grid_rule",
                   wanted=bool(self.config["ren"]["grid"]["values"])),
        ]
