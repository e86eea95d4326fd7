"""icl_study: a reproducible study of in-context learning in transformers.

This file is the table of contents: the default config, its validation and the plan of runs and
jobs (common.smk; icl_study/plan.py and each study's icl_study/studies/<study>_plan.py), every
training rule (train.smk), one rule file of analyses per study (one per entry of the registry of
studies, icl_study/registry.py: STUDIES; tests/unit/test_registry.py checks the list), every
figure rule (figures.smk, from the figures the studies declare), the claims ledger (claims.smk),
the rendered docs and the report's first page (docs.smk; `snakemake docs`), the run's environment
record (environment.smk) and the targets of a full run (from the plan).
Heavier tiers: `--configfile configs/paper.yaml`.
"""

from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


# The report opens on the run's ledger and environment record (results/report/page/workflow.rst,
# rule report_page in docs.smk) once the run has written them; before that on the description alone.
REPORT_PAGE = Path("results/report/page/workflow.rst").resolve()


report: str(REPORT_PAGE) if REPORT_PAGE.is_file() else "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"

# each study's analyses, in registry order (icl_study/registry.py: STUDIES)
include: "workflow/rules/linreg.smk"
include: "workflow/rules/dai.smk"
include: "workflow/rules/ren.smk"
include: "workflow/rules/shen.smk"
include: "workflow/rules/transience.smk"
include: "workflow/rules/lenses.smk"
include: "workflow/rules/diversity.smk"
include: "workflow/rules/lm.smk"
include: "workflow/rules/analyses.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/docs.smk"
include: "workflow/rules/environment.smk"


rule all:
    default_target: True
    input:
        PLAN.all_targets,
        # each figure's report caption, rendered from the tables it quotes (docs.smk)
        PLAN.captions,
        # the run's record of itself (environment.smk) and the report's first page (docs.smk)
        "results/environment.json",
        "results/report/page/workflow.rst",
