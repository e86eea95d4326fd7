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
        l2="results/transience/l2.csv",
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
        " --out {output.curves:q} {output.summary:q} {output.settings:q} {output.l2:q} --threads {threads} > {log:q} 2>&1"


use rule figure as fig_transience_curves with:
    input:
        "results/transience/curves.csv",
    output:
        png=report("results/figures/transience_curves.png", caption=caption("transience_curves"), category=REPORT_CATEGORIES["transience"]),
        pdf="results/figures/transience_curves.pdf",
    log:
        "logs/figures/transience_curves.log",
    params:
        entry="plots.transience:curves_rule",
        figure=as_json({"size": config["transience"]["base_size"], "arms": list(config["transience"].get("arms", {}))}),


use rule figure as fig_transience_peak_final with:
    input:
        "results/transience/summary.csv",
    output:
        png=report("results/figures/transience_peak_final.png", caption=caption("transience_peak_final"), category=REPORT_CATEGORIES["transience"]),
        pdf="results/figures/transience_peak_final.pdf",
    log:
        "logs/figures/transience_peak_final.log",
    params:
        entry="plots.transience:peak_final_rule",


use rule figure as fig_transience_regression with:
    input:
        "results/transience/curves.csv",
    output:
        png=report("results/figures/transience_regression.png", caption=caption("transience_regression"), category=REPORT_CATEGORIES["transience"]),
        pdf="results/figures/transience_regression.pdf",
    log:
        "logs/figures/transience_regression.log",
    params:
        entry="plots.transience:regression_rule",
        figure=as_json({"pool_size": config["transience"]["regression"]["task"]["pool_size"]}),

