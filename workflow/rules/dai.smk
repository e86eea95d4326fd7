"""Study 2: in-context learning as implicit finetuning (Dai et al. 2022).

Per model x task x variant (trained | untrained copy): ZS / ICL / FT on the same demonstrations,
per-layer SimAOU, SimAM, Kendall and the dual form -> one summary (bootstrap intervals) -> the
Dai-layout table, per-layer curves, dual-form errors, and the per-example table (examples.csv) on
which the claims pair each metric with its baseline and the trained with the untrained copy. Momentum attention: pipeline-gpt pretrained
with vanilla and momentum attention per seed -> validation loss and ICL accuracy vs k.
Text models and tasks come from the `lm` section; pipeline-gpt is lm's checkpoint. The jobs and the
momentum runs (trained by train.smk) are declared in icl_study/studies/dai_plan.py.
"""

from icl_study.studies.dai_plan import DAI_TABLES


use rule analysis as dai_text with:
    input: lambda wildcards: PLAN.dai_text_jobs[wildcards.job]["input"],
    output: [f"results/dai/{{job}}/{name}.csv" for name in DAI_TABLES],
    log: "logs/dai/{job}.log",
    benchmark: "results/benchmarks/dai_text/{job}.tsv"
    wildcard_constraints: job=pattern(PLAN.dai_text_jobs),
    params: entry="studies.dai:text_rule", settings=params_option(lambda wildcards: PLAN.dai_text_jobs[wildcards.job]["params"]),
    resources: runtime=30, mem_mb=4000,


use rule analysis as dai_concepts with:
    input: "results/lm/pipeline-gpt/model.pt",
    output: [f"results/dai/pipeline-gpt/{{job}}/{name}.csv" for name in DAI_TABLES],
    log: "logs/dai/pipeline-gpt/{job}.log",
    benchmark: "results/benchmarks/dai_concepts/{job}.tsv"
    wildcard_constraints: job=pattern(PLAN.dai_concepts_jobs),
    params: entry="studies.dai:concepts_rule", settings=params_option(lookup(PLAN.dai_concepts_jobs, "job")),
    resources: runtime=20, mem_mb=2000,


use rule analysis as dai_summary with:
    input: PLAN.dai_tables,
    output:
        table="results/dai/summary/table.csv",
        curves="results/dai/summary/layers.csv",
        dual="results/dai/summary/dual.csv",
        examples="results/dai/summary/examples.csv",
    log: "logs/dai/summary.log",
    benchmark: "results/benchmarks/dai_summary.tsv"
    params: entry="studies.dai:summary_rule", settings=params_option(as_json({"n_boot": config["dai"]["n_boot"]})),


use rule analysis as dai_momentum_eval with:
    input: [f"{PLAN.run_dir('dai', run)}/model.pt" for run in PLAN.training("dai", group=False)],
    output: "results/dai/momentum/comparison.csv",
    log: "logs/dai/momentum/eval.log",
    benchmark: "results/benchmarks/dai_momentum_eval.tsv"
    params: entry="studies.dai:momentum_rule", settings=params_option(as_json(config["dai"]["momentum"]["eval"])),
