"""The registry of studies: `STUDIES`, one `Study` per config section (report category, figures,
tables, claims module, training runs, settings dataclass), and what derives from it (the rule files
the Snakefile includes, the report's categories, the figures and tables `rule all` asks for).

The bottom of the workflow's layers, above config.py alone: settings, the plan, the checks, the
ledger and the docs read it; it imports none of them. A study's runs and settings are named as
"module:name" strings and imported when first used (`import_ref`). Torch-free.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from icl_study.config import ConfigError


def import_ref(ref):
    """A "module:name" reference under icl_study, imported; anything else as it is."""
    if not isinstance(ref, str):
        return ref
    module, name = ref.split(":")
    return getattr(importlib.import_module(f"icl_study.{module}"), name)


@dataclass(frozen=True)
class Study:
    """One study, all the workflow needs to plug it in (docs/CONTRIBUTING.md walks through one).

    `name` is its config section, its folders results/<name>/ and logs/<name>/, and its rule file
    workflow/rules/<name>.smk (the Snakefile includes it). `category` is its report section,
    numbered: the report and `rule all` order the studies by that number. `rule all` asks for its
    figures (declared in its plan module: `<name>_figures()`, results/figures/<figure>.png and
    .pdf) and its `tables` (files no figure reads).
    `claims` is the torch-free module under icl_study whose `claims(config) -> list[Claim]` gives
    its ledger rows. `runs(section) -> list[TrainingJob]` lists its training runs (train.smk trains them).
    `plan` is the mixin class of its jobs' properties (`PLAN.<study>_<property>` in its rule file),
    which `Plan(config)` is built with; `runs` and `plan` live in icl_study/studies/<name>_plan.py,
    torch-free, at the plan's layer.
    `settings` is the dataclass of its config section, every key with its default
    (icl_study.settings.full_config fills them in) and its range (the config's JSON schema is
    generated from it: icl_study/settings/schema.py). `runs`, `plan` and `settings` are
    "module:name" under icl_study (or the objects themselves), imported when first used: the
    registry sits below the settings and the plan, and imports neither.
    """

    name: str
    category: str
    tables: tuple[str, ...] = ()
    claims: str | None = None
    runs: Callable | str | None = None
    settings: type | str = ""
    plan: type | str | None = None

    @property
    def rule_file(self) -> str:
        """Where its rule file is, if it has one (jobs with wildcards); a study whose analyses and
        figures are all declared as data in its plan module (`Analysis`, `Figure`) needs none."""
        return f"workflow/rules/{self.name}.smk"

    @property
    def number(self) -> int:
        """Its place in the report: the number its category starts with."""
        return int(self.category.split(".", 1)[0])

    def training_runs(self, section: dict | None) -> list:
        return import_ref(self.runs)(section) if self.runs else []

    def settings_class(self) -> type:
        if not self.settings:
            raise ConfigError(f"{self.name}: the study declares no settings dataclass for its config section")
        return import_ref(self.settings)



# Every study, in ledger order (the report orders them by category number). Adding a study is one
# entry here; docs/CONTRIBUTING.md walks through one.
STUDIES: list[Study] = [
    Study("linreg", "1. Linear regression",
          claims="studies.linreg_claims", runs="studies.linreg_plan:linreg_runs",
          plan="studies.linreg_plan:LinregPlan", settings="settings.linreg:LinregSettings"),
    Study("dai", "2. ICL as finetuning",
          claims="studies.dai_claims", runs="studies.dai_plan:dai_runs",
          plan="studies.dai_plan:DaiPlan", settings="settings.dai:DaiSettings"),
    Study("ren", "3. Representation lens",
          claims="studies.ren_claims", runs="studies.ren_plan:ren_runs",
          plan="studies.ren_plan:RenPlan", settings="settings.ren:RenSettings"),
    Study("shen", "4. Does ICL do GD?",
          tables=("results/shen/table.csv", "results/shen/table.md", "results/shen/icl_vs_gd.csv"),
          claims="studies.shen_claims",
          plan="studies.shen_plan:ShenPlan", settings="settings.shen:ShenSettings"),
    Study("transience", "5. Transient ICL",
          claims="studies.transience", runs="studies.transience_plan:transience_training",
          plan="studies.transience_plan:TransiencePlan", settings="settings.transience:TransienceSettings"),
    Study("lenses", "6. Across papers",
          claims="studies.lenses_claims",
          plan="studies.lenses_plan:LensesPlan", settings="settings.lenses:LensesSettings"),
    Study("diversity", "7. Beyond the papers",
          claims="studies.diversity_claims", runs="studies.diversity_plan:diversity_runs",
          plan="studies.diversity_plan:DiversityPlan", settings="settings.diversity:DiversityConfig"),
    Study("lm", "8. LM substrate",
          tables=("results/lm/accuracy.csv", "results/lm/accuracy_ci.csv", "results/lm/icl_gain.csv"),
          claims="studies.lm_claims", runs="studies.lm_plan:lm_runs",
          plan="studies.lm_plan:LmPlan", settings="settings.lm:LmSettings"),
    # new studies: above this line
]
STUDY_RULE_FILES = [study.rule_file for study in STUDIES]  # the Snakefile includes those that exist, in this order

# Derived from STUDIES. The claims ledger is the report's first category; `rule all` lists the
# studies' targets in report order too.
REPORT_CATEGORIES = {"claims": "0. Claims ledger",
                     **{s.name: s.category for s in sorted(STUDIES, key=lambda s: s.number)}}
TABLE_TARGETS = {"claims": ["results/claims.csv"], **{s.name: list(s.tables) for s in STUDIES if s.tables}}
