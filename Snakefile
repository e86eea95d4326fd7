"""icl_study: a reproducible study of in-context learning in transformers.

This file is the table of contents: the default config, its validation (in common.smk), one rule
file per study, the rendered docs (docs.smk; `snakemake docs`) and the targets of a full run.
Heavier tiers: `--configfile configs/paper.yaml`.
"""

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/docs_common.smk"
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
        LINREG_TARGETS,
        transience_targets(),
        REN_TARGETS,
        lm_targets(),
        DAI_TARGETS,
        SHEN_TARGETS,
        LENSES_TARGETS,
        DIVERSITY_TARGETS,
        CLAIMS_TARGETS,
        # each figure's report caption, rendered from the tables it quotes (docs.smk)
        captions_for(LINREG_TARGETS, transience_targets(), REN_TARGETS, lm_targets(), DAI_TARGETS,
                     SHEN_TARGETS, LENSES_TARGETS, DIVERSITY_TARGETS),
