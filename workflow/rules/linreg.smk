"""Study 1: in-context linear regression. Trained runs (train.smk) -> error table -> figure.

Which learning algorithm?: predictor matching, the depth x noise sweep (runs "L{n_layer}_noise{noise_std}",
declared in icl_study/studies/linreg_plan.py), probes, the hand-built GD transformer against the trained LSA ("gd/lsa").
"""


use rule analysis as linreg_errors with:
    input: expand("results/linreg/{run}/model.pt", run=config["linreg"]["runs"]),
    output: "results/linreg/errors.csv",
    log: "logs/linreg/errors.log",
    benchmark: "results/benchmarks/linreg_errors.tsv"
    params: entry="studies.linreg:errors_rule", settings=params_option(as_json(config["linreg"]["eval"])),
    resources: runtime=30, mem_mb=2000,


use rule analysis as linreg_matching with:
    input: "results/linreg/{run}/model.pt",
    output: "results/linreg/{run}/matching.csv",
    log: "logs/linreg/{run}/matching.log",
    benchmark: "results/benchmarks/linreg_matching/{run}.tsv"
    wildcard_constraints: run=pattern(PLAN.run_names("linreg")),
    params: entry="studies.linreg_matching:matching_rule", settings=params_option(as_json(config["linreg"]["matching"])),
    resources: runtime=30, mem_mb=3000,


use rule analysis as linreg_sweep_summary with:
    input: expand("results/linreg/{run}/matching.csv", run=PLAN.linreg_sweep_runs),
    output: "results/linreg/sweep_summary.csv",
    log: "logs/linreg/sweep_summary.log",
    benchmark: "results/benchmarks/linreg_sweep_summary.tsv"
    params: entry="studies.linreg_matching:sweep_rule",
    resources: runtime=10, mem_mb=1000,


use rule analysis as linreg_probes with:
    input: "results/linreg/{run}/model.pt",
    output: "results/linreg/{run}/probes.csv",
    log: "logs/linreg/{run}/probes.log",
    benchmark: "results/benchmarks/linreg_probes/{run}.tsv"
    wildcard_constraints: run=pattern(PLAN.run_names("linreg")),
    params: entry="studies.linreg_probes:probes_rule", settings=params_option(as_json(config["linreg"]["probe"])),
    resources: runtime=30, mem_mb=3000,


use rule analysis as linreg_gd_compare with:
    # every training seed's LSA; the first (gd/lsa) gives the four tables, all of them seeds.csv
    input: [f"results/linreg/{run}/model.pt" for run in PLAN.linreg_lsa_runs],
    output:
        summary="results/linreg/gd/summary.csv",
        interpolation="results/linreg/gd/interpolation.csv",
        predictions="results/linreg/gd/predictions.csv",
        exactness="results/linreg/gd/exactness.csv",
        seeds="results/linreg/gd/seeds.csv",
    log: "logs/linreg/gd/compare.log",
    benchmark: "results/benchmarks/linreg_gd_compare.tsv"
    params:
        entry="studies.linreg_gd:compare_rule", settings=params_option(as_json({key: config["linreg"]["gd"][key] for key in ("n_tasks", "max_steps", "n_alphas", "seed")})),
