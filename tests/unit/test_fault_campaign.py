"""Pins the fault campaign's findings (tiny tier): each bad input is refused at load time or by
the table reader with one line naming the key or the file, never a silent change of a result."""

from __future__ import annotations

import copy

import pytest

from icl_study.checks import check_workflow_config
from icl_study.config import ConfigError, deep_merge
from icl_study.settings import validate_workflow_config
from icl_study.settings import full_config, load_config
from workflow_helpers import REPO, TINY

def tiny_with(override: dict) -> dict:
    """The tiny tier with `override` merged over it, loaded and checked as the workflow does."""
    config = load_config([REPO / "config.yaml", TINY])
    config = full_config(deep_merge(config, copy.deepcopy(override)))
    validate_workflow_config(config)
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


# --- LOW: lists whose emptiness silently drops rows --------------------------------------------------
@pytest.mark.parametrize("override, key", [
    ({"shen": {"linreg_runs": []}}, "shen.linreg_runs"),
    ({"shen": {"tasks": []}}, "shen.tasks"),
    ({"dai": {"text_tasks": []}}, "dai.text_tasks"),
])
def test_empty_name_lists_are_refused(override, key):
    with pytest.raises(ConfigError, match=rf"^{key}: \[\] should be non-empty"):
        tiny_with(override)


# --- HIGH: the documented optional model ------------------------------------------------------------
def test_optional_hf_model_is_accepted_by_the_settings_loader(tmp_path):
    absent = f"hf:{tmp_path / 'absent'}"
    config = tiny_with({"lm": {"models": ["smollm2", {"spec": absent, "optional": True}]}})
    assert config["lm"]["models"][1] == {"spec": absent, "optional": True}
    from icl_study.studies.lm_plan import text_models

    assert list(text_models(config["lm"])) == ["smollm2-135m"]  # the absent optional model is skipped


def test_a_model_entry_of_the_wrong_type_still_names_the_key():
    with pytest.raises(ConfigError, match=r"^lm\.models: expected str or dict, got 3$"):
        full_config({"lm": {"models": [3]}})


# --- HIGH: a truncated table silently changes a verdict ---------------------------------------------
def errors_table(path, gd_minus_model: float) -> None:
    """A linreg/errors.csv whose largest-k GD-minus-model interval is wholly on one side of 0."""
    import pandas as pd

    rows = []
    for k in range(6):
        for predictor, label, value in (("model", "transformer", 0.5), ("gd_1", "GD, 1 step", 0.5 + gd_minus_model),
                                        ("zero", "zero", 1.0)):
            rows.append({"run": "main", "predictor": predictor, "label": label, "k": k, "metric": "normalized_error",
                         "value": value, "ci_low": value - 0.01, "ci_high": value + 0.01})
        rows.append({"run": "main", "predictor": "gd_1", "label": "GD, 1 step", "k": k, "metric": "minus_model",
                     "value": gd_minus_model, "ci_low": gd_minus_model - 0.01, "ci_high": gd_minus_model + 0.01})
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


@pytest.fixture(scope="module")
def tiny():
    return load_config([REPO / "config.yaml", TINY])


def beats_gd1(config):
    from icl_study.ledger import all_claims

    return [c for c in all_claims(config) if c.claim_id == "linreg.beats_gd1"]


@pytest.mark.parametrize("damage", ["truncated", "header_only", "empty", "text_in_number", "ragged"])
def test_a_damaged_claim_table_stops_the_ledger_naming_the_file(tiny, tmp_path, damage):
    from icl_study.config import DataError
    from icl_study.ledger import build_ledger

    table = tmp_path / "linreg" / "errors.csv"
    errors_table(table, gd_minus_model=0.2)
    intact = build_ledger(tmp_path, tiny, beats_gd1(tiny)).iloc[0]
    assert intact["value"] == pytest.approx(0.2) and intact["verdict"] != "inconclusive"  # decided (1 seed: exploratory)
    data = table.read_bytes()
    lines = data.decode().splitlines(keepends=True)
    table.write_bytes({"truncated": data[:int(0.55 * len(data))], "header_only": lines[0].encode(), "empty": b"",
                       "text_in_number": "".join(lines[:1] + [lines[1].replace(",0.5,", ",abc,")] + lines[2:]).encode(),
                       "ragged": "".join(lines[:5] + [lines[5].rsplit(",", 2)[0] + "\n"] + lines[6:]).encode()}[damage])
    with pytest.raises(DataError) as err:
        build_ledger(tmp_path, tiny, beats_gd1(tiny))
    assert str(table) in str(err.value) and "\n" not in str(err.value)


def test_a_truncated_table_stops_the_figure_and_the_caption_naming_the_file(tmp_path):
    from icl_study import docs
    from icl_study.config import DataError
    from icl_study.plots.linreg import error_vs_k_rule

    table = tmp_path / "linreg" / "errors.csv"
    errors_table(table, gd_minus_model=-0.2)
    table.write_bytes(table.read_bytes()[:int(0.55 * table.stat().st_size)])
    with pytest.raises(DataError, match="errors.csv"):
        error_vs_k_rule([str(table)], {"n_dims": 4}, [str(tmp_path / "f.png"), str(tmp_path / "f.pdf")])
    with pytest.raises(DataError, match="errors.csv"):
        docs.render("{{linreg/errors.csv | run=main,predictor=model,k=5 | value}}", tmp_path, {})


def test_the_table_reader_accepts_a_bom_and_checks_known_schemas(tmp_path):
    from icl_study.config import DataError
    from icl_study.tables import read_table

    path = tmp_path / "t.csv"
    path.write_bytes("\ufeffa,b\n1,x\n".encode())
    assert list(read_table(path).columns) == ["a", "b"]  # BOM stripped, not refused
    lenses = tmp_path / "lenses" / "table.csv"
    lenses.parent.mkdir()
    lenses.write_text("family,step,lens\nbursty,1,dai\n")
    with pytest.raises(DataError, match=r"lenses/table.csv: no column 'metric'"):
        read_table(lenses)


# --- MEDIUM: --forcerun swallows the targets after it --------------------------------------------------
def test_readme_and_operations_warn_that_forcerun_swallows_targets():
    for page in (REPO / "README.md", REPO / "docs" / "operations.md"):
        text = " ".join(page.read_text().split())
        assert "targets before `--configfile` and `--forcerun`" in text, page
        assert "--forcerun linreg_train results/linreg/main/model.pt" in text, page  # the trap, named


# --- MEDIUM: a corrupt table gives one line naming it, not a traceback -------------------------------
def test_a_figure_job_on_a_header_only_table_prints_one_line_naming_it(tmp_path):
    import subprocess
    import sys

    table = tmp_path / "errors.csv"
    table.write_text("run,predictor,label,k,metric,value,ci_low,ci_high\n")
    result = subprocess.run([sys.executable, "-m", "icl_study", "plots.linreg:error_vs_k_rule", str(table), "--params",
                             '{"n_dims": 4}', "--out", str(tmp_path / "f.png"), str(tmp_path / "f.pdf")],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == f"icl_study: data error: {table}: header only, no rows " \
                                                     "(rerun the job that writes it)"


# --- MEDIUM / LOW: the command line ends with one line, not a traceback -------------------------------
def run_cli(*args, cwd=REPO):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "icl_study", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("args, message", [
    (("nosuch:thing",), "icl_study: entry 'nosuch:thing': there is no module icl_study.nosuch"),
    (("ledger:ledger_rule", "--params", "{config: 1}"), "icl_study: --params is not JSON"),
    (("plots.linreg:error_vs_k_rule", "x.csv", "--params", "[1]"), "icl_study: --params must be a JSON object"),
])
def test_bad_command_lines_end_with_one_line(args, message):
    result = run_cli(*args)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith(message)


def test_a_missing_out_ends_with_one_line():
    result = run_cli("docs:caption_rule", "--params", '{"template": "a caption", "config": {}}')
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "name them with --out" in result.stderr.strip().splitlines()[-1]


def test_a_full_disk_ends_with_one_line(monkeypatch, capsys):
    import errno

    from icl_study import cli

    def full(inputs, params, outputs):
        raise OSError(errno.ENOSPC, "No space left on device", "results/linreg/errors.csv")

    monkeypatch.setattr(cli, "entry_function", lambda entry: full)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["studies.linreg:errors_rule", "--out", "results/linreg/errors.csv"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("icl_study: disk full writing results/linreg/errors.csv: No space left on device")


# --- LOW: the user data loader ----------------------------------------------------------------------
def load_user_csv(tmp_path, content: bytes):
    from icl_study.lm.data import load_examples, task_config

    path = tmp_path / "data.csv"
    path.write_bytes(content)
    return load_examples(task_config({"source": "csv", "path": str(path)}))


def test_a_user_csv_with_a_bom_header_is_read(tmp_path):
    examples = load_user_csv(tmp_path, "\ufefftext,label\ngood,1\nbad,0\n".encode())
    assert [(e.text, e.label) for e in examples] == [("good", 1), ("bad", 0)]


def test_an_out_of_range_label_names_the_file_and_line(tmp_path):
    from icl_study.config import DataError

    with pytest.raises(DataError) as err:
        load_user_csv(tmp_path, b"text,label\ngood,1\nbad,0\nodd,5\n")
    assert str(err.value).startswith(f"{tmp_path / 'data.csv'} line 4: label 5 is not a class of task.label_words")


# --- LOW: hf: model directories -------------------------------------------------------------------
def test_an_hf_directory_without_weights_is_refused_at_load_time(tmp_path):
    model = tmp_path / "gpt2"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"^lm\.models: hf:.*gpt2: .* has no weights"):
        tiny_with({"lm": {"models": [f"hf:{model}"]}})
    (model / "model.safetensors").write_bytes(b"")
    tiny_with({"lm": {"models": [f"hf:{model}"]}})  # a saved model passes


def test_the_same_hf_directory_twice_is_named_as_such(tmp_path):
    model = tmp_path / "gpt2"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match="are the same directory: list it once"):
        tiny_with({"lm": {"models": [f"hf:{model}", f"hf:{model}/"]}})


# --- LOW: divergence advice names its keys with their study --------------------------------------------
def test_divergence_advice_names_keys_with_their_study():
    from icl_study.train import TrainingDiverged, in_study

    err = TrainingDiverged("train.lr: the training loss 1e+09 at step 3 is over 100x its first value 1: lower "
                           "train.lr (now 10), or set train.grad_clip (now 0: off), e.g. 1.0")
    message = str(in_study(err, "results/linreg/L2_noise0/model.pt"))
    assert message.startswith("linreg.train.lr: the training loss")
    assert "lower linreg.train.lr (now 10), or set linreg.train.grad_clip (now 0: off)" in message
    assert "run L2_noise0" in message


def test_every_figure_entry_and_the_ledger_read_tables_through_the_checked_reader():
    """A figure or ledger reading a table with bare pandas would again turn a cut-short table into
    NaN rows: every table they read goes through icl_study.tables.read_table."""
    sources = sorted((REPO / "icl_study" / "plots").glob("*.py")) + [REPO / "icl_study" / "ledger.py",
                                                                      REPO / "icl_study" / "docs.py"]
    bare = [path.name for path in sources if "read_csv(" in path.read_text()]
    assert not bare, f"read tables with icl_study.tables.read_table, not pandas: {bare}"


@pytest.mark.parametrize("damage", ["header_only", "truncated", "text_in_number"])
def test_an_aggregating_job_on_a_damaged_input_table_ends_with_one_line_naming_it(tmp_path, damage):
    """Jobs that read tables with plain pandas (the studies' collect and summary entries) failed with
    a traceback naming no file; the command line names the damaged input instead."""
    good = "run,predictor,k,metric,value\nmain,model,1,spd,0.5\nmain,model,2,spd,0.25\n"
    table = tmp_path / "matching.csv"
    table.write_text({"header_only": good.splitlines(keepends=True)[0], "truncated": good[:-12],
                      "text_in_number": good.replace("0.25", "n/a?")}[damage])
    result = run_cli("studies.linreg_matching:sweep_rule", str(table), "--out", str(tmp_path / "out.csv"))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"icl_study: data error: {table}: "), last


def test_a_job_refuses_a_cut_short_results_table_before_it_starts(tmp_path):
    """A table cut at a row's middle is read by pandas as one row of NaNs: an aggregating job would
    succeed on it. Every results/ table a job reads is checked first."""
    table = tmp_path / "results" / "linreg" / "L1_noise0" / "matching.csv"
    table.parent.mkdir(parents=True)
    table.write_text("run,predictor,k,metric,value\nmain,model,1,spd,0.5\nmain,model,2,spd,0.2")
    result = run_cli("studies.linreg_matching:sweep_rule", str(table), "--out", str(tmp_path / "out.csv"))
    assert result.returncode == 2 and not (tmp_path / "out.csv").exists()
    assert result.stderr.strip().splitlines()[-1] == (f"icl_study: data error: {table}: does not end with a newline: "
                                                      "the file was cut short (rerun the job that writes it)")


def test_the_settings_loader_refuses_duplicates_without_the_schema(tmp_path):
    """`python -m icl_study ledger:main results config.yaml mine.yaml` loads a config through
    load_config alone: it refuses a repeated seed too."""
    mine = tmp_path / "mine.yaml"
    mine.write_text("linreg:\n  sweep:\n    seeds: [0, 0, 1]\n")
    with pytest.raises(ConfigError, match=r"^linreg\.sweep\.seeds: \[0, 0, 1\] has non-unique elements$"):
        load_config([REPO / "config.yaml", TINY, mine])
