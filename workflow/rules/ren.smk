"""Study 3: ICL through a representation-learning lens (Ren & Liu 2024).

Train the attention variants (kind x seed) on the regression task and on pipeline-gpt's token
corpus -> ICL errors and curves; the vanilla model's layers -> kernel approximation, dual model,
generalisation tables -> five figures.
"""

REN = config["ren"]
REN_VARIANTS = REN["variants"]
REN_CORPUS = REN["corpus"]
REN_SEEDS = REN_VARIANTS["seeds"]
# One run config per attention kind and task, trained once per seed in one job ("group"): the runs
# "{kind}_s{seed}" on the regression task and "corpus_{kind}_s{seed}" on pipeline-gpt's token
# corpus, all of a task on the same budget. A job per group, not per seed, pays for torch's import
# once: on the 2-core default machine that is ~5 s of a ~20 s run.
REN_GROUPS = {}
for kind in REN_VARIANTS["kinds"]:
    REN_GROUPS[kind] = {"task": "regression", "task_config": REN_VARIANTS["task"],
                        "model": model_for_kind(REN_VARIANTS["model"], kind), "train": REN_VARIANTS["train"]}
    REN_GROUPS[f"corpus_{kind}"] = {"task": "concepts", "task_config": REN_CORPUS["task"],
                                    "model": model_for_kind(REN_CORPUS["model"], kind), "train": REN_CORPUS["train"]}
REN_GROUP_JOBS = {group: as_json({"run": run, "seeds": REN_SEEDS}) for group, run in REN_GROUPS.items()}
REN_REGRESSION_RUNS = [f"{kind}_s{seed}" for kind in REN_VARIANTS["kinds"] for seed in REN_SEEDS]
REN_CORPUS_RUNS = [f"corpus_{run}" for run in REN_REGRESSION_RUNS]
REN_LENS_RUN = REN_REGRESSION_RUNS[0]  # the first kind's first seed: vanilla softmax
REN_LENS_TABLES = ["kernel", "dual_identity", "dual_steps", "generalisation", "generalisation_fit"]
REN_FIGURES = ["ren_kernel", "ren_dual", "ren_generalisation", "ren_variants", "ren_variants_corpus"]
REN_TARGETS = [f"results/figures/{name}.{ext}" for name in REN_FIGURES for ext in ("png", "pdf")]


rule ren_train:
    output:
        models=[f"results/ren/{{group}}_s{seed}/model.pt" for seed in REN_SEEDS],
        metrics=[f"results/ren/{{group}}_s{seed}/train_metrics.csv" for seed in REN_SEEDS],
    log:
        "logs/ren/{group}/train.log",
    benchmark:
        "benchmarks/ren_train/{group}.tsv"
    wildcard_constraints:
        group="|".join(REN_GROUPS),
    params:
        job=lookup(REN_GROUP_JOBS, "group"),
    threads: 1
    resources:
        runtime=60,
        mem_mb=2000,
        gpu=run_gpus(lookup(REN_GROUP_JOBS, "group")),
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study train:train_seeds_rule --params {params.job:q} --out {output.models}"
        " --threads {threads} > {log} 2>&1"


rule ren_lens:
    input:
        f"results/ren/{REN_LENS_RUN}/model.pt",
    output:
        [f"results/ren/lens/{name}.csv" for name in REN_LENS_TABLES],
    log:
        "logs/ren/lens.log",
    benchmark:
        "benchmarks/ren_lens.tsv"
    params:
        lens=as_json(REN["lens"]),
    threads: 1
    resources:
        runtime=20,
        mem_mb=3000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.ren:lens_rule {input} --params {params.lens:q}"
        " --out {output} --threads {threads} > {log} 2>&1"


rule ren_variants:
    input:
        [f"results/ren/{run}/model.pt" for run in REN_REGRESSION_RUNS],
    output:
        errors="results/ren/variants/errors.csv",
        curves="results/ren/variants/curves.csv",
    log:
        "logs/ren/variants.log",
    benchmark:
        "benchmarks/ren_variants.tsv"
    params:
        eval=as_json(REN_VARIANTS["eval"]),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.ren:variants_rule {input} --params {params.eval:q}"
        " --out {output.errors} {output.curves} --threads {threads} > {log} 2>&1"


rule ren_corpus_variants:
    input:
        [f"results/ren/{run}/model.pt" for run in REN_CORPUS_RUNS],
    output:
        errors="results/ren/corpus_variants/errors.csv",
        curves="results/ren/corpus_variants/curves.csv",
    log:
        "logs/ren/corpus_variants.log",
    benchmark:
        "benchmarks/ren_corpus_variants.tsv"
    params:
        eval=as_json(REN_CORPUS["eval"]),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.ren:corpus_variants_rule {input} --params {params.eval:q}"
        " --out {output.errors} {output.curves} --threads {threads} > {log} 2>&1"


rule fig_ren_kernel:
    input:
        "results/ren/lens/kernel.csv",
    output:
        png=report("results/figures/ren_kernel.png", caption=caption("ren_kernel"), category="3. Representation lens"),
        pdf="results/figures/ren_kernel.pdf",
    log:
        "logs/figures/ren_kernel.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study plots.ren:kernel_rule {input} --out {output.png} {output.pdf} > {log} 2>&1"


rule fig_ren_dual:
    input:
        identity="results/ren/lens/dual_identity.csv",
        steps="results/ren/lens/dual_steps.csv",
    output:
        png=report("results/figures/ren_dual.png", caption=caption("ren_dual"), category="3. Representation lens"),
        pdf="results/figures/ren_dual.pdf",
    log:
        "logs/figures/ren_dual.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study plots.ren:dual_rule {input.identity} {input.steps} --out {output.png} {output.pdf} > {log} 2>&1"


rule fig_ren_generalisation:
    input:
        table="results/ren/lens/generalisation.csv",
        fit="results/ren/lens/generalisation_fit.csv",
    output:
        png=report("results/figures/ren_generalisation.png", caption=caption("ren_generalisation"), category="3. Representation lens"),
        pdf="results/figures/ren_generalisation.pdf",
    log:
        "logs/figures/ren_generalisation.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study plots.ren:generalisation_rule {input.table} {input.fit} --out {output.png} {output.pdf} > {log} 2>&1"


rule fig_ren_variants:
    input:
        errors="results/ren/variants/errors.csv",
        curves="results/ren/variants/curves.csv",
    output:
        png=report("results/figures/ren_variants.png", caption=caption("ren_variants"), category="3. Representation lens"),
        pdf="results/figures/ren_variants.pdf",
    log:
        "logs/figures/ren_variants.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study plots.ren:variants_rule {input.errors} {input.curves} --out {output.png} {output.pdf} > {log} 2>&1"


rule fig_ren_variants_corpus:
    input:
        errors="results/ren/corpus_variants/errors.csv",
        curves="results/ren/corpus_variants/curves.csv",
    output:
        png=report("results/figures/ren_variants_corpus.png", caption=caption("ren_variants_corpus"), category="3. Representation lens"),
        pdf="results/figures/ren_variants_corpus.pdf",
    log:
        "logs/figures/ren_variants_corpus.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study plots.ren:corpus_variants_rule {input.errors} {input.curves} --out {output.png} {output.pdf} > {log} 2>&1"
