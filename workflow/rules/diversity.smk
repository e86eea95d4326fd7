"""Beyond the five papers: task diversity (Raventós et al. 2023), transient ridge (Panwar et al.
2024; Carroll et al. 2025), and which optimizer each layer matches (Fu et al. 2024).

One training job per pool size M trains every seed (one torch import per job) ->
results/diversity/M{M}/seed{seed}/; a collect job turns the training logs into the sweep,
threshold and transient tables; a layers job reads out the largest-M models layer by layer; three
figures read the tables only. The study's claims (studies/diversity.py, `claims`) are rows of the
run's ledger (claims.smk).
"""

import icl_study.studies.diversity as diversity_study

DIVERSITY = config["diversity"]
DIVERSITY_SETTINGS = diversity_study.settings(DIVERSITY)  # defaults filled in; a bad section stops here
DIVERSITY_M = list(DIVERSITY_SETTINGS.pool_sizes)
DIVERSITY_SEEDS = list(DIVERSITY_SETTINGS.seeds)
DIVERSITY_JOBS = {str(m): as_json(diversity_study.run_job(DIVERSITY, m)) for m in DIVERSITY_M}
DIVERSITY_TABLES = {name: f"results/diversity/{name}.csv" for name in ("sweep", "threshold", "transient", "layers")}
DIVERSITY_FIGURES = ["diversity_threshold", "diversity_transient", "diversity_layers"]
DIVERSITY_TARGETS = [f"results/figures/{name}.{ext}" for name in DIVERSITY_FIGURES for ext in ("png", "pdf")]
DIVERSITY_METRICS = [f"{diversity_study.run_dir(m, s)}/train_metrics.csv" for m in DIVERSITY_M for s in DIVERSITY_SEEDS]


rule diversity_train:
    output:
        models=[f"results/diversity/M{{M}}/seed{seed}/model.pt" for seed in DIVERSITY_SEEDS],
        metrics=[f"results/diversity/M{{M}}/seed{seed}/train_metrics.csv" for seed in DIVERSITY_SEEDS],
    log:
        "logs/diversity/M{M}/train.log",
    benchmark:
        "benchmarks/diversity_train/M{M}.tsv"
    wildcard_constraints:
        M="|".join(DIVERSITY_JOBS),
    params:
        job=lookup(DIVERSITY_JOBS, "M"),
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
        gpu=run_gpus(lookup(DIVERSITY_JOBS, "M")),
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study train:train_seeds_rule --params {params.job:q} --out {output.models}"
        " --threads {threads} > {log} 2>&1"


rule diversity_collect:
    input:
        DIVERSITY_METRICS,
    output:
        sweep=DIVERSITY_TABLES["sweep"],
        threshold=DIVERSITY_TABLES["threshold"],
        transient=DIVERSITY_TABLES["transient"],
    log:
        "logs/diversity/collect.log",
    benchmark:
        "benchmarks/diversity_collect.tsv"
    params:
        collect=as_json({"transient_pool_size": DIVERSITY_SETTINGS.transient_pool_size}),
    threads: 1
    resources:
        runtime=5,
        mem_mb=1000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.diversity:collect_rule {input} --params {params.collect:q}"
        " --out {output.sweep} {output.threshold} {output.transient} --threads {threads} > {log} 2>&1"


rule diversity_layers:
    input:
        [f"{diversity_study.run_dir(DIVERSITY_SETTINGS.layers.pool_size, s)}/model.pt" for s in DIVERSITY_SEEDS],
    output:
        layers=DIVERSITY_TABLES["layers"],
        spd="results/diversity/layers_spd.csv",
    log:
        "logs/diversity/layers.log",
    benchmark:
        "benchmarks/diversity_layers.tsv"
    params:
        section=as_json({"layers": DIVERSITY.get("layers", {})}),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.diversity:layers_rule {input} --params {params.section:q}"
        " --out {output.layers} {output.spd} --threads {threads} > {log} 2>&1"


rule fig_diversity_threshold:
    input:
        sweep=DIVERSITY_TABLES["sweep"],
        threshold=DIVERSITY_TABLES["threshold"],
        transient=DIVERSITY_TABLES["transient"],
        layers=DIVERSITY_TABLES["layers"],
        spd="results/diversity/layers_spd.csv",
    output:
        png=report(
            "results/figures/diversity_threshold.png",
            caption=caption("diversity_threshold"),
            category="7. Beyond the papers",
        ),
        pdf="results/figures/diversity_threshold.pdf",
    log:
        "logs/figures/diversity_threshold.log",
    params:
        plot="threshold_rule",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study plots.diversity:{params.plot} {input.sweep} {input.threshold} {input.transient}"
        " {input.layers} {input.spd} --out {output.png} {output.pdf} > {log} 2>&1"


use rule fig_diversity_threshold as fig_diversity_transient with:
    output:
        png=report(
            "results/figures/diversity_transient.png",
            caption=caption("diversity_transient"),
            category="7. Beyond the papers",
        ),
        pdf="results/figures/diversity_transient.pdf",
    log:
        "logs/figures/diversity_transient.log",
    params:
        plot="transient_rule",


use rule fig_diversity_threshold as fig_diversity_layers with:
    output:
        png=report(
            "results/figures/diversity_layers.png",
            caption=caption("diversity_layers"),
            category="7. Beyond the papers",
        ),
        pdf="results/figures/diversity_layers.pdf",
    log:
        "logs/figures/diversity_layers.log",
    params:
        plot="layers_rule",
