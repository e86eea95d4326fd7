"""The transient-ICL study's part of the plan (torch-free, the plan's layer): its runs (weight-decay
sweep x model sizes x seeds, plus the finite-pool regression runs), and `TransiencePlan`, mixed into `Plan`.
"""

from __future__ import annotations

from icl_study.config import ConfigError, deep_merge
from icl_study.plan import Figure, TrainingJob, log_steps, make_run_config

# its figures' names (results/figures/<name>.png and .pdf), written here only: the claims import them
TRANSIENCE_CURVES_FIGURE = "transience_curves"
TRANSIENCE_PEAK_FINAL_FIGURE = "transience_peak_final"
TRANSIENCE_REGRESSION_FIGURE = "transience_regression"


def run_tag(size: str, weight_decay: float, seed: int) -> str:
    """The directory name of one transience run: `<size>/wd<weight_decay>/seed<seed>`."""
    return f"{size}/wd{weight_decay:g}/seed{seed}"


def transience_runs(section: dict) -> list[tuple[str, str, float, int]]:
    """(dataset, size, weight_decay, seed) of every run: the weight-decay sweep at the base size and
    the size sweep at the first weight decay (`full_grid`: every combination), for each seed; each
    arm's weight decays x its own seeds (the arm's name stands in the size's place); plus the
    regression runs (size "pool": their own model; `regression_seeds`, default `seeds`)."""
    decays, sizes, base = section["weight_decays"], list(section["sizes"]), section["base_size"]
    pairs = [(s, wd) for s in sizes for wd in decays] if section["full_grid"] else \
        [(base, wd) for wd in decays] + [(s, decays[0]) for s in sizes if s != base]
    out = [("bursty", s, wd, seed) for s, wd in pairs for seed in section["seeds"]]
    for name, arm in section.get("arms", {}).items():
        out += [("bursty", name, wd, seed) for wd in arm["weight_decays"] for seed in arm["seeds"]]
    reg_seeds = section.get("regression_seeds", section["seeds"])
    out += [("regression", "pool", wd, seed) for wd in section["regression_weight_decays"] for seed in reg_seeds]
    return out


def transience_run_params(section: dict, dataset: str, size: str, weight_decay: float, seed: int) -> dict:
    """The `train:train_rule` params of one transience run.

    `dataset` is `bursty` or `regression`; the model size's overrides, the weight decay and the
    seed are merged into that dataset's task/model/train, and log-spaced `eval_steps` (evaluators)
    and `keep_steps` (checkpoints) are filled in from `n_eval_points` / `n_keep_checkpoints`.
    """
    base = section[dataset]
    arm = section.get("arms", {}).get(size) if dataset == "bursty" else None
    if arm is not None:  # an arm: its size's model and budget, with its own task overrides
        base = {**base, "task": deep_merge(base["task"], arm.get("task", {}))}
        size = arm["size"]
    if dataset == "regression":  # one model for the regression runs: size sweeps are bursty-only
        model = base["model"]
    elif size in section["sizes"]:
        model = deep_merge(base["model"], section["sizes"][size])
    else:
        raise ConfigError(f"transience.sizes: unknown size {size!r}")
    train = deep_merge(base["train"], {"weight_decay": weight_decay, "seed": seed})
    steps = train["steps"]
    task = {**base["task"], "eval_steps": log_steps(steps, section["n_eval_points"])}
    train["keep_steps"] = log_steps(steps, section["n_keep_checkpoints"], first=100)
    return make_run_config("bursty" if dataset == "bursty" else "pool_regression", task, model, train,
                      f"transience.{dataset}.model")


def transience_training(section: dict) -> list[TrainingJob]:
    """Every transience run (`transience_runs`), named `<dataset>/<size>/wd<wd>/seed<seed>`."""
    return [TrainingJob("transience", f"{dataset}/{run_tag(size, wd, seed)}",
                transience_run_params(section, dataset, size, wd, seed))
            for dataset, size, wd, seed in transience_runs(section)]


class TransiencePlan:
    """transience's jobs: a mixin of `Plan`."""

    @property
    def transience_run_dirs(self) -> list[str]:
        return [self.run_dir("transience", run) for run in self.training("transience", group=False)]

    def transience_figures(self) -> list[Figure]:
        section = self.config["transience"]
        return [
            Figure(TRANSIENCE_CURVES_FIGURE, ["results/transience/curves.csv"], "plots.transience:curves_rule",
                   {"size": section["base_size"], "arms": list(section.get("arms", {}))}),
            Figure(TRANSIENCE_PEAK_FINAL_FIGURE, ["results/transience/summary.csv"], "plots.transience:peak_final_rule"),
            Figure(TRANSIENCE_REGRESSION_FIGURE, ["results/transience/curves.csv"], "plots.transience:regression_rule",
                   {"pool_size": section["regression"]["task"]["pool_size"]}),
        ]
