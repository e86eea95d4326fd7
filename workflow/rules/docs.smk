"""The docs rules, both rendering templates from the tables (icl_study/docs.py), so no result
number is typed by hand:

- rule caption: a figure's report caption, workflow/report/templates/<figure>.rst rendered into
  results/report/<figure>.rst from the tables it quotes. `rule all` asks for the caption of every
  figure it builds, so `snakemake --report` finds them after a run.
- `snakemake docs` (not part of `all`), after a finished run, rewrites the ledger table of
  README.md and docs/claims_default.csv from results/claims.csv, renders docs/studies/<study>.md
  from docs/templates/studies/ and copies the figures they show into docs/figures/. It writes into
  the repository, so run it from the repository root after a default-tier run before committing.
"""


rule caption:
    input:
        # the template's text travels in params (a new text reruns the job; a moved checkout does not)
        tables=lambda wildcards: PLAN.caption_tables(wildcards.name),
    output:
        "results/report/{name}.rst",
    wildcard_constraints:
        name=r"\w+",
    params:
        settings=lambda wildcards: PLAN.caption_params(wildcards.name),
    log:
        "logs/report/{name}.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study docs:caption_rule --params {params.settings:q} --out {output:q}"
        " > {log:q} 2>&1"


rule docs:
    input:
        PLAN.docs_inputs,
    params:
        settings=PLAN.docs_params,
    log:
        "logs/docs.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study docs:docs_rule {input:q} --params {params.settings:q} > {log:q} 2>&1"


# The page `snakemake --report` opens on, results/report/page/workflow.rst (the Snakefile's `report:`
# takes it once it exists; results/report/<figure>.rst are the captions):
# the description, then the run's environment line and the ledger, each claim linked to its figure.
rule report_page:
    input:
        str(Path(workflow.basedir) / "workflow" / "report" / "workflow.rst"),
        "results/claims.csv",
        "results/environment.json",
    output:
        "results/report/page/workflow.rst",
    log:
        "logs/report/workflow.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study docs:report_page_rule {input:q} --out {output:q} > {log:q} 2>&1"
