"""Study 2: in-context learning as implicit finetuning (Dai et al. 2022).

Per model x task x variant (trained | untrained copy): ZS / ICL / FT on the same demonstrations,
per-layer SimAOU, SimAM, Kendall and the dual form -> one summary (bootstrap intervals) -> the
Dai-layout table, per-layer curves, dual-form errors, and the per-example table (examples.csv) on
which the claims pair each metric with its baseline and the trained with the untrained copy. Momentum attention: pipeline-gpt pretrained
with vanilla and momentum attention per seed -> validation loss and ICL accuracy vs k.
Text models and tasks come from the `lm` section; pipeline-gpt is lm's checkpoint. The jobs and the
momentum runs (trained by train.smk) are declared in icl_study/plan.py.
"""

from icl_study.studies.dai_plan import DAI_TABLES


rule dai_text:
    input:
        lambda wildcards: PLAN.dai_text_jobs[wildcards.job]["input"],
    output:
        [f"results/dai/{{job}}/{name}.csv" for name in DAI_TABLES],
    log:
        "logs/dai/{job}.log",
    benchmark:
        "results/benchmarks/dai_text/{job}.tsv"
    wildcard_constraints:
        job=pattern(PLAN.dai_text_jobs),
    params:
        run=lambda wildcards: PLAN.dai_text_jobs[wildcards.job]["params"],
    threads: 1
    resources:
        runtime=30,
        mem_mb=4000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.dai:text_rule {input:q} --params {params.run:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"


rule dai_concepts:
    input:
        "results/lm/pipeline-gpt/model.pt",
    output:
        [f"results/dai/pipeline-gpt/{{job}}/{name}.csv" for name in DAI_TABLES],
    log:
        "logs/dai/pipeline-gpt/{job}.log",
    benchmark:
        "results/benchmarks/dai_concepts/{job}.tsv"
    wildcard_constraints:
        job=pattern(PLAN.dai_concepts_jobs),
    params:
        run=lookup(PLAN.dai_concepts_jobs, "job"),
    threads: 1
    resources:
        runtime=20,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.dai:concepts_rule {input:q} --params {params.run:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"


rule dai_summary:
    input:
        PLAN.dai_tables,
    output:
        table="results/dai/summary/table.csv",
        curves="results/dai/summary/layers.csv",
        dual="results/dai/summary/dual.csv",
        examples="results/dai/summary/examples.csv",
    log:
        "logs/dai/summary.log",
    benchmark:
        "results/benchmarks/dai_summary.tsv"
    params:
        summary=as_json({"n_boot": config["dai"]["n_boot"]}),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.dai:summary_rule {input:q} --params {params.summary:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"


rule dai_momentum_eval:
    input:
        [f"{PLAN.run_dir('dai', run)}/model.pt" for run in PLAN.training("dai", group=False)],
    output:
        "results/dai/momentum/comparison.csv",
    log:
        "logs/dai/momentum/eval.log",
    benchmark:
        "results/benchmarks/dai_momentum_eval.tsv"
    params:
        eval=as_json(config["dai"]["momentum"]["eval"]),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.dai:momentum_rule {input:q} --params {params.eval:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"
