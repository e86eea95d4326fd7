"""Pins config validation: the default and test configs are valid, and a bad key or value stops
the workflow at load time with one line that names the key."""

import copy

import pytest

from icl_study.config import ConfigError, model_for_kind
from icl_study.settings import validate_workflow_config
from icl_study.settings import load_config
from workflow_helpers import REPO, TINY, snakemake

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def default_config() -> dict:
    return load_config([REPO / "config.yaml"])


def test_default_and_tiny_configs_are_valid():
    validate_workflow_config(default_config(), SCHEMA)
    validate_workflow_config(load_config([REPO / "config.yaml", TINY]), SCHEMA)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["linreg"]["train"].update(lrr=0.1), "linreg.train: unknown key 'lrr'"),
    (lambda c: c["linreg"]["train"].update(lr="fast"), "linreg.train.lr: 'fast' is not of type 'number'"),
    (lambda c: c.update(lineg={}), "(top level): unknown key 'lineg'"),
    (lambda c: c["linreg"]["model"].update(attention="cosine"), "linreg.model.attention"),
    (lambda c: c["linreg"]["runs"].update(deep={"model": {"n_layr": 4}}), "linreg.runs.deep.model: unknown key 'n_layr'"),
    (lambda c: c["linreg"]["train"].update(steps=0), "linreg.train.steps"),
])
def test_bad_values_give_one_line_naming_the_key(edit, message):
    config = copy.deepcopy(default_config())
    edit(config)
    with pytest.raises(ConfigError) as err:
        validate_workflow_config(config, SCHEMA)
    assert message in str(err.value)
    assert "\n" not in str(err.value)  # one line


@pytest.mark.workflow
def test_snakemake_stops_on_a_bad_key_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("linreg:\n  train:\n    lrr: 0.1\n")
    result = snakemake(tmp_path, "-n", configfiles=(REPO / "config.yaml", bad), check=False)
    assert result.returncode != 0
    assert "icl_study: config error: linreg.train: unknown key 'lrr'" in result.stderr
    assert "Traceback" not in result.stderr


def test_model_for_kind_keeps_only_the_kinds_own_parameters():
    model = {"d_model": 32, "reg_alpha": 0.5, "aug_hidden": 16, "neg_beta": 0.5, "momentum_eta": 0.5}
    assert model_for_kind(model, "negative") == {"d_model": 32, "neg_beta": 0.5, "attention": "negative"}
    assert model_for_kind(model, "softmax") == {"d_model": 32, "attention": "softmax"}
