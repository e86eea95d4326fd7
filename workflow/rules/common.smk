"""Config validation and the plan of the run, shared by every study's rules (no torch import here).

PLAN (icl_study/plan.py) declares every training run and analysis job; rule files read their
inputs, params, wildcard constraints and targets from it.
"""

import sys
from pathlib import Path

from icl_study.checks import check_workflow_config
from icl_study.config import ConfigError
from icl_study.plan import NO_MATCH, REPORT_CATEGORIES, as_json, caption, lookup, params_option, pattern
from icl_study.settings import full_config, validate_workflow_config
from icl_study.workflow_plan import WorkflowPlan

try:
    config.update(full_config(config))  # every key config.yaml and the tiers leave out, from icl_study/settings
    validate_workflow_config(config)  # the JSON schema generated from icl_study/settings
    check_workflow_config(config)  # what the schema cannot express: cross-references, files, finite numbers
    PLAN = WorkflowPlan(config, root=Path(workflow.basedir))
    PLAN.check()  # every run and job built once: a bad name or step stops the workflow here
except ConfigError as err:
    raise SystemExit(f"icl_study: config error: {err}")


# `snakemake --report` shows a finished run: before one, say so in one line.
PLAN.check_report_inputs(sys.argv)


# The template of every analysis rule: one job runs `python -m icl_study <entry> <inputs> --params
# <params>` (params.entry; params.settings: params_option(params), icl_study/jobs.py) into its
# outputs, on one thread. A rule reuses it with `use rule analysis as <name> with:`, naming its
# input, output, log, benchmark, params.entry and params.settings, and its resources where they are
# not these. It matches no file.
rule analysis:
    output:
        "results/{analysis}",
    log:
        "logs/{analysis}.log",
    wildcard_constraints:
        analysis=NO_MATCH,
    params:
        entry="",
        settings="",
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study {params.entry} {input:q}{params.settings} --out {output:q} --threads {threads} > {log:q} 2>&1"
