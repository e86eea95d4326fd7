"""Pins the load-time checks the schema cannot express: each bad value,
reference or missing user file stops the workflow with one line naming the key, before any job."""

from __future__ import annotations

import copy

import pytest
import yaml

from icl_study.checks import check_workflow_config
from icl_study.config import ConfigError, deep_merge
from icl_study.settings import validate_workflow_config
from icl_study.settings import load_config
from workflow_helpers import REPO, TINY, snakemake

CONFIG = load_config([REPO / "config.yaml", TINY])
CSV_TASK = {"source": "csv", "path": None, "template": "{text}", "label_words": [" no", " yes"], "separator": "\n",
            "max_words": 0, "rating_edges": [0.0]}


def test_every_tier_passes():
    check_workflow_config(CONFIG)
    for tier in ("paper.yaml", "transience_coopetition.yaml"):
        check_workflow_config(deep_merge(CONFIG, yaml.safe_load((REPO / "configs" / tier).read_text())))


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["linreg"]["train"].update(lr=float("nan")), "linreg.train.lr: nan is not a finite number"),
    (lambda c: c["linreg"]["task"].update(noise_std=float("inf")), "linreg.task.noise_std: inf is not a finite"),
    (lambda c: c["linreg"]["train"].update(warmup_steps=50), "linreg.train.warmup_steps: 50 is more than train.steps 20"),
    (lambda c: c["linreg"]["train"].update(keep_steps=[10, 30]), "linreg.train.keep_steps: 30 is not a step"),
    (lambda c: c["linreg"]["model"].update(d_model=15), "linreg.model.d_model: 15 is not divisible by model.n_head 2"),
    (lambda c: c["linreg"]["model"].update(n_positions=8), "linreg.runs.main: model.n_positions 8 is shorter"),
    (lambda c: c["linreg"]["eval"].update(knn_k=9), "linreg.eval.knn_k: 9 neighbours"),
    (lambda c: c["shen"].update(linreg_runs=["nosuchrun"]), "shen.linreg_runs: 'nosuchrun' is not a linreg run"),
    # narrowing the sweep removes a run shen reads (was: KeyError 'L1_noise0' in an input function)
    (lambda c: c["linreg"]["sweep"].update(noise_std=[0.5]), "shen.linreg_runs: 'L1_noise0' is not a linreg run"),
    (lambda c: c["transience"].update(base_size="nosuch"), "transience.base_size: 'nosuch' is not one of"),
    (lambda c: c["dai"].update(text_tasks=["nosuch"]), "dai.text_tasks: 'nosuch' is not a task of lm.tasks"),
])
def test_bad_value_is_one_line_naming_the_key(edit, message):
    config = copy.deepcopy(CONFIG)
    edit(config)
    with pytest.raises(ConfigError) as err:
        check_workflow_config(config)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_user_file_is_an_error_unless_optional(tmp_path):
    config = copy.deepcopy(CONFIG)
    config["lm"]["tasks"]["mine"] = {**CSV_TASK, "path": str(tmp_path / "nosuch.csv")}
    with pytest.raises(ConfigError, match=r"^lm\.tasks\.mine\.path: .*nosuch\.csv.*optional: true"):
        check_workflow_config(config)
    config["lm"]["tasks"]["mine"]["optional"] = True
    check_workflow_config(config)
    validate_workflow_config(config)  # skipped by the workflow, with a logged reason


def test_missing_or_colliding_hf_models_are_refused(tmp_path):
    for parent in ("a", "b"):
        (tmp_path / parent / "tiny_gpt2").mkdir(parents=True)
        for name in ("config.json", "model.safetensors"):  # a saved model (one without weights is refused)
            (tmp_path / parent / "tiny_gpt2" / name).write_text("{}")
    config = copy.deepcopy(CONFIG)
    config["lm"]["models"] = [f"hf:{tmp_path}/a/tiny_gpt2", f"hf:{tmp_path}/b/tiny_gpt2"]
    with pytest.raises(ConfigError, match=r"^lm\.models: .*a/tiny_gpt2 and .*b/tiny_gpt2 would both be named hf-tiny_gpt2"):
        check_workflow_config(config)
    config["lm"]["models"] = [f"hf:{tmp_path}/nosuch"]
    with pytest.raises(ConfigError, match=r"^lm\.models: .*nosuch.* does not exist"):
        check_workflow_config(config)
    config["lm"]["models"] = [{"spec": f"hf:{tmp_path}/nosuch", "optional": True}]
    check_workflow_config(config)
    validate_workflow_config(config)  # the schema allows it


@pytest.mark.workflow
@pytest.mark.parametrize("override, message", [
    ("shen:\n  linreg_runs: [nosuchrun]\n", "shen.linreg_runs: 'nosuchrun' is not a linreg run"),
    # checked by the plan (icl_study/plan.py), which needs the transience runs it refers to
    ("lenses:\n  families:\n    bursty: {run: nosuch/wd0}\n", "lenses.families.bursty: 'nosuch/wd0/seed0' is not a transience run"),
])
def test_dry_run_stops_on_a_bad_reference_with_one_line(tmp_path, override, message):
    """Was an InputFunctionException traceback (or a bare SystemExit from a rule file); now the
    load-time line, and no job is planned."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(override)
    result = snakemake(tmp_path / "run", "-n", configfiles=(REPO / "config.yaml", TINY, bad), check=False)
    assert result.returncode != 0
    assert f"icl_study: config error: {message}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout and "Exception" not in result.stderr


@pytest.mark.workflow
def test_user_files_are_inputs_of_the_jobs_that_read_them(tmp_path):
    """A user's CSV and an hf: model's files are job inputs (editing them reruns the job); before,
    neither was, and a missing CSV silently dropped its task."""
    model = tmp_path / "models" / "tiny_lm"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"")
    data = tmp_path / "mine.csv"
    data.write_text("text,label\ngood,1\nbad,0\n")
    override = tmp_path / "user.yaml"
    override.write_text(yaml.safe_dump({"lm": {"models": [f"hf:{model}"], "tasks": {"mine": {**CSV_TASK, "path": str(data)}}}}))
    result = snakemake(tmp_path / "run", "results/lm/icl/hf-tiny_lm/mine.csv", "-n",
                       configfiles=(REPO / "config.yaml", TINY, override))
    inputs = next(line for line in result.stdout.splitlines() if line.strip().startswith("input:"))
    assert str(data) in inputs and str(model / "config.json") in inputs
