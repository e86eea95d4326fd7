"""Pins the fault campaign's findings (tiny tier): each bad input is refused at load time or by
the table reader with one line naming the key or the file, never a silent change of a result."""

from __future__ import annotations

import copy

import pytest

from icl_study.checks import check_workflow_config
from icl_study.config import ConfigError, deep_merge, validate_workflow_config
from icl_study.settings import full_config, load_config
from workflow_helpers import REPO, TINY

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def tiny_with(override: dict) -> dict:
    """The tiny tier with `override` merged over it, loaded and checked as the workflow does."""
    config = load_config([REPO / "config.yaml", TINY])
    config = full_config(deep_merge(config, copy.deepcopy(override)))
    validate_workflow_config(config, SCHEMA)
    check_workflow_config(config)
    return config


# --- HIGH: duplicate seeds counted as replicates ----------------------------------------------------
@pytest.mark.parametrize("override, key", [
    ({"linreg": {"sweep": {"seeds": [0, 0, 1]}}}, "linreg.sweep.seeds"),
    ({"lm": {"eval": {"demo_seeds": [0, 0]}}}, "lm.eval.demo_seeds"),
    ({"lm": {"pipeline_gpt": {"eval": {"demo_seeds": [1, 1]}}}}, "lm.pipeline_gpt.eval.demo_seeds"),
    ({"lm": {"pipeline_gpt": {"eval": {"ks": [0, 2, 2]}}}}, "lm.pipeline_gpt.eval.ks"),
    ({"lm": {"eval": {"ks": [0, 1, 1]}}}, "lm.eval.ks"),
    ({"linreg": {"sweep": {"n_layer": [1, 1]}}}, "linreg.sweep.n_layer"),
    ({"transience": {"seeds": [0, 0]}}, "transience.seeds"),
])
def test_duplicate_entries_are_refused_at_load_time(override, key):
    with pytest.raises(ConfigError) as err:
        tiny_with(override)
    message = str(err.value)
    assert message.startswith(f"{key}:") and "non-unique" in message and "\n" not in message


# --- HIGH: the documented optional model ------------------------------------------------------------
def test_optional_hf_model_is_accepted_by_the_settings_loader(tmp_path):
    absent = f"hf:{tmp_path / 'absent'}"
    config = tiny_with({"lm": {"models": ["smollm2", {"spec": absent, "optional": True}]}})
    assert config["lm"]["models"][1] == {"spec": absent, "optional": True}
    from icl_study.plan import text_models

    assert list(text_models(config["lm"])) == ["smollm2-135m"]  # the absent optional model is skipped


def test_a_model_entry_of_the_wrong_type_still_names_the_key():
    with pytest.raises(ConfigError, match=r"^lm\.models: expected str or dict, got 3$"):
        full_config({"lm": {"models": [3]}})
