"""Every training rule, generated from the plan (icl_study/plan.py), which declares each run's
config: `<study>_train` per study (and `<study>_train_seeds` where a study has both forms).

A run writes results/<study>/<run>/model.pt and train_metrics.csv; a seed group's job trains one
run config once per seed, into results/<study>/<group>_s<seed>/ (one torch import for every seed).
"""


# The shell text is a literal in each loop: Snakemake evaluates a rule's `shell:` expression when the
# job runs, so an expression naming the loop variable would see its last value (every rule would
# get the last rule's command). Every other directive is evaluated here, at definition.
for training in PLAN.training_rules():
    if training.group:  # seed groups: the next loop
        continue

    rule:
        name:
            training.name
        output:
            **training.outputs(),
        log:
            f"logs/{training.study}/{{{training.wildcard}}}/train.log",
        benchmark:
            f"results/benchmarks/{training.study}_train/{{{training.wildcard}}}.tsv"
        wildcard_constraints:
            **{training.wildcard: pattern(PLAN.training(training.study, training.group))},
        params:
            **{training.param: PLAN.training_lookup(training.study, training.group, "params")},
        threads: 1
        resources:
            runtime=PLAN.training_lookup(training.study, training.group, "runtime"),
            mem_mb=2000,
            gpu=PLAN.training_lookup(training.study, training.group, "gpus"),
        conda:
            "../envs/icl_study.yaml"
        shell:
            "python -m icl_study train:train_rule --params {params.run:q} --out {output.model:q}"
            " --threads {threads} > {log:q} 2>&1"


for training in PLAN.training_rules():
    if not training.group:
        continue

    rule:
        name:
            training.name
        output:
            **training.outputs(),
        log:
            f"logs/{training.study}/{{{training.wildcard}}}/train.log",
        benchmark:
            f"results/benchmarks/{training.study}_train/{{{training.wildcard}}}.tsv"
        wildcard_constraints:
            **{training.wildcard: pattern(PLAN.training(training.study, training.group))},
        params:
            **{training.param: PLAN.training_lookup(training.study, training.group, "params")},
        threads: 1
        resources:
            runtime=PLAN.training_lookup(training.study, training.group, "runtime"),
            mem_mb=2000,
            gpu=PLAN.training_lookup(training.study, training.group, "gpus"),
        conda:
            "../envs/icl_study.yaml"
        shell:
            "python -m icl_study train:train_seeds_rule --params {params.job:q} --out {output.models:q}"
            " --threads {threads} > {log:q} 2>&1"
