"""Defaults have one home: the settings dataclasses (the config schema is generated from them:
tests/unit/test_config_schema.py), config files state choices only, and the model's widths and
sequence length come from the task."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from icl_study.config import ConfigError, ModelConfig, TrainConfig, from_dict
from icl_study.settings import SECTIONS, defaults, full_config, load_config
from icl_study.tasks import make_task
from icl_study.tasks.io import DERIVED_KEYS, model_io
from workflow_helpers import REPO, TINY

TIER_FILES = [REPO / "config.yaml", TINY, *sorted((REPO / "configs").glob("*.yaml"))]


def test_defaults_are_the_default_tier_and_config_yaml_states_choices_only():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert full_config(config) == defaults()  # config.yaml restates no value that differs from a default
    assert len((REPO / "config.yaml").read_text().splitlines()) <= 250


@pytest.mark.parametrize("path", TIER_FILES, ids=lambda p: p.name)
def test_no_config_file_types_a_derived_model_key(path):
    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                assert key not in DERIVED_KEYS, f"{path.name}: {where}.{key} is derived from the task"
                walk(value, f"{where}.{key}")

    walk(yaml.safe_load(path.read_text()), "")


@pytest.mark.parametrize("path", TIER_FILES[1:], ids=lambda p: p.name)
def test_every_tier_loads_over_the_defaults(path):
    config = load_config([REPO / "config.yaml", path])
    assert set(config) == set(SECTIONS)


def test_unknown_keys_and_wrong_types_are_one_line_naming_the_key():
    with pytest.raises(ConfigError, match=r"^shen\.lm\.n_order: unknown key"):
        full_config({"shen": {"lm": {"n_order": 3}}})
    with pytest.raises(ConfigError, match=r"^dai\.text\.n_eval: expected int"):
        full_config({"dai": {"text": {"n_eval": "many"}}})
    with pytest.raises(ConfigError, match="unknown config section"):
        full_config({"lineg": {}})


def test_given_values_are_kept_as_written():
    """An int given for a float key stays an int: a run's params (and Snakemake's rerun decision)
    are those of the YAML the user wrote."""
    config = full_config({"linreg": {"train": {"lr": 1}}})
    assert config["linreg"]["train"]["lr"] == 1 and isinstance(config["linreg"]["train"]["lr"], int)
    assert config["linreg"]["train"]["steps"] == defaults()["linreg"]["train"]["steps"]


TASK_CONFIGS = {
    "regression": {"n_dims": 3, "n_points": 5},
    "pool_regression": {"n_dims": 3, "n_points": 5, "noise_std": 0.5, "pool_size": 4, "eval_size": 8},
    "regression_pairs": {"n_dims": 3, "n_points": 5},
    "bursty": {"n_classes": 16, "n_holdout": 4, "n_exemplars": 2, "emb_dim": 8, "n_labels": 4, "context_len": 4,
               "bursty_shots": 2, "bursty_ways": 2, "eval_shots": 2, "eval_ways": 2, "eval_size": 8},
    "concepts": {"n_classes": 16, "n_labels": 4, "context_len": 4, "bursty_shots": 1, "bursty_ways": 2, "eval_size": 8},
}


@pytest.mark.model
@pytest.mark.parametrize("task", list(TASK_CONFIGS))
def test_a_model_with_the_tasks_widths_trains_on_it_and_other_widths_are_refused(task, tmp_path):
    """model_io is what the task's tokens and loss need: one training step of a model built with
    it runs, and the task's own model_io() agrees; a model one unit off is refused with one line."""
    from icl_study.train import train

    io = model_io(task, TASK_CONFIGS[task])
    assert make_task(task, TASK_CONFIGS[task], seed=0).model_io() == io
    model = {"n_layer": 1, "n_head": 1, "d_model": 8, "d_mlp": 8, **io}
    if task == "regression_pairs":
        model |= {"attention": "linear", "layer_norm": False, "positions": "none"}
    run = {"task": task, "task_config": TASK_CONFIGS[task], "model": model,
           "train": {"steps": 1, "batch_size": 2, "warmup_steps": 0, "checkpoint_every": 1, "log_every": 1}}
    assert Path(train(run, tmp_path / "ok")).is_file()
    width = "vocab_size" if io["vocab_size"] else "n_dims_in"
    with pytest.raises(ConfigError, match=f"model.{width}"):
        train({**run, "model": {**model, width: io[width] + 1}}, tmp_path / "bad")


def test_run_and_train_blocks_match_the_package_configs():
    """Every study's model and train defaults are valid ModelConfig / TrainConfig fields."""
    for section, values in defaults().items():
        for where, block in _blocks(values, section):
            cls = ModelConfig if where.endswith("model") else TrainConfig
            from_dict(cls, block, where)
    assert torch.__version__  # torch is importable here; the plan itself never needs it


def _blocks(node, where):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("model", "train") and isinstance(value, dict):
                yield f"{where}.{key}", value
            else:
                yield from _blocks(value, f"{where}.{key}")
