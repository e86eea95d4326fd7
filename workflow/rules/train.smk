"""Every training rule: one per study that trains single runs (`<study>_train`) and one per study
that trains seed groups (`<study>_train_seeds`, or `<study>_train` when it trains groups only),
generated from the plan (icl_study/plan.py), which declares each run's config.

A run writes results/<study>/<run>/model.pt and train_metrics.csv; a group job trains one run
config once per seed, into results/<study>/<group>_s<seed>/ (one torch import for every seed).
"""


for study in PLAN.training_studies(group=False):

    rule:
        name:
            f"{study}_train"
        output:
            model=f"results/{study}/{{run}}/model.pt",
            metrics=f"results/{study}/{{run}}/train_metrics.csv",
        log:
            f"logs/{study}/{{run}}/train.log",
        benchmark:
            f"benchmarks/{study}_train/{{run}}.tsv"
        wildcard_constraints:
            run=pattern(PLAN.training(study, group=False)),
        params:
            run=PLAN.training_lookup(study, False, "params"),
        threads: 1
        resources:
            runtime=PLAN.training_lookup(study, False, "runtime"),
            mem_mb=2000,
            gpu=PLAN.training_lookup(study, False, "gpus"),
        conda:
            "../envs/icl_study.yaml"
        shell:
            "python -m icl_study train:train_rule --params {params.run:q} --out {output.model}"
            " --threads {threads} > {log} 2>&1"


for study in PLAN.training_studies(group=True):

    rule:
        name:
            f"{study}_train_seeds" if PLAN.training(study, group=False) else f"{study}_train"
        output:
            models=[f"results/{study}/{{group}}_s{seed}/model.pt" for seed in PLAN.group_seeds(study)],
            metrics=[f"results/{study}/{{group}}_s{seed}/train_metrics.csv" for seed in PLAN.group_seeds(study)],
        log:
            f"logs/{study}/{{group}}/train.log",
        benchmark:
            f"benchmarks/{study}_train/{{group}}.tsv"
        wildcard_constraints:
            group=pattern(PLAN.training(study, group=True)),
        params:
            job=PLAN.training_lookup(study, True, "params"),
        threads: 1
        resources:
            runtime=PLAN.training_lookup(study, True, "runtime"),
            mem_mb=2000,
            gpu=PLAN.training_lookup(study, True, "gpus"),
        conda:
            "../envs/icl_study.yaml"
        shell:
            "python -m icl_study train:train_seeds_rule --params {params.job:q} --out {output.models}"
            " --threads {threads} > {log} 2>&1"
