"""Study 4: do pretrained transformers really learn in context by gradient descent? (Shen et al. 2023)

Regression (trained linreg checkpoints, the hand-built GD transformers, batch GD, online SGD):
order sensitivity, sparsity, perturbation. Language models (lm substrate): ICL vs GD on the same
N demonstrations, one job per model x task x N, and ICL under perturbed weights, one job per
model x task (every text model of lm.models on each task of shen.tasks, plus pipeline-gpt on its
fresh-label concept episodes, task name `concepts`; declared in icl_study/studies/shen_plan.py). Collecting rules
join the tables; figures and the table read tables only.
"""


use rule analysis as shen_regression_order with:
    input: PLAN.shen_linreg_inputs,
    output: "results/shen/regression/order.csv",
    log: "logs/shen/regression_order.log",
    benchmark: "results/benchmarks/shen_regression_order.tsv"
    params: entry="studies.shen:regression_order_rule", settings=params_option(as_json(config["shen"]["regression"])),


use rule analysis as shen_regression_weights with:
    input: PLAN.shen_linreg_inputs,
    output:
        sparsity="results/shen/regression/sparsity.csv",
        perturbation="results/shen/regression/perturbation.csv",
    log: "logs/shen/regression_weights.log",
    benchmark: "results/benchmarks/shen_regression_weights.tsv"
    params: entry="studies.shen:regression_weights_rule", settings=params_option(as_json(config["shen"]["regression"])),


use rule analysis as shen_lm with:
    input: lambda wildcards: PLAN.shen_model_input(wildcards.model, wildcards.task),
    output: "results/shen/lm/{model}/{task}/N{n}.csv",
    log: "logs/shen/lm/{model}/{task}/N{n}.log",
    benchmark: "results/benchmarks/shen_lm/{model}/{task}/N{n}.tsv"
    wildcard_constraints:
        model=pattern([*PLAN.lm_models, "pipeline-gpt"]),
        n=r"\d+",
    params:
        entry="studies.shen:lm_rule", settings=params_option(lambda wildcards: PLAN.shen_lm_params(wildcards.model, wildcards.task, wildcards.n)),
    resources: runtime=30, mem_mb=6000,


use rule analysis as shen_lm_perturb with:
    input: lambda wildcards: PLAN.shen_model_input(wildcards.model, wildcards.task),
    output:
        perturbation="results/shen/lm/{model}/{task}/perturbation.csv",
        sparsity="results/shen/lm/{model}/{task}/sparsity.csv",
    log: "logs/shen/lm/{model}/{task}/perturbation.log",
    benchmark: "results/benchmarks/shen_lm_perturb/{model}/{task}.tsv"
    wildcard_constraints: model=pattern([*PLAN.lm_models, "pipeline-gpt"]),
    params:
        entry="studies.shen:lm_perturb_rule", settings=params_option(lambda wildcards: PLAN.shen_lm_params(wildcards.model, wildcards.task)),
    resources: runtime=30, mem_mb=6000,

rule shen_collect:
    input:
        lm=PLAN.shen_lm_tables("N"),
        perturbation=["results/shen/regression/perturbation.csv"] + PLAN.shen_lm_tables("perturbation"),
        sparsity=["results/shen/regression/sparsity.csv"] + PLAN.shen_lm_tables("sparsity"),
    output:
        lm="results/shen/lm.csv",
        perturbation="results/shen/perturbation.csv",
        sparsity="results/shen/sparsity.csv",
    log: "logs/shen/collect.log",
    localrule: True
    conda: "../envs/icl_study.yaml"
    shell:
        "(python -m icl_study studies.shen:collect_rule {input.lm:q} --out {output.lm:q}"
        " && python -m icl_study studies.shen:collect_rule {input.perturbation:q} --out {output.perturbation:q}"
        " && python -m icl_study studies.shen:collect_rule {input.sparsity:q} --out {output.sparsity:q}) > {log:q} 2>&1"


rule shen_table:
    input:
        lm="results/shen/lm.csv",
        sparsity="results/shen/sparsity.csv",
        order="results/shen/regression/order.csv",
    output:
        csv="results/shen/table.csv",
        md="results/shen/table.md",
        verdicts="results/shen/icl_vs_gd.csv",
    log: "logs/shen/table.log",
    localrule: True
    conda: "../envs/icl_study.yaml"
    shell:
        "python -m icl_study plots.shen:table_rule {input.lm:q} {input.sparsity:q} {input.order:q}"
        " --out {output.csv:q} {output.md:q} {output.verdicts:q} > {log:q} 2>&1"
