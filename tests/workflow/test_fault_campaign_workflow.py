"""Pins the fault campaign's workflow findings: a checkout path with a space, the console of a
damaged table, and the one-line message of a full disk."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys

from workflow_helpers import REPO, TINY


def test_a_checkout_path_with_a_space_is_never_split_in_a_job_command(tmp_path):
    """Every job's shell command quotes its paths: the caption rule passed its template's absolute
    path unquoted, so a checkout under `my checkout/` broke every caption job."""
    checkout = tmp_path / "my checkout"
    shutil.copytree(REPO, checkout, ignore=shutil.ignore_patterns(".git", ".venv", "results", "logs", ".snakemake",
                                                                  "__pycache__", "*.egg-info"))
    workdir = tmp_path / "my run"
    cmd = [sys.executable, "-m", "snakemake", "-n", "-p", "--forceall", "--snakefile", str(checkout / "Snakefile"),
           "--directory", str(workdir), "--configfile", str(checkout / "config.yaml"),
           str(checkout / "tests" / "configs" / TINY.name)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    commands = [line.strip() for line in result.stdout.splitlines() if "python -m icl_study" in line]
    assert any("docs:caption_rule" in c for c in commands)
    fragment = str(tmp_path / "my")  # what an unquoted path under `my checkout` splits into
    for command in commands:
        tokens = shlex.split(command)
        assert fragment not in tokens, command
        assert not any(t.startswith("checkout/") for t in tokens), command


def test_report_before_a_run_says_to_run_the_workflow_first(tmp_path):
    from workflow_helpers import snakemake

    result = snakemake(tmp_path / "run", "--report", str(tmp_path / "report.html"), check=False)
    assert result.returncode != 0
    assert "run the workflow first" in (result.stdout + result.stderr), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
