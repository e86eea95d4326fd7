"""Study 3: ICL through a representation-learning lens (Ren & Liu 2024).

The attention variants (kind x seed) on the regression task and on pipeline-gpt's token corpus,
seed groups declared in icl_study/studies/ren_plan.py and trained by train.smk -> ICL errors and curves; the vanilla model's layers -> kernel approximation, dual model,
generalisation tables -> five figures.
"""

from icl_study.studies.ren_plan import REN_LENS_TABLES


use rule analysis as ren_lens with:
    input: f"results/ren/{PLAN.ren_lens_run}/model.pt",
    output: [f"results/ren/lens/{name}.csv" for name in REN_LENS_TABLES],
    log: "logs/ren/lens.log",
    benchmark: "results/benchmarks/ren_lens.tsv"
    params: entry="studies.ren:lens_rule", settings=params_option(as_json(config["ren"]["lens"])),
    resources: runtime=20, mem_mb=3000,


use rule analysis as ren_variants with:
    input: [f"results/ren/{run}/model.pt" for run in PLAN.ren_regression_runs],
    output:
        errors="results/ren/variants/errors.csv",
        curves="results/ren/variants/curves.csv",
    log: "logs/ren/variants.log",
    benchmark: "results/benchmarks/ren_variants.tsv"
    params: entry="studies.ren:variants_rule", settings=params_option(as_json(config["ren"]["variants"]["eval"])),


use rule analysis as ren_grid with:
    input: [f"results/ren/{run}/model.pt" for run in PLAN.ren_grid_runs],
    output: "results/ren/variants/grid.csv",
    log: "logs/ren/grid.log",
    benchmark: "results/benchmarks/ren_grid.tsv"
    params:
        entry="studies.ren:grid_rule", settings=params_option(as_json({"eval": config["ren"]["variants"]["eval"], "grid": config["ren"]["grid"]})),


use rule analysis as ren_corpus_variants with:
    input: [f"results/ren/{run}/model.pt" for run in PLAN.ren_corpus_runs],
    output:
        errors="results/ren/corpus_variants/errors.csv",
        curves="results/ren/corpus_variants/curves.csv",
    log: "logs/ren/corpus_variants.log",
    benchmark: "results/benchmarks/ren_corpus_variants.tsv"
    params: entry="studies.ren:corpus_variants_rule", settings=params_option(as_json(config["ren"]["corpus"]["eval"])),
