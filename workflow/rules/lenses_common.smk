"""Helpers for workflow/rules/lenses.smk: families, cells, params (no rules here).

Needs transience_common.smk (TRANSIENCE, transience_study), included before this file.
"""


LENSES = config["lenses"]
LENSES_REGRESSION_ONLY = ("spd", "probe")
LENSES_FIGURES = ["lenses_over_training", "lenses_correlations"]


def lenses_run(family, seed):
    """(size, weight_decay, seed) of one of the family's transience runs, which must be configured."""
    run = f"{LENSES['families'][family]['run']}/seed{seed}"
    for dataset, size, wd, run_seed in transience_study.runs(TRANSIENCE):
        if dataset == family and transience_study.run_tag(size, wd, run_seed) == run:
            return size, wd, run_seed
    raise SystemExit(f"icl_study: config error: lenses.families.{family}: {run!r} is not a transience run")


def lenses_seeds(family):
    return LENSES["families"][family]["seeds"]


def lenses_steps(family):
    """The family's kept checkpoint steps (all, or the configured subset of them)."""
    params = transience_study.run_params(TRANSIENCE, family, *lenses_run(family, lenses_seeds(family)[0]))
    kept, wanted = params["train"]["keep_steps"], LENSES["families"][family]["steps"]
    missing = sorted(set(wanted) - set(kept))
    if missing:
        raise SystemExit(f"icl_study: config error: lenses.families.{family}.steps: {missing} not kept (kept: {kept})")
    return sorted(wanted) if wanted else kept


def lenses_of(family):
    lenses = LENSES["families"][family]["lenses"]
    wrong = [lens for lens in lenses if lens in LENSES_REGRESSION_ONLY and family != "regression"]
    if wrong:
        raise SystemExit(f"icl_study: config error: lenses.families.{family}.lenses: {wrong} apply to regression only")
    return lenses


def lenses_cells():
    """Every cell's table: one per (family, training seed, lens), each over every kept step (one
    process per cell pays for importing torch once, not once per checkpoint)."""
    return [f"results/lenses/{family}/seed{seed}/{lens}.csv"
            for family in LENSES["families"] for seed in lenses_seeds(family) for lens in lenses_of(family)]


def lenses_run_dir(family, seed):
    lenses_run(family, seed)  # a configured transience run, or a config error
    return f"results/transience/{family}/{LENSES['families'][family]['run']}/seed{seed}"


def lenses_run_dirs():
    return [lenses_run_dir(family, seed) for family in LENSES["families"] for seed in lenses_seeds(family)]


def lenses_model(wildcards):
    """The run's final model.pt: its training writes the kept checkpoints beside it first."""
    return f"{lenses_run_dir(wildcards.family, int(wildcards.seed))}/model.pt"


def lenses_cell_params(wildcards):
    """A cell's params: its coordinates, its own lens's settings, the bootstrap size and the lens seed
    (the same episodes for every training seed: the seeds differ only in the model)."""
    settings = {} if wildcards.lens == "evaluators" else LENSES[wildcards.lens]
    return as_json({"family": wildcards.family, "member": f"seed{wildcards.seed}", "steps": lenses_steps(wildcards.family),
                    "lens": wildcards.lens, "settings": settings, "n_boot": LENSES["n_boot"], "seed": LENSES["seed"]})


LENSES_TARGETS = [f"results/figures/{name}.{ext}" for name in LENSES_FIGURES for ext in ("png", "pdf")]
