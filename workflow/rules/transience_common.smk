"""Study 5 helpers for workflow/rules/transience.smk: run list, targets, params (no rules here)."""


from icl_study.studies import transience as transience_study

TRANSIENCE = config["transience"]
TRANSIENCE_FIGURES = ["transience_curves", "transience_peak_final", "transience_regression"]


def transience_targets():
    return [f"results/figures/{name}.{ext}" for name in TRANSIENCE_FIGURES for ext in ("png", "pdf")]


def transience_run_dirs():
    return [
        f"results/transience/{dataset}/{transience_study.run_tag(size, wd, seed)}"
        for dataset, size, wd, seed in transience_study.runs(TRANSIENCE)
    ]


def transience_run_params(wildcards):
    """The training params of the run named by the wildcards (matched against the config's runs)."""
    for dataset, size, wd, seed in transience_study.runs(TRANSIENCE):
        tag = transience_study.run_tag(size, wd, seed)
        if (dataset, tag) == (wildcards.dataset, f"{wildcards.size}/wd{wildcards.wd}/seed{wildcards.seed}"):
            return as_json(transience_study.run_params(TRANSIENCE, dataset, size, wd, seed))
    raise ValueError(f"transience: no configured run {wildcards}")
