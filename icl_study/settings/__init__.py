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
from icl_study.plan import STUDIES

# The config's sections, one per study of the plan's registry, and the dataclass holding each
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
