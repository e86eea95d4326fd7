"""Study 1: in-context linear regression. Train -> error table -> figure."""


# Final outputs of the study, requested by `rule all`.
LINREG_TARGETS = [
    "results/figures/linreg_error_vs_k.png",
    "results/figures/linreg_error_vs_k.pdf",
]


rule linreg_train:
    output:
        model="results/linreg/{run}/model.pt",
        metrics="results/linreg/{run}/train_metrics.csv",
    log:
        "logs/linreg/{run}/train.log",
    benchmark:
        "benchmarks/linreg_train/{run}.tsv"
    params:
        run=run_params("linreg", "regression"),
    threads: 1
    resources:
        runtime=60,
        mem_mb=2000,
        gpu=train_gpus("linreg"),
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study train:train_rule --params {params.run:q} --out {output.model}"
        " --threads {threads} > {log} 2>&1"


rule linreg_errors:
    input:
        expand("results/linreg/{run}/model.pt", run=config["linreg"]["runs"]),
    output:
        "results/linreg/errors.csv",
    log:
        "logs/linreg/errors.log",
    benchmark:
        "benchmarks/linreg_errors.tsv"
    params:
        eval=as_json(config["linreg"]["eval"]),
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.linreg:errors_rule {input} --params {params.eval:q}"
        " --out {output} --threads {threads} > {log} 2>&1"


rule fig_linreg_error_vs_k:
    input:
        "results/linreg/errors.csv",
    output:
        png=report(
            "results/figures/linreg_error_vs_k.png",
            caption="../report/linreg_error_vs_k.rst",
            category="1. Linear regression",
        ),
        pdf="results/figures/linreg_error_vs_k.pdf",
    log:
        "logs/figures/linreg_error_vs_k.log",
    params:
        figure=as_json(
            {**config["linreg"]["figure"], "n_dims": config["linreg"]["task"]["n_dims"]}
        ),
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study plots.linreg:error_vs_k_rule {input} --params {params.figure:q}"
        " --out {output.png} {output.pdf} > {log} 2>&1"
