"""icl_study: a reproducible study of in-context learning in transformers.

This file is the table of contents: the default config, its validation and the plan of runs and
jobs (common.smk; icl_study/plan.py), every training rule (train.smk), one rule file of analyses
and figures per study (from the registry of studies, icl_study/plan.py: STUDIES), the claims
ledger (claims.smk), the rendered docs and the report's first page (docs.smk; `snakemake docs`),
the run's environment record (environment.smk) and the targets of a full run (from the plan).
Heavier tiers: `--configfile configs/paper.yaml`.
"""

from pathlib import Path

from snakemake.utils import min_version

from icl_study.plan import STUDY_RULE_FILES

min_version("9.0")


configfile: "config.yaml"


# The report opens on the run's ledger and environment record (results/report/page/workflow.rst,
# rule report_page in docs.smk) once the run has written them; before that on the description alone.
REPORT_PAGE = Path("results/report/page/workflow.rst").resolve()


report: str(REPORT_PAGE) if REPORT_PAGE.is_file() else "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"


# one rule file per study, workflow/rules/<study>.smk, from the registry (icl_study/plan.py: STUDIES)
for rule_file in STUDY_RULE_FILES:

    include: rule_file


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
