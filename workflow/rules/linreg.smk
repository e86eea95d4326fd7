"""Study 1: in-context linear regression. Train -> error table -> figure."""


# Final outputs of the study, requested by `rule all`.
LINREG_TARGETS = [
    "results/figures/linreg_error_vs_k.png",
    "results/figures/linreg_error_vs_k.pdf",
]


rule linreg_train:
    output:
        model="results/linreg/{run}/model.pt",
        metrics="results/linreg/{run}/train_metrics.csv",
    log:
        "logs/linreg/{run}/train.log",
    benchmark:
        "benchmarks/linreg_train/{run}.tsv"
    params:
        run=run_params("linreg", "regression"),
    threads: 1
    resources:
        runtime=60,
        mem_mb=2000,
        gpu=train_gpus("linreg"),
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study train:train_rule --params {params.run:q} --out {output.model}"
        " --threads {threads} > {log} 2>&1"


rule linreg_errors:
    input:
        expand("results/linreg/{run}/model.pt", run=config["linreg"]["runs"]),
    output:
        "results/linreg/errors.csv",
    log:
        "logs/linreg/errors.log",
    benchmark:
        "benchmarks/linreg_errors.tsv"
    params:
        eval=as_json(config["linreg"]["eval"]),
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.linreg:errors_rule {input} --params {params.eval:q}"
        " --out {output} --threads {threads} > {log} 2>&1"


rule fig_linreg_error_vs_k:
    input:
        "results/linreg/errors.csv",
    output:
        png=report(
            "results/figures/linreg_error_vs_k.png",
            caption=caption("linreg_error_vs_k"),
            category="1. Linear regression",
        ),
        pdf="results/figures/linreg_error_vs_k.pdf",
    log:
        "logs/figures/linreg_error_vs_k.log",
    params:
        figure=as_json(
            {**config["linreg"]["figure"], "n_dims": config["linreg"]["task"]["n_dims"]}
        ),
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study plots.linreg:error_vs_k_rule {input} --params {params.figure:q}"
        " --out {output.png} {output.pdf} > {log} 2>&1"


# ---------------------------------------------------------------------------------------------
# Which learning algorithm?: predictor matching, depth x noise sweep, probes, hand-built GD.
# The sweep's runs ("L{n_layer}_noise{noise_std}", see sweep_runs in common.smk) are trained by
# linreg_train like any other run.
# ---------------------------------------------------------------------------------------------
LINREG_SWEEP_RUNS = list(sweep_runs(config["linreg"]["sweep"]))
LINREG_ALGORITHM_FIGURES = ["linreg_matching", "linreg_depth_noise", "linreg_probes", "linreg_gd"]
LINREG_TARGETS += [f"results/figures/{name}.{ext}" for name in LINREG_ALGORITHM_FIGURES for ext in ("png", "pdf")]


# The matching figure shows every named run, then the sweep's lowest-noise column.
LINREG_MATCHING_RUNS = list(config["linreg"]["runs"]) + [
    run for run in LINREG_SWEEP_RUNS
    if run.rsplit("_s", 1)[0].endswith(f"_noise{min(config['linreg']['sweep']['noise_std']):g}")  # every seed of the cell
]

# The 1-layer linear self-attention run: von Oswald et al.'s shape on pair tokens (d + 1 wide).
LINREG_LSA_TASK = deep_merge(config["linreg"]["task"], config["linreg"]["gd"]["task"])
LINREG_LSA_RUN = {
    "task": "regression_pairs",
    "task_config": LINREG_LSA_TASK,
    "model": {
        "n_layer": 1, "n_head": 1, "d_model": config["linreg"]["gd"]["d_model"], "d_mlp": 0,
        "n_positions": LINREG_LSA_TASK["n_points"], "attention": "linear", "layer_norm": False,
        "n_dims_in": LINREG_LSA_TASK["n_dims"] + 1, "n_dims_out": 1, "vocab_size": 0, "positions": "none",
        "init": "torch",  # at GPT-2's N(0, 0.02) the product of six small matrices barely moves
    },
    "train": deep_merge(config["linreg"]["train"], config["linreg"]["gd"]["train"]),
}
LINREG_GD_COMPARE = {key: config["linreg"]["gd"][key] for key in ("n_tasks", "max_steps", "n_alphas", "seed")}


rule linreg_matching:
    input:
        "results/linreg/{run}/model.pt",
    output:
        "results/linreg/{run}/matching.csv",
    log:
        "logs/linreg/{run}/matching.log",
    benchmark:
        "benchmarks/linreg_matching/{run}.tsv"
    params:
        matching=as_json(config["linreg"]["matching"]),
    threads: 1
    resources:
        runtime=30,
        mem_mb=3000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.linreg_matching:matching_rule {input} --params {params.matching:q}"
        " --out {output} --threads {threads} > {log} 2>&1"


rule linreg_sweep_summary:
    input:
        expand("results/linreg/{run}/matching.csv", run=LINREG_SWEEP_RUNS),
    output:
        "results/linreg/sweep_summary.csv",
    log:
        "logs/linreg/sweep_summary.log",
    benchmark:
        "benchmarks/linreg_sweep_summary.tsv"
    threads: 1
    resources:
        runtime=10,
        mem_mb=1000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.linreg_matching:sweep_rule {input} --out {output}"
        " --threads {threads} > {log} 2>&1"


rule linreg_probes:
    input:
        "results/linreg/{run}/model.pt",
    output:
        "results/linreg/{run}/probes.csv",
    log:
        "logs/linreg/{run}/probes.log",
    benchmark:
        "benchmarks/linreg_probes/{run}.tsv"
    params:
        probe=as_json(config["linreg"]["probe"]),
    threads: 1
    resources:
        runtime=30,
        mem_mb=3000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.linreg_probes:probes_rule {input} --params {params.probe:q}"
        " --out {output} --threads {threads} > {log} 2>&1"


rule linreg_lsa_train:
    output:
        model="results/linreg/gd/lsa/model.pt",
        metrics="results/linreg/gd/lsa/train_metrics.csv",
    log:
        "logs/linreg/gd/lsa_train.log",
    benchmark:
        "benchmarks/linreg_lsa_train.tsv"
    params:
        run=as_json(LINREG_LSA_RUN),
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
        gpu=run_gpus(as_json(LINREG_LSA_RUN)),
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study train:train_rule --params {params.run:q} --out {output.model}"
        " --threads {threads} > {log} 2>&1"


rule linreg_gd_compare:
    input:
        "results/linreg/gd/lsa/model.pt",
    output:
        summary="results/linreg/gd/summary.csv",
        interpolation="results/linreg/gd/interpolation.csv",
        predictions="results/linreg/gd/predictions.csv",
        exactness="results/linreg/gd/exactness.csv",
    log:
        "logs/linreg/gd/compare.log",
    benchmark:
        "benchmarks/linreg_gd_compare.tsv"
    params:
        gd=as_json(LINREG_GD_COMPARE),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study studies.linreg_gd:compare_rule {input} --params {params.gd:q}"
        " --out {output.summary} {output.interpolation} {output.predictions} {output.exactness}"
        " --threads {threads} > {log} 2>&1"


rule fig_linreg_matching:
    input:
        expand("results/linreg/{run}/matching.csv", run=LINREG_MATCHING_RUNS),
    output:
        png=report(
            "results/figures/linreg_matching.png",
            caption=caption("linreg_matching"),
            category="1. Linear regression",
        ),
        pdf="results/figures/linreg_matching.pdf",
    log:
        "logs/figures/linreg_matching.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study plots.linreg_algorithms:matching_rule {input} --out {output.png} {output.pdf}"
        " > {log} 2>&1"


rule fig_linreg_depth_noise:
    input:
        "results/linreg/sweep_summary.csv",
    output:
        png=report(
            "results/figures/linreg_depth_noise.png",
            caption=caption("linreg_depth_noise"),
            category="1. Linear regression",
        ),
        pdf="results/figures/linreg_depth_noise.pdf",
    log:
        "logs/figures/linreg_depth_noise.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study plots.linreg_algorithms:depth_noise_rule {input} --out {output.png} {output.pdf}"
        " > {log} 2>&1"


rule fig_linreg_probes:
    input:
        expand("results/linreg/{run}/probes.csv", run=LINREG_MATCHING_RUNS),  # named runs + the sweep's σ = 0 cells, every seed
    output:
        png=report(
            "results/figures/linreg_probes.png",
            caption=caption("linreg_probes"),
            category="1. Linear regression",
        ),
        pdf="results/figures/linreg_probes.pdf",
    log:
        "logs/figures/linreg_probes.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study plots.linreg_algorithms:probes_rule {input} --out {output.png} {output.pdf}"
        " > {log} 2>&1"


rule fig_linreg_gd:
    input:
        summary="results/linreg/gd/summary.csv",
        interpolation="results/linreg/gd/interpolation.csv",
        predictions="results/linreg/gd/predictions.csv",
        exactness="results/linreg/gd/exactness.csv",
    output:
        png=report(
            "results/figures/linreg_gd.png",
            caption=caption("linreg_gd"),
            category="1. Linear regression",
        ),
        pdf="results/figures/linreg_gd.pdf",
    log:
        "logs/figures/linreg_gd.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study plots.linreg_algorithms:gd_rule {input.summary} {input.interpolation}"
        " {input.predictions} {input.exactness} --out {output.png} {output.pdf} > {log} 2>&1"
