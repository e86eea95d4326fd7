"""Pins the workflow's promises on the tiny tier: the whole DAG runs end to end, a second run has
nothing to do, a figure reruns alone without retraining, a changed config value reruns exactly the
jobs that read it, and the workflow is lint-clean."""

import re

import pandas as pd
import pytest

from workflow_helpers import REPO, snakemake


@pytest.fixture
def run_dir(tiny_run):
    """The tiny tier's end-to-end run (conftest.py; shared with the docs tests)."""
    return tiny_run


def jobs_planned(dry_run_stdout: str) -> set[str]:
    """Rule names from the job-stats table of a dry run."""
    table = dry_run_stdout.split("Job stats:")[-1].split("Reasons:")[0] if "Job stats:" in dry_run_stdout else ""
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+$", table, re.M)} - {"total"}


def test_end_to_end_writes_figure_and_table(run_dir):
    for suffix in ("png", "pdf"):
        figure = run_dir / "results" / "figures" / f"linreg_error_vs_k.{suffix}"
        assert figure.stat().st_size > 1000
    table = pd.read_csv(run_dir / "results" / "linreg" / "errors.csv")
    n_points = 6  # tests/configs/tiny.yaml: linreg.task.n_points
    predictors = {"model", "least_squares", "averaging", "knn_3", "zero", "ridge_0.1", "ridge_1", "gd_1"}
    assert set(table["predictor"]) == predictors
    errors = table[table["metric"] == "normalized_error"]
    assert len(errors) == len(predictors) * n_points  # one row per predictor and k = 0..n-1
    # and each baseline minus the model, paired on the same tasks, per k
    assert len(table[table["metric"] == "minus_model"]) == (len(predictors) - 1) * n_points
    assert (table["ci_low"] <= table["value"]).all() and (table["value"] <= table["ci_high"]).all()


def test_second_run_has_nothing_to_do(run_dir):
    assert "Nothing to be done" in snakemake(run_dir, "-n").stdout


def test_forcing_one_figure_retrains_nothing(run_dir):
    figure = "results/figures/linreg_error_vs_k.png"
    result = snakemake(run_dir, figure, "--cores", "1", "--forcerun", "fig_linreg_error_vs_k")
    ran = set(re.findall(r"^(?:local)?rule (\w+):", result.stdout + result.stderr, re.M))
    assert ran == {"fig_linreg_error_vs_k"}


def test_changed_eval_value_reruns_only_evaluation_and_figure(run_dir, tmp_path):
    override = tmp_path / "override.yaml"
    override.write_text("linreg:\n  eval:\n    n_tasks: 32\n")
    configs = (REPO / "config.yaml", REPO / "tests" / "configs" / "tiny.yaml", override)
    planned = jobs_planned(snakemake(run_dir, "-n", configfiles=configs).stdout)
    # the ledger reads errors.csv; the figure's caption quotes linreg.eval.n_tasks, so it rerenders;
    # the report's first page shows the ledger
    assert planned == {"linreg_errors", "fig_linreg_error_vs_k", "caption", "claims_ledger", "report_page", "all"}


def test_changed_train_value_retrains(run_dir, tmp_path):
    override = tmp_path / "override.yaml"
    override.write_text("linreg:\n  train:\n    lr: 0.002\n")
    configs = (REPO / "config.yaml", REPO / "tests" / "configs" / "tiny.yaml", override)
    assert "linreg_train" in jobs_planned(snakemake(run_dir, "-n", configfiles=configs).stdout)


def test_changed_variant_parameter_retrains_only_that_variant(run_dir, tmp_path):
    """`neg_beta` is read by the `negative` attention kind only: its softmax baseline and the other
    variants (and the corpus runs, a separate model section, and the grid's own value) stay as they
    are; the grid table, which holds every variant at its configured value too, is rebuilt."""
    override = tmp_path / "override.yaml"
    override.write_text("ren:\n  variants:\n    model:\n      neg_beta: 0.75\n")
    configs = (REPO / "config.yaml", REPO / "tests" / "configs" / "tiny.yaml", override)
    stdout = snakemake(run_dir, "-n", configfiles=configs).stdout
    assert set(re.findall(r"wildcards: group=(\w+)", stdout)) == {"negative"}
    assert jobs_planned(stdout) == {"ren_train", "ren_variants", "fig_ren_variants", "ren_grid", "fig_ren_variants_grid",
                                    "claims_ledger", "report_page", "all"}


def test_ledger_has_one_row_per_claim(run_dir):
    """The run's claims.csv: every declared claim's tables exist, one row per claim, verdicts by code."""
    from icl_study.claims import COLUMNS, VERDICTS
    from icl_study.ledger import all_claims, build_ledger, claim_tables
    from icl_study.settings import load_config

    config = load_config([str(REPO / "config.yaml"), str(REPO / "tests" / "configs" / "tiny.yaml")])
    claims = all_claims(config)
    for path in claim_tables(claims):
        assert (run_dir / "results" / path).is_file(), path
    ledger = pd.read_csv(run_dir / "results" / "claims.csv")
    assert tuple(ledger.columns) == COLUMNS
    assert list(ledger["claim_id"]) == [c.claim_id for c in claims]
    assert set(ledger["verdict"]) <= set(VERDICTS)
    rebuilt = build_ledger(run_dir / "results", config)
    pd.testing.assert_series_equal(rebuilt["verdict"], ledger["verdict"])


def test_lint_is_clean(tmp_path):
    result = snakemake(tmp_path, "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_dag_dry_run(tmp_path):
    result = snakemake(tmp_path, "-n", configfiles=(REPO / "config.yaml",))
    assert "linreg_train" in jobs_planned(result.stdout)


def test_report_is_self_contained_with_every_figure(run_dir):
    """`snakemake --report` builds one offline HTML file that holds every figure rule's report output."""
    report = run_dir / "report.html"
    snakemake(run_dir, "--report", str(report))
    html = report.read_text()
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?://', html)  # nothing fetched online
    rows = [line.split("\t") for line in snakemake(run_dir, "--summary").stdout.splitlines()[1:]]
    # --summary columns: output_file, date, rule, log-file(s), status, plan
    figures = {row[0] for row in rows if len(row) > 2 and row[2].startswith("fig_") and row[0].endswith(".png")}
    assert figures, "no figure outputs in the DAG"
    for figure in figures:
        assert figure.rsplit("/", 1)[-1] in html, f"{figure} is not in the report"
    # it opens on the run's ledger and environment record (rule report_page), not on the DAG alone
    page = (run_dir / "results" / "report" / "page" / "workflow.rst").read_text()
    claims = pd.read_csv(run_dir / "results" / "claims.csv")
    assert "Rendered from the run of" in page and "list-table" in page
    assert all(f"``{claim_id}``" in page for claim_id in claims["claim_id"])
    assert "environment.json" in html and "claims.csv" in html


def test_run_records_its_environment(run_dir):
    """results/environment.json: packages, Python, torch threads, CPU model, and the workflow
    checkout's commit and tree state (null outside git)."""
    import json
    import platform

    import torch

    from icl_study.environment import source_state

    rec = json.loads((run_dir / "results" / "environment.json").read_text())
    assert rec["python"]["version"] == platform.python_version()
    assert rec["packages"]["torch"] == torch.__version__ and "snakemake" in rec["packages"]
    assert rec["torch"]["version"] == torch.__version__ and rec["torch"]["threads"] >= 1
    assert rec["cpu"]["model"] and rec["cpu"]["logical_cores"] >= 1
    assert rec["git"]["commit"] == source_state(REPO)["commit"] and rec["git"]["dirty"] in (True, False, None)
    assert rec["lock"]["found"] and isinstance(rec["lock"]["differs"], dict)
    assert rec["recorded_at"][:4].isdigit()


def test_hf_model_jobs_log_no_transformers_deprecation(tmp_path, gpt2_dir):
    """The tiny tier has no text model; with the tiny GPT-2 as one, the ICL job's cached forwards
    (prefix cache, batched queries) log no deprecation warning from transformers."""
    import yaml

    from workflow_helpers import TINY

    override = tmp_path / "hf.yaml"
    override.write_text(yaml.safe_dump({"lm": {"models": [f"hf:{gpt2_dir}"]}}))
    workdir, target = tmp_path / "run", f"results/lm/icl/hf-{gpt2_dir.name}/mr.csv"
    snakemake(workdir, target, "--cores", "1", configfiles=(REPO / "config.yaml", TINY, override))
    logs = "".join(path.read_text() for path in (workdir / "logs").rglob("*.log"))
    assert (workdir / target).exists() and "hf-" + gpt2_dir.name in str(target)
    assert not re.search(r"deprecat|FutureWarning", logs, re.I), logs[-3000:]
