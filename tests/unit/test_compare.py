"""Pins the result-folder comparison: identical folders pass; a changed cell is found at its row
and column; a missing table, another header or another row count is named; ignored columns are
skipped; the command line exits 1 on any difference. Torch-free."""

import subprocess
import sys

import pytest

from icl_study.compare import compare_folders
from workflow_helpers import REPO

TABLE = "step,metric,value\n10,loss,0.5\n20,loss,0.25\n"


@pytest.fixture
def folders(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        (folder / "linreg" / "main").mkdir(parents=True)
        (folder / "linreg" / "errors.csv").write_text(TABLE)
        (folder / "linreg" / "main" / "train_metrics.csv").write_text("step,seconds\n10,1.5\n")
    return a, b


def test_identical_folders_have_no_difference(folders):
    names, differences = compare_folders(*folders)
    assert names == ["linreg/errors.csv", "linreg/main/train_metrics.csv"]
    assert differences == []


def test_first_differing_cell_is_named(folders):
    a, b = folders
    (b / "linreg" / "errors.csv").write_text(TABLE.replace("0.25", "0.25000000000000006"))
    (d,) = compare_folders(a, b)[1]
    assert (d.table, d.status, d.row, d.column, d.a, d.b) == ("linreg/errors.csv", "cell", 2, "value", "0.25",
                                                               "0.25000000000000006")


@pytest.mark.parametrize("text, status", [
    ("step,metric\n10,loss\n20,loss\n", "header"),
    ("step,metric,value\n10,loss,0.5\n", "rows"),
])
def test_header_and_row_count_differences(folders, text, status):
    a, b = folders
    (b / "linreg" / "errors.csv").write_text(text)
    assert [d.status for d in compare_folders(a, b)[1]] == [status]


def test_missing_tables_on_either_side(folders):
    a, b = folders
    (a / "linreg" / "errors.csv").unlink()
    (b / "linreg" / "main" / "train_metrics.csv").unlink()
    assert [(d.table, d.status) for d in compare_folders(a, b)[1]] == [
        ("linreg/errors.csv", "only_in_b"), ("linreg/main/train_metrics.csv", "only_in_a")]


def test_ignored_columns_are_skipped(folders):
    a, b = folders
    (b / "linreg" / "main" / "train_metrics.csv").write_text("step,seconds\n10,2.5\n")
    assert [d.column for d in compare_folders(a, b)[1]] == ["seconds"]
    assert compare_folders(a, b, ignore_columns=["seconds"])[1] == []


def test_command_line_exit_status_and_report(folders, tmp_path):
    a, b = folders
    cmd = [sys.executable, "-m", "icl_study", "compare:main", str(a), str(b)]
    same = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert same.returncode == 0 and "2 of 2 tables identical, 0 differ" in same.stdout
    (b / "linreg" / "errors.csv").write_text(TABLE.replace("0.5", "0.6"))
    report = tmp_path / "report.csv"
    differ = subprocess.run([*cmd, "--out", str(report)], capture_output=True, text=True, cwd=REPO)
    assert differ.returncode == 1
    assert "linreg/errors.csv: first difference at row 1, column 'value': '0.5' vs '0.6'" in differ.stdout
    assert report.read_text().splitlines()[1] == "linreg/errors.csv,cell,1,value,0.5,0.6"
