"""Snakemake's per-job benchmark files go under results/benchmarks/, never beside the benchmark
scripts in benchmarks/, and benchmarks/tier_time.py reads them from there."""

from __future__ import annotations

import re
import sys

from workflow_helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import tier_time  # noqa: E402


def test_every_rule_benchmark_is_under_results_benchmarks():
    paths = []
    for rule_file in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = rule_file.read_text()
        paths += re.findall(r"benchmark:\s*f?\"([^\"]+)\"", text)
    assert paths, "no benchmark: directive found"
    assert all(p.startswith("results/benchmarks/") for p in paths), [p for p in paths
                                                                     if not p.startswith("results/benchmarks/")]


def test_tier_time_reads_results_benchmarks(tmp_path):
    bench = tmp_path / "results" / "benchmarks" / "linreg_train"
    bench.mkdir(parents=True)
    (bench / "main.tsv").write_text("s\th:m:s\n12.0\t0:00:12\n")
    (tmp_path / "results" / "benchmarks" / "dai_summary.tsv").write_text("s\th:m:s\n3.0\t0:00:03\n")
    assert tier_time.job_seconds(tmp_path) == {"linreg": (1, 12.0), "dai": (1, 3.0)}
