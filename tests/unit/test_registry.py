"""The registry of studies (icl_study/plan.py: STUDIES) is the one place a study is declared: the
Snakefile's rule files, the report categories, `rule all`'s figures and the ledger's modules all
follow from it, and a study without a schema part is checked by its settings dataclass."""

import importlib
import re
from pathlib import Path

import pytest

from icl_study import ledger, plan
from icl_study.config import ConfigError
from icl_study.studies.diversity import DiversityConfig
from icl_study.studies.linreg_plan import linreg_runs
from workflow_helpers import REPO

SHARED_RULE_FILES = {"common.smk", "train.smk", "analyses.smk", "figures.smk", "claims.smk", "docs.smk",
                     "environment.smk"}


def study_rule_files() -> list[str]:
    """The registered studies' rule files that exist (a study whose jobs are all declared as data,
    `Analysis` and `Figure` in its plan module, has none), in registry order."""
    return [path for path in plan.STUDY_RULE_FILES if (REPO / path).is_file()]


def test_every_rule_file_belongs_to_one_registered_study():
    registered = [Path(study.rule_file).name for study in plan.STUDIES]
    on_disk = {path.name for path in (REPO / "workflow" / "rules").glob("*.smk")} - SHARED_RULE_FILES
    assert on_disk <= set(registered) and len(registered) == len(set(registered))
    assert plan.STUDY_RULE_FILES == [study.rule_file for study in plan.STUDIES]


def test_the_snakefile_includes_every_rule_file_by_name_study_files_in_registry_order():
    included = re.findall(r'^include: "(workflow/rules/\w+\.smk)"$', (REPO / "Snakefile").read_text(), re.M)
    assert [path for path in included if Path(path).name not in SHARED_RULE_FILES] == study_rule_files()
    assert {Path(path).name for path in included} >= SHARED_RULE_FILES


def test_report_categories_follow_the_category_numbers():
    numbers = [int(label.split(".")[0]) for label in plan.REPORT_CATEGORIES.values()]
    assert numbers == list(range(len(plan.STUDIES) + 1))  # 0: the claims ledger
    assert next(iter(plan.REPORT_CATEGORIES)) == "claims"
    assert set(plan.REPORT_CATEGORIES) == {"claims"} | {study.name for study in plan.STUDIES}


def test_each_figure_is_declared_once_and_rule_all_asks_for_the_wanted_ones():
    """A study's plan declares each figure once (`Figure`), optional ones too (their rule exists in
    every tier, `rule all` asks for them where the config turns them on)."""
    from icl_study.settings import full_config, load_config

    grid = full_config(load_config([REPO / "config.yaml", REPO / "configs" / "ren_grid.yaml"]))
    for config, optional in ((full_config(load_config([REPO / "config.yaml"])), []), (grid, ["ren_variants_grid"])):
        run_plan = plan.Plan(config)
        drawn = [shows for rule in run_plan.figure_rules for _, shows in rule.outputs().values() if shows]
        assert len(drawn) == len(set(drawn)) and len({rule.name for rule in run_plan.figure_rules}) == len(drawn) - 3
        wanted = [name for study in plan.STUDIES for name in run_plan.figures(study.name)]
        assert sorted(wanted) == sorted(name for name in drawn if name != "ren_variants_grid" or optional)
        assert {rule.study for rule in run_plan.figure_rules} == {study.name for study in plan.STUDIES}


def test_ledger_modules_come_from_the_registry_and_declare_claims():
    assert ledger.CLAIM_MODULES == [(study.name, study.claims) for study in plan.STUDIES if study.claims]
    for _, module in ledger.CLAIM_MODULES:
        assert callable(importlib.import_module(f"icl_study.{module}").claims), module


def test_runs_and_settings_references_resolve():
    assert plan.import_ref("studies.diversity:DiversityConfig") is DiversityConfig
    assert plan.import_ref(linreg_runs) is linreg_runs
    for study in plan.STUDIES:
        assert study.runs is None or callable(plan.import_ref(study.runs)), study.name
        assert study.settings is None or isinstance(study.settings_class(), type), study.name


def test_every_registered_section_is_in_the_generated_schema():
    """The schema is generated from each study's settings dataclass: a registered study's section
    is there, rejecting unknown keys, and full_config rejects them too, with one line."""
    from icl_study.settings import SECTIONS, full_config
    from icl_study.settings.schema import config_schema

    schema = config_schema(SECTIONS)
    assert set(schema["properties"]) == set(SECTIONS)
    assert all(schema["properties"][name]["additionalProperties"] is False for name in SECTIONS)
    with pytest.raises(ConfigError, match=r"^diversity\.bogus: unknown key"):
        full_config({"diversity": {"bogus": 1}})
    with pytest.raises(ConfigError, match=r"^diversity\.layers\.n_fit: expected int"):
        full_config({"diversity": {"layers": {"n_fit": "many"}}})


def test_a_study_without_settings_is_a_config_error():
    with pytest.raises(ConfigError, match="declares no settings dataclass"):
        plan.Study("x", "9. X").settings_class()



def test_config_yaml_and_the_tiers_list_the_studies_in_registry_order():
    import yaml

    order = [study.name for study in plan.STUDIES]
    for path in [REPO / "config.yaml", *sorted((REPO / "configs").glob("*.yaml"))]:
        sections = [name for name in yaml.safe_load(path.read_text()) or {} if name in order]
        assert sections == [name for name in order if name in sections], path.name
