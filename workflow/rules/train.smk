"""Every training rule, generated from the plan (icl_study/plan.py), which declares each run's
config: `<study>_train` per study (and `<study>_train_seeds` where a study has both forms).

A run writes results/<study>/<run>/model.pt and train_metrics.csv; a seed group's job trains one
run config once per seed, into results/<study>/<group>_s<seed>/ (one torch import for every seed).
"""


for training in PLAN.training_rules():

    rule:
        name:
            training.name
        output:
            **training.outputs(),
        log:
            f"logs/{training.study}/{{{training.wildcard}}}/train.log",
        benchmark:
            f"benchmarks/{training.study}_train/{{{training.wildcard}}}.tsv"
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
            training.shell
