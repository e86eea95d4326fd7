"""Config validation and helpers shared by every study's rules (no torch import here)."""

import json

from icl_study.config import ConfigError, deep_merge, validate_workflow_config

try:
    validate_workflow_config(config, workflow.source_path("../schemas/config.schema.yaml"))
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
    return deep_merge(base, section["runs"][run])
