"""Pins the one source of the environment: requirements.lock (compiled from pyproject.toml by
tools/lock.sh) satisfies pyproject's ranges, the test lock is the run lock plus the test extra, the
conda env file is generated from the lock (so a drifted or hand-edited one fails here), and the run's
environment record works inside and outside a git checkout."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement
from workflow_helpers import REPO

from icl_study import environment as env

tomllib = pytest.importorskip("tomllib")  # Python 3.11+, the locks' Python

RUN_LOCK = env.read_lock((REPO / env.LOCK).read_text())
TEST_LOCK = env.read_lock((REPO / env.TEST_LOCK).read_text())
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_the_lock_satisfies_every_pyproject_range():
    for spec in PROJECT["dependencies"]:
        req = Requirement(spec)
        locked = RUN_LOCK.get(env.normalize(req.name))
        assert locked is not None, f"{req.name} is in pyproject.toml but not in requirements.lock"
        assert req.specifier.contains(locked, prereleases=True), f"requirements.lock: {req.name}=={locked} is outside {spec}"
    assert env.public_version(RUN_LOCK["torch"]) == "2.13.0"


def test_the_test_lock_is_the_run_lock_plus_the_test_extra():
    extra = {env.normalize(Requirement(spec).name) for spec in PROJECT["optional-dependencies"]["test"]}
    assert extra <= set(TEST_LOCK)
    for spec in PROJECT["optional-dependencies"]["test"]:
        req = Requirement(spec)
        assert req.specifier.contains(TEST_LOCK[env.normalize(req.name)], prereleases=True)
    assert {name: TEST_LOCK.get(name) for name in RUN_LOCK} == RUN_LOCK


def test_every_lock_line_has_hashes():
    for lock in (env.LOCK, env.TEST_LOCK):
        text = (REPO / lock).read_text()
        pins = [line for line in text.splitlines() if env.LOCK_LINE.match(line)]
        assert pins and all(line.endswith("\\") for line in pins), f"{lock}: a pin without --hash"


def test_conda_env_file_is_generated_from_the_lock():
    """workflow/envs/icl_study.yaml is what `python -m icl_study environment:conda_yaml_rule` writes:
    regenerate it (tools/lock.sh) rather than editing it."""
    committed = (REPO / env.CONDA_YAML).read_text()
    assert committed == env.conda_yaml((REPO / env.LOCK).read_text())
    pins = env.conda_pins(committed)
    assert {name: env.public_version(v) for name, v in RUN_LOCK.items()} == pins


def test_conda_check_catches_a_drifted_env_file():
    drifted = env.conda_yaml((REPO / env.LOCK).read_text()).replace("      - scipy==", "      - scipy>=")
    assert "scipy" not in env.conda_pins(drifted)


def test_source_state_outside_git_and_the_summary(tmp_path):
    assert env.source_state(tmp_path) == {"commit": None, "dirty": None}
    state = env.source_state(REPO)
    assert state["commit"] is None or len(state["commit"]) == 40
    rec = {"recorded_at": "2026-01-02T03:04:05+00:00", "git": {"commit": "a" * 40, "dirty": True},
           "python": {"version": "3.11.9"}, "packages": {"torch": "2.13.0+cpu", "transformers": "5.25.0"},
           "lock": {"differs": {}}, "cpu": {"model": "Some CPU"}, "torch": {"threads": 1}}
    line = env.summary(rec)
    assert "`aaaaaaaaaaaa` (with uncommitted changes) on 2026-01-02" in line and "transformers 5.25.0" in line
    assert "as locked" in line
    assert "no commit" in env.summary(rec | {"git": {"commit": None, "dirty": None}})
    assert "not recorded" in env.summary(None)


def test_lock_differences_name_missing_and_other_versions():
    assert env.lock_differences({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": "4"}) == {"b": ["3", "2"], "c": ["4", None]}
