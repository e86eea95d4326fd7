"""The across-papers study's part of the plan (torch-free, the plan's layer): `LensesPlan`, every
lens on the kept checkpoints of transience or diversity runs, one job per (family, seed, lens),
mixed into `Plan`.
"""

from __future__ import annotations

from functools import cached_property

from icl_study.config import ConfigError
from icl_study.plan import Figure, TrainingJob, as_json

# its figures' names (results/figures/<name>.png and .pdf), written here only: the claims import them
LENSES_OVER_TRAINING_FIGURE = "lenses_over_training"
LENSES_CORRELATIONS_FIGURE = "lenses_correlations"

LENSES_REGRESSION_ONLY = ("spd", "probe")


def lens_family_kind(family: str, section: dict) -> str:
    """A lens family's kind, which decides its lenses and its ICL metric: a transience family is
    named after its dataset (bursty | regression); a diversity family is finite-pool regression."""
    return "regression" if section.get("study") == "diversity" else family


class LensesPlan:
    """lenses' jobs: a mixin of `Plan`."""

    def lenses_check(self) -> None:
        """Every cell and every family's kept steps built once (Plan.check)."""
        self.lenses_cells
        for family in self.config["lenses"]["families"]:
            self.lenses_steps(family)

    def lenses_run(self, family: str, seed: int) -> tuple[str, str, TrainingJob]:
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

    def lenses_figures(self) -> list[Figure]:
        curves = [path for paths in self.lenses_curves.values() for path in paths]
        return [
            Figure(LENSES_OVER_TRAINING_FIGURE, {"table": "results/lenses/table.csv", "curves": curves},
                   "plots.lenses:over_training_rule", {"kinds": self.lenses_kinds, "curves": self.lenses_curves}),
            Figure(LENSES_CORRELATIONS_FIGURE, ["results/lenses/correlations.csv"], "plots.lenses:correlations_rule"),
        ]
