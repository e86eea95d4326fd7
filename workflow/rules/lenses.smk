"""Across papers: every lens on the same checkpoints, over training time.

One job per (family, training seed, lens) over every kept checkpoint ->
results/lenses/{family}/seed{seed}/{lens}.csv, so a new lens runs only its own cells; a collect job stacks them into one tidy table
and the rank correlations with ICL (raw, and the claims' partial ρ given log(step) with the
ICL-falls gate columns); two figures read those tables only. Cells are not rerun when a lens's code
changes: after the spd and probe lenses gained `spd_ols_minus_ridge` and `r2_w_ols_given_xty`, an
existing run needs `--forcerun lenses_cell` (or those cells deleted) before the claims can read them.
"""


use rule analysis as lenses_cell with:
    input: lambda wildcards: f"{PLAN.lenses_run_dir(wildcards.family, int(wildcards.seed))}/model.pt",
    output: "results/lenses/{family}/seed{seed}/{lens}.csv",
    log: "logs/lenses/{family}/seed{seed}/{lens}.log",
    benchmark: "results/benchmarks/lenses_cell/{family}/seed{seed}/{lens}.tsv"
    wildcard_constraints:
        family=pattern(sorted({family for family, _, _ in PLAN.lenses_cells})),
        seed=pattern(sorted({seed for _, seed, _ in PLAN.lenses_cells})),
        lens=pattern(sorted({lens for _, _, lens in PLAN.lenses_cells})),
    params:
        entry="studies.lenses:cell_rule", settings=params_option(lambda wildcards: PLAN.lenses_cell_params(wildcards.family, wildcards.seed, wildcards.lens)),
    resources: runtime=10, mem_mb=1500,


use rule analysis as lenses_collect with:
    input: PLAN.lenses_tables,
    output:
        table="results/lenses/table.csv",
        correlations="results/lenses/correlations.csv",
        members="results/lenses/members.csv",
    log: "logs/lenses/collect.log",
    benchmark: "results/benchmarks/lenses_collect.tsv"
    params: entry="studies.lenses:collect_rule", settings=params_option(as_json({"kinds": PLAN.lenses_kinds})),
    resources: runtime=5, mem_mb=1000,
