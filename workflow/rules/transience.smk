"""Study 5: transient ICL (Singh et al. 2023 on Chan et al. 2022). Train the sweep -> tables -> figures.

The runs, results/transience/{dataset}/{size}/wd{wd}/seed{seed}, are declared in icl_study/studies/transience_plan.py
(weight-decay sweep x model sizes x seeds, plus the finite-pool regression runs) and trained by train.smk.
"""


use rule analysis as transience_collect with:
    input: [f"{run}/train_metrics.csv" for run in PLAN.transience_run_dirs],
    output:
        curves="results/transience/curves.csv",
        summary="results/transience/summary.csv",
        settings="results/transience/settings.csv",
        l2="results/transience/l2.csv",
    log: "logs/transience/collect.log",
    benchmark: "results/benchmarks/transience_collect.tsv"
    params:
        # each bursty run's eval_size and n_labels, for the IWL counts and chance
        entry="studies.transience:collect_rule", settings=params_option(as_json({"section": config["transience"]})),
    resources: runtime=10, mem_mb=1000,
