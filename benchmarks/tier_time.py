"""Per-study compute time of a finished run, from the TSV files Snakemake's `benchmark:` wrote.

    python benchmarks/tier_time.py            # reads results/benchmarks/**/*.tsv under the current directory
    python benchmarks/tier_time.py RUN_DIR    # or under another run's directory

A job's study is the first word of its rule name (the benchmark folder or file name, e.g.
`linreg_train/main.tsv` -> linreg). Sums are job seconds (wall time of each job), so with two jobs
side by side the run's wall time is about half their total; compare with the run's own clock.
"""

from __future__ import annotations

import collections
import csv
import sys
from pathlib import Path


def job_seconds(root: Path) -> dict[str, tuple[int, float]]:
    """{study: (jobs, summed seconds)} over every benchmark TSV below root/results/benchmarks (where
    the rules' `benchmark:` files go), or root/benchmarks for a run made before they moved there."""
    totals: dict[str, list] = collections.defaultdict(lambda: [0, 0.0])
    bench = root / "results" / "benchmarks"
    if not bench.is_dir():
        bench = root / "benchmarks"
    for tsv in sorted(bench.rglob("*.tsv")):
        rule = tsv.relative_to(bench).parts[0].removesuffix(".tsv")
        with open(tsv, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if rows:
            totals[rule.split("_")[0]][0] += 1
            totals[rule.split("_")[0]][1] += float(rows[-1]["s"])  # the last (most recent) repeat
    return {study: (n, s) for study, (n, s) in totals.items()}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path(".")
    totals = job_seconds(root)
    print(f"{'study':<12}{'jobs':>6}{'job minutes':>14}")
    for study, (n, seconds) in sorted(totals.items()):
        print(f"{study:<12}{n:>6}{seconds / 60:>14.1f}")
    print(f"{'total':<12}{sum(n for n, _ in totals.values()):>6}{sum(s for _, s in totals.values()) / 60:>14.1f}")


if __name__ == "__main__":
    main()
