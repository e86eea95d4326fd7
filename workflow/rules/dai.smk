"""Study 2: in-context learning as implicit finetuning (Dai et al. 2022).

Per model x task x variant (trained | untrained copy): ZS / ICL / FT on the same demonstrations,
per-layer SimAOU, SimAM, Kendall and the dual form -> one summary (bootstrap intervals) -> the
Dai-layout table, per-layer curves, dual-form errors. Momentum attention: pipeline-gpt pretrained
with vanilla and momentum attention per seed -> validation loss and ICL accuracy vs k.
Text models and tasks come from the `lm` section (lm_common.smk); pipeline-gpt is lm's checkpoint.
"""

from types import SimpleNamespace as Namespace

DAI = config["dai"]
DAI_VARIANTS = ["trained", "untrained"]
DAI_TEXT_TASKS = [t for t in DAI["text_tasks"] if t in LM_TASKS]
DAI_JOBS = [f"{m}/{t}/{v}" for m in LM_MODELS for t in DAI_TEXT_TASKS for v in DAI_VARIANTS]
DAI_JOBS += [f"pipeline-gpt/{t}/{v}" for t in DAI["concepts_tasks"] for v in DAI_VARIANTS]
DAI_TABLES = ["examples", "layers", "dual"]
# Momentum comparison: one pretraining run per attention kind and seed, "{kind}_s{seed}".
DAI_MOMENTUM = DAI["momentum"]
DAI_MOMENTUM_RUNS = {
    f"{kind}_s{seed}": as_json(
        {"task": "concepts", "task_config": DAI_MOMENTUM["task"],
         "model": model_for_kind({**DAI_MOMENTUM["model"], "momentum_eta": DAI_MOMENTUM["eta"]}, kind),
         "train": {**DAI_MOMENTUM["train"], "seed": seed}}
    )
    for kind in ("softmax", "momentum")
    for seed in DAI_MOMENTUM["seeds"]
}
# Wildcard patterns of the generated jobs; one that matches nothing when a list is empty (tiny tier:
# no text models), so a rule never claims another rule's output such as results/dai/summary/dual.csv.
DAI_NO_MATCH = "(?!x)x"
DAI_FIGURES = ["dai_table", "dai_layers", "dai_dual", "dai_momentum"]
DAI_TARGETS = [f"results/figures/{name}.{ext}" for name in DAI_FIGURES for ext in ("png", "pdf")]
DAI_TEXT_PARAMS = {
    f"{m}/{t}/{v}": as_json({"spec": LM_MODELS[m], "model_name": m, "task_name": t, "task": LM["tasks"][t],
                             "variant": v, "untrained_seed": DAI["untrained_seed"], "analysis": DAI["text"]})
    for m in LM_MODELS for t in DAI_TEXT_TASKS for v in DAI_VARIANTS
}
DAI_TEXT_INPUTS = {job: lm_model_input(Namespace(**dict(zip(("model", "task"), job.split("/")))))
                   for job in DAI_TEXT_PARAMS}
DAI_CONCEPTS_PARAMS = {
    f"{t}/{v}": as_json({"task_name": t, "variant": v, "untrained_seed": DAI["untrained_seed"],
                         "analysis": DAI["concepts"]})
    for t in DAI["concepts_tasks"] for v in DAI_VARIANTS
}


rule dai_text:
    input:
        lookup(DAI_TEXT_INPUTS, "job"),
    output:
        [f"results/dai/{{job}}/{name}.csv" for name in DAI_TABLES],
    log:
        "logs/dai/{job}.log",
    benchmark:
        "benchmarks/dai_text/{job}.tsv"
    wildcard_constraints:
        job="|".join(DAI_TEXT_PARAMS) or DAI_NO_MATCH,
    params:
        run=lookup(DAI_TEXT_PARAMS, "job"),
    threads: 1
    resources:
        runtime=30,
        mem_mb=4000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.dai:text_rule {input} --params {params.run:q} --out {output}"
        " --threads {threads} > {log} 2>&1"


rule dai_concepts:
    input:
        "results/lm/pipeline-gpt/model.pt",
    output:
        [f"results/dai/pipeline-gpt/{{job}}/{name}.csv" for name in DAI_TABLES],
    log:
        "logs/dai/pipeline-gpt/{job}.log",
    benchmark:
        "benchmarks/dai_concepts/{job}.tsv"
    wildcard_constraints:
        job="|".join(DAI_CONCEPTS_PARAMS) or DAI_NO_MATCH,
    params:
        run=lookup(DAI_CONCEPTS_PARAMS, "job"),
    threads: 1
    resources:
        runtime=20,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.dai:concepts_rule {input} --params {params.run:q} --out {output}"
        " --threads {threads} > {log} 2>&1"


rule dai_summary:
    input:
        [f"results/dai/{job}/{name}.csv" for job in DAI_JOBS for name in DAI_TABLES],
    output:
        table="results/dai/summary/table.csv",
        curves="results/dai/summary/layers.csv",
        dual="results/dai/summary/dual.csv",
    log:
        "logs/dai/summary.log",
    benchmark:
        "benchmarks/dai_summary.tsv"
    params:
        summary=as_json({"n_boot": DAI["n_boot"]}),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.dai:summary_rule {input} --params {params.summary:q} --out {output}"
        " --threads {threads} > {log} 2>&1"


rule dai_momentum_train:
    output:
        model="results/dai/momentum/{run}/model.pt",
        metrics="results/dai/momentum/{run}/train_metrics.csv",
    log:
        "logs/dai/momentum/{run}/train.log",
    benchmark:
        "benchmarks/dai_momentum_train/{run}.tsv"
    wildcard_constraints:
        run="|".join(DAI_MOMENTUM_RUNS) or DAI_NO_MATCH,
    params:
        run=lookup(DAI_MOMENTUM_RUNS),
    threads: 1
    resources:
        runtime=20,
        mem_mb=2000,
        gpu=run_gpus(lookup(DAI_MOMENTUM_RUNS)),
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study train:train_rule --params {params.run:q} --out {output.model}"
        " --threads {threads} > {log} 2>&1"


rule dai_momentum_eval:
    input:
        [f"results/dai/momentum/{run}/model.pt" for run in DAI_MOMENTUM_RUNS],
    output:
        "results/dai/momentum/comparison.csv",
    log:
        "logs/dai/momentum/eval.log",
    benchmark:
        "benchmarks/dai_momentum_eval.tsv"
    params:
        eval=as_json(DAI_MOMENTUM["eval"]),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.dai:momentum_rule {input} --params {params.eval:q} --out {output}"
        " --threads {threads} > {log} 2>&1"


rule fig_dai:
    input:
        table="results/dai/summary/table.csv",
        curves="results/dai/summary/layers.csv",
        dual="results/dai/summary/dual.csv",
        momentum="results/dai/momentum/comparison.csv",
    output:
        table=report("results/figures/dai_table.png", caption=caption("dai_table"), category="ICL as finetuning"),
        table_pdf="results/figures/dai_table.pdf",
        layers=report("results/figures/dai_layers.png", caption=caption("dai_layers"), category="ICL as finetuning"),
        layers_pdf="results/figures/dai_layers.pdf",
        dual=report("results/figures/dai_dual.png", caption=caption("dai_dual"), category="ICL as finetuning"),
        dual_pdf="results/figures/dai_dual.pdf",
        momentum=report("results/figures/dai_momentum.png", caption=caption("dai_momentum"),
                        category="ICL as finetuning"),
        momentum_pdf="results/figures/dai_momentum.pdf",
    log:
        "logs/figures/dai.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study plots.dai:figures_rule {input} --out {output} > {log} 2>&1"
