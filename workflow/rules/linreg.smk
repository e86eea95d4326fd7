"""Study 1: in-context linear regression. Trained runs (train.smk) -> error table -> figure.

Which learning algorithm?: predictor matching, the depth x noise sweep (runs "L{n_layer}_noise{noise_std}",
declared in icl_study/plan.py), probes, the hand-built GD transformer against the trained LSA ("gd/lsa").
"""


rule linreg_errors:
    input:
        expand("results/linreg/{run}/model.pt", run=config["linreg"]["runs"]),
    output:
        "results/linreg/errors.csv",
    log:
        "logs/linreg/errors.log",
    benchmark:
        "results/benchmarks/linreg_errors.tsv"
    params:
        eval=as_json(config["linreg"]["eval"]),
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.linreg:errors_rule {input:q} --params {params.eval:q}"
        " --out {output:q} --threads {threads} > {log:q} 2>&1"


use rule figure as fig_linreg_error_vs_k with:
    input:
        "results/linreg/errors.csv",
    output:
        png=report("results/figures/linreg_error_vs_k.png", caption=caption("linreg_error_vs_k"), category=REPORT_CATEGORIES["linreg"]),
        pdf="results/figures/linreg_error_vs_k.pdf",
    log:
        "logs/figures/linreg_error_vs_k.log",
    params:
        entry="plots.linreg:error_vs_k_rule",
        figure=as_json(
            {**config["linreg"]["figure"], "n_dims": config["linreg"]["task"]["n_dims"]}
        ),


rule linreg_matching:
    input:
        "results/linreg/{run}/model.pt",
    output:
        "results/linreg/{run}/matching.csv",
    log:
        "logs/linreg/{run}/matching.log",
    benchmark:
        "results/benchmarks/linreg_matching/{run}.tsv"
    wildcard_constraints:
        run=pattern(PLAN.run_names("linreg")),
    params:
        matching=as_json(config["linreg"]["matching"]),
    threads: 1
    resources:
        runtime=30,
        mem_mb=3000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.linreg_matching:matching_rule {input:q} --params {params.matching:q}"
        " --out {output:q} --threads {threads} > {log:q} 2>&1"


rule linreg_sweep_summary:
    input:
        expand("results/linreg/{run}/matching.csv", run=PLAN.linreg_sweep_runs),
    output:
        "results/linreg/sweep_summary.csv",
    log:
        "logs/linreg/sweep_summary.log",
    benchmark:
        "results/benchmarks/linreg_sweep_summary.tsv"
    threads: 1
    resources:
        runtime=10,
        mem_mb=1000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.linreg_matching:sweep_rule {input:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"


rule linreg_probes:
    input:
        "results/linreg/{run}/model.pt",
    output:
        "results/linreg/{run}/probes.csv",
    log:
        "logs/linreg/{run}/probes.log",
    benchmark:
        "results/benchmarks/linreg_probes/{run}.tsv"
    wildcard_constraints:
        run=pattern(PLAN.run_names("linreg")),
    params:
        probe=as_json(config["linreg"]["probe"]),
    threads: 1
    resources:
        runtime=30,
        mem_mb=3000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.linreg_probes:probes_rule {input:q} --params {params.probe:q}"
        " --out {output:q} --threads {threads} > {log:q} 2>&1"


rule linreg_gd_compare:
    input:
        # every training seed's LSA; the first (gd/lsa) gives the four tables, all of them seeds.csv
        [f"results/linreg/{run}/model.pt" for run in PLAN.linreg_lsa_runs],
    output:
        summary="results/linreg/gd/summary.csv",
        interpolation="results/linreg/gd/interpolation.csv",
        predictions="results/linreg/gd/predictions.csv",
        exactness="results/linreg/gd/exactness.csv",
        seeds="results/linreg/gd/seeds.csv",
    log:
        "logs/linreg/gd/compare.log",
    benchmark:
        "results/benchmarks/linreg_gd_compare.tsv"
    params:
        gd=as_json({key: config["linreg"]["gd"][key] for key in ("n_tasks", "max_steps", "n_alphas", "seed")}),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.linreg_gd:compare_rule {input:q} --params {params.gd:q}"
        " --out {output.summary:q} {output.interpolation:q} {output.predictions:q} {output.exactness:q} {output.seeds:q}"
        " --threads {threads} > {log:q} 2>&1"


use rule figure as fig_linreg_matching with:
    input:
        expand("results/linreg/{run}/matching.csv", run=PLAN.linreg_matching_runs),
    output:
        png=report("results/figures/linreg_matching.png", caption=caption("linreg_matching"), category=REPORT_CATEGORIES["linreg"]),
        pdf="results/figures/linreg_matching.pdf",
    log:
        "logs/figures/linreg_matching.log",
    params:
        entry="plots.linreg_algorithms:matching_rule",


use rule figure as fig_linreg_depth_noise with:
    input:
        "results/linreg/sweep_summary.csv",
    output:
        png=report("results/figures/linreg_depth_noise.png", caption=caption("linreg_depth_noise"), category=REPORT_CATEGORIES["linreg"]),
        pdf="results/figures/linreg_depth_noise.pdf",
    log:
        "logs/figures/linreg_depth_noise.log",
    params:
        entry="plots.linreg_algorithms:depth_noise_rule",


use rule figure as fig_linreg_probes with:
    input:
        expand("results/linreg/{run}/probes.csv", run=PLAN.linreg_matching_runs),  # named runs + the sweep's σ = 0 cells, every seed
    output:
        png=report("results/figures/linreg_probes.png", caption=caption("linreg_probes"), category=REPORT_CATEGORIES["linreg"]),
        pdf="results/figures/linreg_probes.pdf",
    log:
        "logs/figures/linreg_probes.log",
    params:
        entry="plots.linreg_algorithms:probes_rule",


use rule figure as fig_linreg_gd with:
    input:
        summary="results/linreg/gd/summary.csv",
        interpolation="results/linreg/gd/interpolation.csv",
        predictions="results/linreg/gd/predictions.csv",
        exactness="results/linreg/gd/exactness.csv",
    output:
        png=report("results/figures/linreg_gd.png", caption=caption("linreg_gd"), category=REPORT_CATEGORIES["linreg"]),
        pdf="results/figures/linreg_gd.pdf",
    log:
        "logs/figures/linreg_gd.log",
    params:
        entry="plots.linreg_algorithms:gd_rule",

