"""Config validation and the plan of the run, shared by every study's rules (no torch import here).

PLAN (icl_study/plan.py) declares every training run and analysis job; rule files read their
inputs, params, wildcard constraints and targets from it.
"""

import sys
from pathlib import Path

from icl_study.checks import check_workflow_config
from icl_study.config import ConfigError
from icl_study.plan import (
    DAI_TABLES,
    NO_MATCH,
    REN_LENS_TABLES,
    REPORT_CATEGORIES,
    GEMMA3_DIR,
    SMOLLM2_DIR,
    as_json,
    caption,
    lookup,
    pattern,
)
from icl_study.settings import full_config, validate_workflow_config
from icl_study.workflow_plan import WorkflowPlan

# The shared schema; each study's part lies in schemas/studies/ beside it. A study without a part
# has its section checked by its settings dataclass alone (in full_config).
SCHEMA = Path(workflow.current_basedir).parent / "schemas" / "config.schema.yaml"

try:
    config.update(full_config(config))  # every key config.yaml and the tiers leave out, from icl_study/settings
    validate_workflow_config(config, str(SCHEMA))
    check_workflow_config(config)  # what the schema cannot express: cross-references, files, finite numbers
    PLAN = WorkflowPlan(config, root=Path(workflow.basedir))
    PLAN.check()  # every run and job built once: a bad name or step stops the workflow here
except ConfigError as err:
    raise SystemExit(f"icl_study: config error: {err}")


# `snakemake --report` shows a finished run: before one, say so in one line.
PLAN.check_report_inputs(sys.argv)



# The template of every figure rule, which reuses it with `use rule figure as fig_<name> with:`,
# naming its input, its output (the report entry: caption and category), its log and its plotting
# entry (params.entry; params.figure: its settings, if any). Figures read tables only, so they run
# locally. The template itself matches no file.
rule figure:
    output:
        png="results/figures/{figure}.png",
        pdf="results/figures/{figure}.pdf",
    log:
        "logs/figures/{figure}.log",
    wildcard_constraints:
        figure=NO_MATCH,
    params:
        entry="",
        figure="{}",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study {params.entry} {input:q} --params {params.figure:q} --out {output:q} > {log:q} 2>&1"
