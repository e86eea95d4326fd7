"""Beyond the five papers: task diversity (Raventós et al. 2023), transient ridge (Panwar et al.
2024; Carroll et al. 2025), and which optimizer each layer matches (Fu et al. 2024).

One training job per pool size M trains every seed (one torch import per job; declared in
icl_study/plan.py, trained by train.smk) -> results/diversity/M{M}/seed{seed}/; a collect job
turns the training logs (and each run's task, for the ridge-dMMSE distance) into the sweep,
threshold and transient tables; a layers job reads out the
largest-M models layer by layer; a query job measures every model's SPDs at the query position; three figures read the tables only. The study's claims (studies/diversity.py, `claims`) are rows of the
run's ledger (claims.smk).
"""

DIVERSITY_TABLES = {name: f"results/diversity/{name}.csv" for name in ("sweep", "threshold", "transient", "layers", "query")}


rule diversity_collect:
    input:
        PLAN.diversity_metrics,
    output:
        sweep=DIVERSITY_TABLES["sweep"],
        threshold=DIVERSITY_TABLES["threshold"],
        transient=DIVERSITY_TABLES["transient"],
    log:
        "logs/diversity/collect.log",
    benchmark:
        "results/benchmarks/diversity_collect.tsv"
    params:
        # the section: each run's task, to measure the ridge-dMMSE distance on its fresh-task batch
        collect=as_json({"transient_pool_size": PLAN.diversity_settings.transient_pool_size,
                         "section": config["diversity"]}),
    threads: 1
    resources:
        runtime=5,
        mem_mb=1000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.diversity:collect_rule {input:q} --params {params.collect:q}"
        " --out {output.sweep:q} {output.threshold:q} {output.transient:q} --threads {threads} > {log:q} 2>&1"


rule diversity_query:
    input:
        # every run's final model, beside its training log
        [path.replace("train_metrics.csv", "model.pt") for path in PLAN.diversity_metrics],
    output:
        query=DIVERSITY_TABLES["query"],
    log:
        "logs/diversity/query.log",
    benchmark:
        "results/benchmarks/diversity_query.tsv"
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.diversity:query_rule {input:q} --out {output.query:q} --threads {threads} > {log:q} 2>&1"


rule diversity_layers:
    input:
        PLAN.diversity_layers_models,
    output:
        layers=DIVERSITY_TABLES["layers"],
        spd="results/diversity/layers_spd.csv",
        control="results/diversity/layers_control.csv",
    log:
        "logs/diversity/layers.log",
    benchmark:
        "results/benchmarks/diversity_layers.tsv"
    params:
        section=as_json({"layers": config["diversity"].get("layers", {})}),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.diversity:layers_rule {input:q} --params {params.section:q}"
        " --out {output.layers:q} {output.spd:q} {output.control:q} --threads {threads} > {log:q} 2>&1"


use rule figure as fig_diversity_threshold with:
    input:
        sweep=DIVERSITY_TABLES["sweep"],
        threshold=DIVERSITY_TABLES["threshold"],
        transient=DIVERSITY_TABLES["transient"],
        layers=DIVERSITY_TABLES["layers"],
        spd="results/diversity/layers_spd.csv",
    output:
        png=report("results/figures/diversity_threshold.png", caption=caption("diversity_threshold"), category=REPORT_CATEGORIES["diversity"]),
        pdf="results/figures/diversity_threshold.pdf",
    log:
        "logs/figures/diversity_threshold.log",
    params:
        entry="plots.diversity:threshold_rule",


# the same tables as fig_diversity_threshold
use rule fig_diversity_threshold as fig_diversity_transient with:
    output:
        png=report("results/figures/diversity_transient.png", caption=caption("diversity_transient"), category=REPORT_CATEGORIES["diversity"]),
        pdf="results/figures/diversity_transient.pdf",
    log:
        "logs/figures/diversity_transient.log",
    params:
        entry="plots.diversity:transient_rule",


# the same tables as fig_diversity_threshold
use rule fig_diversity_threshold as fig_diversity_layers with:
    output:
        png=report("results/figures/diversity_layers.png", caption=caption("diversity_layers"), category=REPORT_CATEGORIES["diversity"]),
        pdf="results/figures/diversity_layers.pdf",
    log:
        "logs/figures/diversity_layers.log",
    params:
        entry="plots.diversity:layers_rule",
