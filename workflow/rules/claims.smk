"""The claims ledger: one row per claim of every study, its verdict decided by code from the tables.

Each study declares its claims (icl_study/studies/*_claims.py, named in the registry of studies,
icl_study/plan.py: STUDIES); their tables are this rule's inputs, so the ledger is rebuilt
whenever a table changes. Importing the claims is torch-free, so parsing the workflow stays fast.
"""

rule claims_ledger:
    input:
        PLAN.claim_tables,
    output:
        report("results/claims.csv", caption="../report/claims.rst", category=REPORT_CATEGORIES["claims"]),
    log:
        "logs/claims.log",
    params:
        # a function: the config holds prompt templates such as "{text}", not wildcards
        ledger=lambda wildcards: as_json({"config": config, "results_dir": "results"}),
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study ledger:ledger_rule {input:q} --params {params.ledger:q} --out {output:q} > {log:q} 2>&1"
