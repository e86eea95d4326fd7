"""Pins the plan of runs (icl_study/plan.py): it imports and builds every tier's plan without torch;
every training run's config is a valid RunConfig and every run name unique; the trained LSA has
the hand-built construction's shape; config errors that need the plan are one-line ConfigErrors
naming the key; an empty list's wildcard pattern matches nothing."""

import re

import pytest

from icl_study.config import ConfigError, deep_merge, run_config
from icl_study.settings import load_config
from icl_study.plan import NO_MATCH, Plan, params_option, pattern
from icl_study.studies.linreg_plan import lsa_model
from workflow_helpers import REPO, TINY, run_without_torch

TIERS = {"default": [REPO / "config.yaml"], "paper": [REPO / "config.yaml", REPO / "configs" / "paper.yaml"],
         "tiny": [REPO / "config.yaml", TINY]}


@pytest.fixture(scope="module")
def tiny():
    return load_config([str(p) for p in TIERS["tiny"]])


def test_plan_builds_every_tier_without_torch():
    result = run_without_torch(
        "from icl_study.settings import load_config\n"
        "from icl_study.plan import Plan\n"
        f"for files in {[[str(p) for p in files] for files in TIERS.values()]!r}:\n"
        "    plan = Plan(load_config(files))\n"
        "    plan.check()\n"
        "    assert plan.runs and plan.all_targets and plan.lenses_tables\n"
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("tier", TIERS)
def test_every_run_is_a_valid_run_config_with_a_unique_name(tier):
    plan = Plan(load_config([str(p) for p in TIERS[tier]]))
    for run in plan.runs:
        run_config(run.config)  # raises on an unknown key or a wrong type
    members = [(run.study, m) for run in plan.runs for m in run.members]
    assert len(members) == len(set(members))
    assert ("linreg", "gd/lsa") in members and ("lm", "pipeline-gpt") in members


def test_trained_lsa_has_the_construction_shape(tiny):
    from icl_study.gd_construction import lsa_config
    from icl_study.config import to_dict

    lsa = {run.name: run for run in Plan(tiny).runs if run.study == "linreg"}["gd/lsa"].config
    task = lsa["task_config"]
    shape = to_dict(lsa_config(task["n_dims"], task["n_points"], tiny["linreg"]["gd"]["d_model"]))
    assert {key: shape[key] for key in lsa_model(1, 2)} == {key: lsa["model"][key] for key in lsa_model(1, 2)}
    assert lsa["model"]["init"] == "torch"


def test_groups_train_every_seed_into_named_members(tiny):
    plan = Plan(tiny)
    seeds = plan.group_seeds("ren")
    assert plan.ren_regression_runs == [f"{kind}_s{seed}" for kind in tiny["ren"]["variants"]["kinds"] for seed in seeds]
    rules = {rule.name: rule for rule in plan.training_rules()}
    assert rules["ren_train"].outputs()["models"][0] == "results/ren/{group}_s%d/model.pt" % seeds[0]
    diversity = tiny["diversity"]
    assert plan.run_names("diversity")[0] == f"M{diversity['pool_sizes'][0]}/seed{diversity['seeds'][0]}"
    assert rules["diversity_train"].outputs()["models"][0] == "results/diversity/{group}/seed%d/model.pt" % diversity["seeds"][0]


@pytest.mark.parametrize("override, key", [
    ({"lenses": {"families": {"bursty": {"run": "nosuch/wd0"}}}}, "lenses.families.bursty: 'nosuch/wd0/seed0'"),
    ({"lenses": {"families": {"bursty": {"steps": [7]}}}}, "lenses.families.bursty.steps: [7] not kept"),
    ({"lenses": {"families": {"bursty": {"lenses": ["evaluators", "spd"]}}}}, "lenses.families.bursty.lenses: ['spd']"),
    ({"transience": {"bursty": {"model": {"n_positions": 3}}}}, "transience.bursty.model.n_positions: must be 9"),
])
def test_config_errors_name_the_key(tiny, override, key):
    with pytest.raises(ConfigError) as error:
        Plan(deep_merge(tiny, override)).check()
    assert str(error.value).startswith(key) and "\n" not in str(error.value)


def test_patterns_match_exactly_the_names():
    assert re.fullmatch(pattern(["gd/lsa", "L1_noise0.5"]), "L1_noise0.5")
    assert not re.fullmatch(pattern(["L1_noise0.5"]), "L1_noise0x5")
    assert pattern([]) == NO_MATCH and not re.fullmatch(NO_MATCH, "x")


def test_an_analysis_rules_params_are_quoted_and_never_derived_from_its_inputs():
    """params.settings (the template rule analysis) reads as ` --params {x:q}` after the inputs, and
    is a value or a function of the wildcards alone: a params function taking `input` counts as
    derived and Snakemake never compares it, so a changed config value would not rerun the job."""
    import inspect

    assert params_option('{"k": 1}') == " --params '{\"k\": 1}'"
    assert params_option() == ""
    wildcard_params = params_option(lambda wildcards: wildcards["job"])
    assert wildcard_params({"job": "{}"}) == " --params '{}'"
    assert list(inspect.signature(wildcard_params).parameters) == ["wildcards"]
