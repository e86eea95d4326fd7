"""docs/CONTRIBUTING.md's walk-through works as written: its five blocks, applied mechanically to a
copy of the repository, add the example study `toy` to the default tier (the default and paper
tiers plan its jobs), and the tiny tier then trains, measures and draws it, renders its caption,
puts its claim in the ledger and renders its docs page."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workflow_helpers import REPO

DOC = REPO / "docs" / "CONTRIBUTING.md"
# A fenced block whose first line says where it goes: `# file: <path>` (a new file), `# append to:
# <path>`, or `# insert into: <path>, above the line "<line>"`.
BLOCK = re.compile(r"^```\w*\n# (file|append to|insert into): (.+?)\n(.*?)^```", re.MULTILINE | re.DOTALL)
INSERT = re.compile(r'(\S+), above the line "(.*)"$')
FILES = {"icl_study/registry.py", "icl_study/studies/toy_plan.py", "icl_study/studies/toy.py",
         "tests/configs/tiny.yaml", "docs/templates/studies/toy.md"}
TOY_JOBS = ("toy_train", "toy_errors", "fig_toy_error_vs_k")


def walkthrough() -> list[tuple[str, str, str]]:
    """(action, path, text) of every placed block of the walk-through, in page order."""
    blocks = []
    for action, where, text in BLOCK.findall(DOC.read_text()):
        line = None
        if action == "insert into":
            where, line = INSERT.match(where).groups()
        blocks.append((action, where, text if line is None else (line, text)))
    return blocks


def apply(root: Path, action: str, path: str, text) -> None:
    target = root / path
    if action == "file":
        assert not target.exists(), f"{path} exists already"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    elif action == "append to":
        target.write_text(target.read_text() + text)
    else:
        line, text = text
        lines = target.read_text().splitlines(keepends=True)
        assert lines.count(line + "\n") == 1, f"{path}: the line {line!r} is not there exactly once"
        at = lines.index(line + "\n")
        target.write_text("".join(lines[:at]) + text + "".join(lines[at:]))


def copy_repository(dest: Path) -> None:
    """The tracked files (`git ls-files`) as they are in the working tree."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in filter(None, files.split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def test_walkthrough_adds_a_study_in_five_files():
    blocks = walkthrough()
    assert {path for _, path, _ in blocks} == FILES
    assert [action for action, _, _ in blocks].count("file") == 3  # the plan module, the study module, the page


@pytest.mark.workflow
def test_walkthrough_study_joins_the_default_tier_and_runs_on_the_tiny_tier(tmp_path):
    root = tmp_path / "repo"
    copy_repository(root)
    for block in walkthrough():
        apply(root, *block)
    # The copy's package, not the installed one: Snakemake and every job import it.
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    for tier in (["config.yaml"], ["config.yaml", "configs/paper.yaml"]):
        dry = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--cores", "2", "--configfile",
                              *tier], cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert dry.returncode == 0, dry.stderr[-3000:]
        assert all(job in dry.stdout for job in TOY_JOBS), (tier, dry.stdout[-3000:])

    configs = ["config.yaml", "tests/configs/tiny.yaml"]
    targets = ["results/figures/toy_error_vs_k.png", "results/report/toy_error_vs_k.rst"]
    run = subprocess.run([sys.executable, "-m", "snakemake", *targets, "--cores", "1",
                          "--configfile", *configs], cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False)
    logs = "".join(f"\n--- {p}\n{p.read_text()[-2000:]}" for p in sorted((root / "logs").rglob("*.log")))
    assert run.returncode == 0, run.stderr[-4000:] + logs
    caption = (root / "results" / "report" / "toy_error_vs_k.rst").read_text()
    assert "{{" not in caption and re.search(r"mean over seeds is \d\.\d\d", caption), caption

    import pandas as pd

    table = pd.read_csv(root / "results" / "toy" / "error_vs_k.csv")
    assert sorted(table["seed"].unique()) == [0, 1, 2] and table["normalized_error"].notna().all()
    assert (root / "results" / "figures" / "toy_error_vs_k.png").stat().st_size > 0
    assert (root / "results" / "figures" / "toy_error_vs_k.pdf").stat().st_size > 0

    # The toy's ledger row, by the ledger's own code (the full ledger needs every study's tables).
    code = ("import sys\n"
            "from icl_study.ledger import all_claims, build_ledger\n"
            "from icl_study.settings import load_config\n"
            "from icl_study.workflow_plan import WorkflowPlan\n"
            f"config = load_config({configs!r})\n"
            "assert 'results/toy/error_vs_k.csv' in WorkflowPlan(config).claim_tables\n"
            "toy = [c for c in all_claims(config) if c.study == 'toy']\n"
            "build_ledger('results', config, toy).to_json(sys.stdout, orient='records')\n")
    ledger = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=False)
    assert ledger.returncode == 0, ledger.stderr[-3000:]
    (row,) = json.loads(ledger.stdout)
    assert row["claim_id"] == "toy.context_helps" and row["n_seeds"] == 3
    assert math.isfinite(row["value"]) and row["verdict"] in ("reproduced", "contradicted", "inconclusive")

    # The toy's docs page, by the docs renderer (the full `snakemake docs` needs every study's run).
    code = ("import sys\nfrom pathlib import Path\n"
            "from icl_study.docs import render\nfrom icl_study.settings import load_config\n"
            f"print(render(Path('docs/templates/studies/toy.md').read_text(), Path('results'), load_config({configs!r})))\n")
    page = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=False)
    assert page.returncode == 0, page.stderr[-3000:]
    text = " ".join(page.stdout.split())
    assert "{{" not in text and "trained for 40 steps" in text and "with 3 seeds" in text, text
