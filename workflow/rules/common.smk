"""Config validation and the plan of the run, shared by every study's rules (no torch import here).

PLAN (icl_study/plan.py) declares every training run and analysis job; rule files read their
inputs, params, wildcard constraints and targets from it.
"""

from pathlib import Path

from icl_study.checks import check_workflow_config
from icl_study.config import ConfigError, validate_workflow_config
from icl_study.plan import DAI_TABLES, REN_LENS_TABLES, REPORT_CATEGORIES, SMOLLM2_DIR, Plan, as_json, caption, lookup, pattern

# The shared schema; each study's part lies in schemas/studies/ beside it.
SCHEMA = Path(workflow.current_basedir).parent / "schemas" / "config.schema.yaml"

try:
    validate_workflow_config(config, str(SCHEMA))
    check_workflow_config(config)  # what the schema cannot express: cross-references, files, finite numbers
    PLAN = Plan(config, root=Path(workflow.basedir))
    PLAN.check()  # every run and job built once: a bad name or step stops the workflow here
except ConfigError as err:
    raise SystemExit(f"icl_study: config error: {err}")

