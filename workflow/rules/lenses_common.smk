"""Helpers for workflow/rules/lenses.smk: families, cells, params (no rules here).

Needs transience_common.smk (TRANSIENCE, transience_study), included before this file.
"""


LENSES = config["lenses"]
LENSES_REGRESSION_ONLY = ("spd", "probe")
LENSES_FIGURES = ["lenses_over_training", "lenses_correlations"]


def lenses_run(family):
    """(size, weight_decay, seed) of the family's transience run, which must be a configured run."""
    run = LENSES["families"][family]["run"]
    for dataset, size, wd, seed in transience_study.runs(TRANSIENCE):
        if dataset == family and transience_study.run_tag(size, wd, seed) == run:
            return size, wd, seed
    raise SystemExit(f"icl_study: config error: lenses.families.{family}.run: {run!r} is not a transience run")


def lenses_steps(family):
    """The family's kept checkpoint steps (all, or the configured subset of them)."""
    params = transience_study.run_params(TRANSIENCE, family, *lenses_run(family))
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
    """Every cell's table: one per (family, kept step, lens)."""
    return [f"results/lenses/{family}/step{step}/{lens}.csv"
            for family in LENSES["families"] for step in lenses_steps(family) for lens in lenses_of(family)]


def lenses_run_dir(family):
    return f"results/transience/{family}/{LENSES['families'][family]['run']}"


def lenses_model(wildcards):
    """The run's final model.pt: its training writes the kept checkpoints beside it first."""
    return f"{lenses_run_dir(wildcards.family)}/model.pt"


def lenses_cell_params(wildcards):
    """A cell's params: its coordinates, its own lens's settings, the bootstrap size and the seed."""
    settings = {} if wildcards.lens == "evaluators" else LENSES[wildcards.lens]
    return as_json({"family": wildcards.family, "step": int(wildcards.step), "lens": wildcards.lens,
                    "settings": settings, "n_boot": LENSES["n_boot"], "seed": LENSES["seed"]})


LENSES_TARGETS = [f"results/figures/{name}.{ext}" for name in LENSES_FIGURES for ext in ("png", "pdf")]
