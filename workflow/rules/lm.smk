"""LM substrate: SmolLM2 from PyPI -> local HF directory; pipeline-gpt pretraining; ICL vs k.

Text models are `lm.models` (`smollm2` or `hf:<dir>`), named {model} in paths: `smollm2-135m` or
`hf-<dir name>`. User files (csv/jsonl tasks, hf: directories) are inputs of the jobs that read
them; a missing one stops the workflow at load time unless marked optional (then skipped, logged).
"""


include: "lm_common.smk"


rule lm_convert_smollm2:
    output:
        directory(LM_SMOLLM2_DIR),
    log:
        "logs/lm/convert_smollm2.log",
    benchmark:
        "benchmarks/lm_convert_smollm2.tsv"
    params:
        smollm2=as_json(LM["smollm2"]),
    threads: 1
    resources:
        runtime=15,
        mem_mb=4000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.lm:convert_rule --params {params.smollm2:q} --out {output}"
        " --threads {threads} > {log} 2>&1"


rule lm_pretrain_pipeline_gpt:
    output:
        model="results/lm/pipeline-gpt/model.pt",
        metrics="results/lm/pipeline-gpt/train_metrics.csv",
    log:
        "logs/lm/pipeline-gpt/train.log",
    benchmark:
        "benchmarks/lm_pretrain_pipeline_gpt.tsv"
    params:
        run=as_json({"task": "concepts", "task_config": LM["pipeline_gpt"]["task"],
                     "model": LM["pipeline_gpt"]["model"], "train": LM["pipeline_gpt"]["train"]}),
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
        gpu=run_gpus(as_json({"train": LM["pipeline_gpt"]["train"]})),
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study train:train_rule --params {params.run:q} --out {output.model}"
        " --threads {threads} > {log} 2>&1"


rule lm_icl_concepts:
    input:
        "results/lm/pipeline-gpt/model.pt",
    output:
        "results/lm/icl/pipeline-gpt/concepts.csv",
    log:
        "logs/lm/icl/pipeline-gpt/concepts.log",
    benchmark:
        "benchmarks/lm_icl_concepts.tsv"
    params:
        eval=as_json(LM["pipeline_gpt"]["eval"]),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.lm:icl_concepts_rule {input} --params {params.eval:q} --out {output}"
        " --threads {threads} > {log} 2>&1"


rule lm_icl_text:
    input:
        lm_model_input,
    output:
        "results/lm/icl/{model}/{task}.csv",
    log:
        "logs/lm/icl/{model}/{task}.log",
    benchmark:
        "benchmarks/lm_icl_text/{model}/{task}.tsv"
    wildcard_constraints:
        model="smollm2-135m|hf-[^/]+",
    params:
        run=lm_text_params,
    threads: 1
    resources:
        runtime=60,
        mem_mb=4000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.lm:icl_text_rule {input} --params {params.run:q} --out {output}"
        " --threads {threads} > {log} 2>&1"


rule lm_finetune:
    input:
        lm_model_input,
    output:
        "results/lm/finetune/{model}/{task}.csv",
    log:
        "logs/lm/finetune/{model}/{task}.log",
    benchmark:
        "benchmarks/lm_finetune/{model}/{task}.tsv"
    wildcard_constraints:
        model="smollm2-135m|hf-[^/]+",
    params:
        run=lm_finetune_params,
    threads: 1
    resources:
        runtime=60,
        mem_mb=6000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.lm:finetune_rule {input} --params {params.run:q} --out {output}"
        " --threads {threads} > {log} 2>&1"


rule lm_accuracy:
    input:
        lm_accuracy_inputs(),
    output:
        "results/lm/accuracy.csv",
        "results/lm/accuracy_ci.csv",
    log:
        "logs/lm/accuracy.log",
    benchmark:
        "benchmarks/lm_accuracy.tsv"
    threads: 1
    resources:
        runtime=5,
        mem_mb=1000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.lm:accuracy_rule {input} --out {output} --threads {threads} > {log} 2>&1"


rule fig_lm_icl_vs_k:
    input:
        "results/lm/accuracy.csv",
    output:
        png=report(
            "results/figures/lm_icl_vs_k.png",
            caption=caption("lm_icl_vs_k"),
            category="LM substrate",
        ),
        pdf="results/figures/lm_icl_vs_k.pdf",
    log:
        "logs/figures/lm_icl_vs_k.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study plots.lm:icl_vs_k_rule {input} --out {output.png} {output.pdf} > {log} 2>&1"
