"""Every analysis a study declares as data (`Analysis`, in `<study>_analyses()` of its plan module,
icl_study/studies/<study>_plan.py): a rule `<name>` each, the same rule as `use rule analysis as
<name> with:` (common.smk) in a rule file, for jobs without wildcards. A study whose jobs need
wildcards keeps them in its own rule file.
"""


# The shell text is a literal (see train.smk); every other directive is evaluated here.
for job in PLAN.analysis_rules:

    rule:
        name: job.name
        input: job.inputs,
        output: job.outputs,
        log: job.log,
        benchmark: job.benchmark
        params: entry=job.entry, settings=job.settings,
        threads: 1
        resources: runtime=job.runtime, mem_mb=job.mem_mb,
        conda: "../envs/icl_study.yaml"
        shell:
            "python -m icl_study {params.entry} {input:q}{params.settings} --out {output:q} --threads {threads} > {log:q} 2>&1"
