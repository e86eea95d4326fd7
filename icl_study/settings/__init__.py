"""Every config key with its default, in frozen dataclasses: one module per config section.

The defaults are the default tier. config.yaml states the tier's choices (the keys a reader
should see or that differ) and `--configfile` tiers change what they set; `full_config` fills every
other key from here, so a value has one home. Torch-free: Snakemake imports this at parse time.

A study's `task`, `model` and `train` blocks are the run configs it trains: their keys are
documented once, in the task's config dataclass (e.g. tasks/bursty.py's BurstyTaskConfig) and in
config.py's ModelConfig and TrainConfig; `model_block` and `train_block` start from those defaults.
"""

from __future__ import annotations

import dataclasses
import typing

from icl_study.config import ConfigError, deep_merge, from_dict, to_dict
from icl_study.registry import STUDIES

# The config's sections, one per study of the registry (icl_study/registry.py), and the dataclass holding each
# one's defaults (icl_study/settings/<section>.py, or the study module's own for a new study).
SECTIONS: dict[str, type] = {study.name: study.settings_class() for study in STUDIES}


def defaults() -> dict:
    """The whole default config as plain YAML-like data (tuples become lists)."""
    return {section: to_dict(cls()) for section, cls in SECTIONS.items()}


def full_config(config: dict) -> dict:
    """`config` (config.yaml and any tiers, already merged) over every default.

    Unknown sections and keys, and values of the wrong type, raise a one-line ConfigError naming
    the key. Given values are kept as given (an int stays an int), so a run's params, and with
    them Snakemake's rerun decisions, are those of the YAML the user wrote."""
    unknown = sorted(set(config) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown config section (known: {', '.join(SECTIONS)})")
    for section, cls in SECTIONS.items():
        from_dict(cls, config.get(section), section)  # type and name checks only
    return deep_merge(defaults(), config)


def load_config(paths) -> dict:
    """The full config of a tier: YAML files merged in order, as Snakemake merges config.yaml and
    its --configfile list (later files win), over every default."""
    from pathlib import Path

    import yaml

    merged: dict = {}
    for path in paths:
        merged = deep_merge(merged, yaml.safe_load(Path(path).read_text()) or {})
    return full_config(merged)


def fields(cls: type) -> dict[str, typing.Any]:
    """{field name: resolved type hint} of a settings dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


# --- the JSON schema (generated: icl_study/settings/schema.py) Snakemake validates the config against -

def validate_workflow_config(config: dict) -> None:
    """Check the whole (full) workflow config against the JSON schema generated from the settings
    dataclasses (icl_study/settings/schema.py); raise a one-line ConfigError.

    The message names the offending key by its dotted path, e.g.
    `linreg.train.lr: 'fast' is not of type 'number'` or `linreg.train: unknown key 'lrr'`.
    """
    import jsonschema

    from icl_study.settings.schema import config_schema

    # an integer is an int, as for the dataclasses' from_dict (JSON schema also takes 2000.0)
    types = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool))
    strict = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=types)
    validator = strict(config_schema(SECTIONS))
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return
    # best_match may return an allOf/oneOf wrapper; its most specific cause names the key best.
    while error.context:  # skip the `null` branch of an optional object: the other one is meant
        causes = [e for e in error.context if e.schema != {"type": "null"}] or error.context
        error = jsonschema.exceptions.best_match(causes)
    path = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in known)
        raise ConfigError(f"{path}: unknown key {extra[0]!r}" if extra else f"{path}: {error.message}")
    raise ConfigError(f"{path}: {error.message}")
