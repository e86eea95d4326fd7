"""Pins config validation: the JSON schema is generated from the settings dataclasses (nothing
hand-written), the default and tier configs are valid, a bad key, type or value stops the workflow
at load time with one line that names the key, and docs/config.md is the generator's page."""

import copy

import pytest

from icl_study.config import ConfigError, model_for_kind
from icl_study.settings import validate_workflow_config
from icl_study.settings import full_config, load_config
from workflow_helpers import REPO, TINY, snakemake

def default_config() -> dict:
    return load_config([REPO / "config.yaml"])


def test_default_and_tiny_configs_are_valid():
    validate_workflow_config(default_config())
    validate_workflow_config(load_config([REPO / "config.yaml", TINY]))


def test_a_null_figure_limit_is_automatic():
    config = load_config([REPO / "config.yaml", TINY])
    config["linreg"]["figure"]["y_max"] = None  # null = automatic, as its comment says
    validate_workflow_config(full_config(config))


@pytest.mark.parametrize("tier", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_tier_is_valid(tier):
    validate_workflow_config(load_config([REPO / "config.yaml", tier]))


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["linreg"]["train"].update(lrr=0.1), "linreg.train: unknown key 'lrr'"),
    (lambda c: c["linreg"]["train"].update(lr="fast"), "linreg.train.lr: 'fast' is not of type 'number'"),
    (lambda c: c.update(lineg={}), "(top level): unknown key 'lineg'"),
    (lambda c: c["linreg"]["model"].update(attention="cosine"), "linreg.model.attention"),
    (lambda c: c["linreg"]["runs"].update(deep={"model": {"n_layr": 4}}), "linreg.runs.deep.model: unknown key 'n_layr'"),
    (lambda c: c["linreg"]["train"].update(steps=0), "linreg.train.steps"),
    # ranges carried from the old hand-written schema into the dataclasses' field metadata
    (lambda c: c["linreg"]["probe"].update(n_train=7), "linreg.probe.n_train: 7 is less than the minimum of 8"),
    (lambda c: c["linreg"]["train"].update(lr=0), "linreg.train.lr: 0 is less than or equal to the minimum of 0"),
    (lambda c: c["transience"]["bursty"]["task"].update(p_bursty=1.5), "transience.bursty.task.p_bursty"),
    (lambda c: c["shen"]["lm"].update(gd_seeds=[0, 1, 2]), "shen.lm.gd_seeds"),
    (lambda c: c["linreg"]["eval"].update(gd_steps=[]), "linreg.eval.gd_steps: [] should be non-empty"),
    (lambda c: c["dai"].update(text_tasks=["mr", "mr"]), "dai.text_tasks: ['mr', 'mr'] has non-unique elements"),
    (lambda c: c["ren"]["variants"].update(kinds=["softmax", "cosine"]), "ren.variants.kinds.1"),
    (lambda c: c["lm"]["smollm2"].update(sha256="abc"), "lm.smollm2.sha256"),
    (lambda c: c["lm"]["tasks"].update({"bad name": c["lm"]["tasks"]["mr"]}), "lm.tasks"),
    (lambda c: c["lm"].update(models=["gpt2"]), "lm.models.0"),
    (lambda c: c["lenses"]["families"]["bursty"].pop("run"), "lenses.families.bursty: 'run' is a required property"),
    (lambda c: c["transience"]["arms"].update(pb1={"size": "base", "task": {"n_classes": 8}, "weight_decays": [0.0], "seeds": [0]}),
     "transience.arms.pb1.task: unknown key 'n_classes'"),
    (lambda c: c["transience"]["bursty"]["task"].update(eval_steps=[1]), "transience.bursty.task: unknown key 'eval_steps'"),
    (lambda c: c["diversity"]["task"].update(n_points=1), "diversity.task.n_points"),
    (lambda c: c["linreg"]["task"].update(curriculum={"dims_start": 0}), "linreg.task.curriculum"),
    (lambda c: c["linreg"]["model"].pop("n_head"), "linreg.model: 'n_head' is a required property"),
    # steps: a whole number up to MAX_STEPS (was checks.py's; a typo such as 1e21 is a float)
    (lambda c: c["linreg"]["train"].update(steps=1e21), "linreg.train.steps: 1e+21"),
    (lambda c: c["linreg"]["train"].update(steps=2000.0), "linreg.train.steps: 2000.0 is not of type 'integer'"),
    (lambda c: c["linreg"]["train"].update(steps=10**11), "linreg.train.steps: 100000000000 is greater than the maximum"),
    (lambda c: c["linreg"]["runs"].update(big={"train": {"log_every": 10**11}}), "linreg.runs.big.train.log_every"),
])
def test_bad_values_give_one_line_naming_the_key(edit, message):
    config = copy.deepcopy(default_config())
    edit(config)
    with pytest.raises(ConfigError) as err:
        validate_workflow_config(config)
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


def test_no_hand_written_schema_remains():
    assert not (REPO / "workflow" / "schemas").exists()


def test_the_generated_schema_carries_the_field_metadata():
    from icl_study.settings import SECTIONS
    from icl_study.settings.schema import config_schema

    linreg = config_schema(SECTIONS)["properties"]["linreg"]
    assert linreg["additionalProperties"] is False
    assert linreg["properties"]["probe"]["properties"]["n_train"] == {"type": "integer", "minimum": 8}
    assert linreg["properties"]["train"]["properties"]["lr"] == {"type": "number", "exclusiveMinimum": 0}
    assert linreg["properties"]["model"]["properties"]["attention"]["enum"][0] == "softmax"
    assert linreg["properties"]["eval"]["properties"]["gd_steps"]["minItems"] == 1


def test_docs_config_md_is_the_generators_page():
    """docs/config.md is generated: after a change of a settings field, regenerate it with the
    command its header names (python -m icl_study.settings --markdown > docs/config.md)."""
    from icl_study.settings import SECTIONS
    from icl_study.settings.schema import markdown

    page = (REPO / "docs" / "config.md").read_text()
    assert "python -m icl_study.settings --markdown > docs/config.md" in page
    assert page == markdown(SECTIONS), "docs/config.md is stale: python -m icl_study.settings --markdown > docs/config.md"


def test_a_stale_page_is_caught():
    """The check above can fail: the page of a section with one more field differs."""
    import dataclasses

    from icl_study.settings import SECTIONS
    from icl_study.settings.schema import markdown

    grown = dataclasses.make_dataclass("ShenSettings", [("extra", int, dataclasses.field(default=1))],
                                       bases=(SECTIONS["shen"],), frozen=True)
    assert markdown({**SECTIONS, "shen": grown}) != markdown(SECTIONS)
