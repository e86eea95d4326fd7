"""Study 3: ICL through a representation-learning lens (Ren & Liu 2024).

The attention variants (kind x seed) on the regression task and on pipeline-gpt's token corpus,
seed groups declared in icl_study/plan.py and trained by train.smk -> ICL errors and curves; the vanilla model's layers -> kernel approximation, dual model,
generalisation tables -> five figures.
"""

from icl_study.studies.ren_plan import REN_LENS_TABLES


rule ren_lens:
    input:
        f"results/ren/{PLAN.ren_lens_run}/model.pt",
    output:
        [f"results/ren/lens/{name}.csv" for name in REN_LENS_TABLES],
    log:
        "logs/ren/lens.log",
    benchmark:
        "results/benchmarks/ren_lens.tsv"
    params:
        lens=as_json(config["ren"]["lens"]),
    threads: 1
    resources:
        runtime=20,
        mem_mb=3000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.ren:lens_rule {input:q} --params {params.lens:q}"
        " --out {output:q} --threads {threads} > {log:q} 2>&1"


rule ren_variants:
    input:
        [f"results/ren/{run}/model.pt" for run in PLAN.ren_regression_runs],
    output:
        errors="results/ren/variants/errors.csv",
        curves="results/ren/variants/curves.csv",
    log:
        "logs/ren/variants.log",
    benchmark:
        "results/benchmarks/ren_variants.tsv"
    params:
        eval=as_json(config["ren"]["variants"]["eval"]),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.ren:variants_rule {input:q} --params {params.eval:q}"
        " --out {output.errors:q} {output.curves:q} --threads {threads} > {log:q} 2>&1"


rule ren_grid:
    input:
        [f"results/ren/{run}/model.pt" for run in PLAN.ren_grid_runs],
    output:
        "results/ren/variants/grid.csv",
    log:
        "logs/ren/grid.log",
    benchmark:
        "results/benchmarks/ren_grid.tsv"
    params:
        grid=as_json({"eval": config["ren"]["variants"]["eval"], "grid": config["ren"]["grid"]}),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.ren:grid_rule {input:q} --params {params.grid:q}"
        " --out {output:q} --threads {threads} > {log:q} 2>&1"


rule ren_corpus_variants:
    input:
        [f"results/ren/{run}/model.pt" for run in PLAN.ren_corpus_runs],
    output:
        errors="results/ren/corpus_variants/errors.csv",
        curves="results/ren/corpus_variants/curves.csv",
    log:
        "logs/ren/corpus_variants.log",
    benchmark:
        "results/benchmarks/ren_corpus_variants.tsv"
    params:
        eval=as_json(config["ren"]["corpus"]["eval"]),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.ren:corpus_variants_rule {input:q} --params {params.eval:q}"
        " --out {output.errors:q} {output.curves:q} --threads {threads} > {log:q} 2>&1"


use rule figure as fig_ren_kernel with:
    input:
        "results/ren/lens/kernel.csv",
    output:
        png=report("results/figures/ren_kernel.png", caption=caption("ren_kernel"), category=REPORT_CATEGORIES["ren"]),
        pdf="results/figures/ren_kernel.pdf",
    log:
        "logs/figures/ren_kernel.log",
    params:
        entry="plots.ren:kernel_rule",


use rule figure as fig_ren_dual with:
    input:
        identity="results/ren/lens/dual_identity.csv",
        steps="results/ren/lens/dual_steps.csv",
    output:
        png=report("results/figures/ren_dual.png", caption=caption("ren_dual"), category=REPORT_CATEGORIES["ren"]),
        pdf="results/figures/ren_dual.pdf",
    log:
        "logs/figures/ren_dual.log",
    params:
        entry="plots.ren:dual_rule",


use rule figure as fig_ren_generalisation with:
    input:
        table="results/ren/lens/generalisation.csv",
        fit="results/ren/lens/generalisation_fit.csv",
    output:
        png=report("results/figures/ren_generalisation.png", caption=caption("ren_generalisation"), category=REPORT_CATEGORIES["ren"]),
        pdf="results/figures/ren_generalisation.pdf",
    log:
        "logs/figures/ren_generalisation.log",
    params:
        entry="plots.ren:generalisation_rule",


use rule figure as fig_ren_variants with:
    input:
        errors="results/ren/variants/errors.csv",
        curves="results/ren/variants/curves.csv",
    output:
        png=report("results/figures/ren_variants.png", caption=caption("ren_variants"), category=REPORT_CATEGORIES["ren"]),
        pdf="results/figures/ren_variants.pdf",
    log:
        "logs/figures/ren_variants.log",
    params:
        entry="plots.ren:variants_rule",


use rule figure as fig_ren_variants_corpus with:
    input:
        errors="results/ren/corpus_variants/errors.csv",
        curves="results/ren/corpus_variants/curves.csv",
    output:
        png=report("results/figures/ren_variants_corpus.png", caption=caption("ren_variants_corpus"), category=REPORT_CATEGORIES["ren"]),
        pdf="results/figures/ren_variants_corpus.pdf",
    log:
        "logs/figures/ren_variants_corpus.log",
    params:
        entry="plots.ren:corpus_variants_rule",



use rule figure as fig_ren_variants_grid with:
    input:
        "results/ren/variants/grid.csv",
    output:
        png=report("results/figures/ren_variants_grid.png", caption=caption("ren_variants_grid"), category=REPORT_CATEGORIES["ren"]),
        pdf="results/figures/ren_variants_grid.pdf",
    log:
        "logs/figures/ren_variants_grid.log",
    params:
        entry="plots.ren:grid_rule",
