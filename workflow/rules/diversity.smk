"""Beyond the five papers: task diversity (Raventós et al. 2023), transient ridge (Panwar et al.
2024; Carroll et al. 2025), and which optimizer each layer matches (Fu et al. 2024).

One training job per pool size M trains every seed (one torch import per job; declared in
icl_study/studies/diversity_plan.py, trained by train.smk) -> results/diversity/M{M}/seed{seed}/; a collect job
turns the training logs (and each run's task, for the ridge-dMMSE distance) into the sweep,
threshold and transient tables; a layers job reads out the
largest-M models layer by layer; a query job measures every model's SPDs at the query position; three figures read the tables only. The study's claims (studies/diversity_claims.py, `claims`) are rows of the
run's ledger (claims.smk).
"""

from icl_study.studies.diversity_plan import DIVERSITY_TABLES


use rule analysis as diversity_collect with:
    input: PLAN.diversity_metrics,
    output:
        sweep=DIVERSITY_TABLES["sweep"],
        threshold=DIVERSITY_TABLES["threshold"],
        transient=DIVERSITY_TABLES["transient"],
    log: "logs/diversity/collect.log",
    benchmark: "results/benchmarks/diversity_collect.tsv"
    params:
        # the section: each run's task, to measure the ridge-dMMSE distance on its fresh-task batch
        entry="studies.diversity:collect_rule", settings=params_option(as_json({"transient_pool_size": PLAN.diversity_settings.transient_pool_size,
                                 "section": config["diversity"]})),
    resources: runtime=5, mem_mb=1000,


use rule analysis as diversity_query with:
    input:
        # every run's final model, beside its training log
        [path.replace("train_metrics.csv", "model.pt") for path in PLAN.diversity_metrics],
    output: query=DIVERSITY_TABLES["query"],
    log: "logs/diversity/query.log",
    benchmark: "results/benchmarks/diversity_query.tsv"
    params: entry="studies.diversity:query_rule",


use rule analysis as diversity_layers with:
    input: PLAN.diversity_layers_models,
    output:
        layers=DIVERSITY_TABLES["layers"],
        spd="results/diversity/layers_spd.csv",
        control="results/diversity/layers_control.csv",
    log: "logs/diversity/layers.log",
    benchmark: "results/benchmarks/diversity_layers.tsv"
    params:
        entry="studies.diversity:layers_rule", settings=params_option(as_json({"layers": config["diversity"].get("layers", {})})),
