"""Study 5: transient ICL (Singh et al. 2023 on Chan et al. 2022). Train the sweep -> tables -> figures.

The runs, results/transience/{dataset}/{size}/wd{wd}/seed{seed}, are declared in icl_study/plan.py
(weight-decay sweep x model sizes x seeds, plus the finite-pool regression runs) and trained by train.smk.
"""


rule transience_collect:
    input:
        [f"{run}/train_metrics.csv" for run in PLAN.transience_run_dirs],
    output:
        curves="results/transience/curves.csv",
        summary="results/transience/summary.csv",
        settings="results/transience/settings.csv",
    log:
        "logs/transience/collect.log",
    benchmark:
        "results/benchmarks/transience_collect.tsv"
    params:
        # each bursty run's eval_size and n_labels, for the IWL counts and chance
        collect=as_json({"section": config["transience"]}),
    threads: 1
    resources:
        runtime=10,
        mem_mb=1000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.transience:collect_rule {input:q} --params {params.collect:q}"
        " --out {output.curves:q} {output.summary:q} {output.settings:q} --threads {threads} > {log:q} 2>&1"
