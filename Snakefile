"""icl_study: a reproducible study of in-context learning in transformers.

This file is the table of contents: the default config, its validation and the plan of runs and
jobs (common.smk; icl_study/plan.py), every training rule (train.smk), one rule file of analyses
and figures per study, the rendered docs (docs.smk; `snakemake docs`) and the targets of a full run
(from the plan).
Heavier tiers: `--configfile configs/paper.yaml`.
"""

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/linreg.smk"
include: "workflow/rules/transience.smk"
include: "workflow/rules/ren.smk"
include: "workflow/rules/lm.smk"
include: "workflow/rules/dai.smk"
include: "workflow/rules/shen.smk"
include: "workflow/rules/lenses.smk"
include: "workflow/rules/diversity.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/docs.smk"


rule all:
    default_target: True
    input:
        PLAN.all_targets,
        # each figure's report caption, rendered from the tables it quotes (docs.smk)
        PLAN.captions,
