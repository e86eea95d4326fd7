"""The task-diversity study's part of the plan (torch-free, the plan's layer): its seed groups, and
`DiversityPlan`, its jobs' properties, mixed into `Plan`.
"""

from __future__ import annotations

from functools import cached_property

from icl_study.config import ConfigError
from icl_study.plan import Figure, TrainingJob, log_steps, make_run_config

# its figures' names (results/figures/<name>.png and .pdf), written here only: the claims import them
DIVERSITY_THRESHOLD_FIGURE = "diversity_threshold"
DIVERSITY_TRANSIENT_FIGURE = "diversity_transient"
DIVERSITY_LAYERS_FIGURE = "diversity_layers"

DIVERSITY_TABLES = {name: f"results/diversity/{name}.csv" for name in ("sweep", "threshold", "transient", "layers", "query")}


def diversity_runs(section: dict) -> list[TrainingJob]:
    """One seed group per pool size M, all at one budget, into M<M>/seed<seed>; log-spaced
    evaluator steps, and kept checkpoints for the transient-ridge runs (M = transient_pool_size).
    The section's defaults live in settings/diversity.py's DiversityConfig."""
    from icl_study.settings.diversity import settings

    cfg = settings(section)
    steps = cfg.train["steps"]
    runs = []
    for pool_size in cfg.pool_sizes:
        task = {**cfg.task, "pool_size": pool_size, "eval_steps": log_steps(steps, cfg.n_eval_points)}
        keep = log_steps(steps, cfg.n_keep_checkpoints, first=20) if pool_size == cfg.transient_pool_size else []
        config = make_run_config("pool_regression", task, cfg.model, {**cfg.train, "keep_steps": keep}, "diversity.model")
        runs.append(TrainingJob("diversity", f"M{pool_size}", config, tuple(cfg.seeds), runtime=30, member="{name}/seed{seed}"))
    return runs


class DiversityPlan:
    """diversity's jobs: a mixin of `Plan`."""

    @cached_property
    def diversity_settings(self):
        from icl_study.settings.diversity import settings

        return settings(self.config.get("diversity"))

    @property
    def diversity_metrics(self) -> list[str]:
        return [f"{self.run_dir('diversity', m)}/train_metrics.csv" for m in self.run_names("diversity")]

    @property
    def diversity_layers_models(self) -> list[str]:
        """The models whose layers are read out: layers.linreg_runs (noise 0, deep) when set, else
        every seed at layers.pool_size."""
        layers = self.diversity_settings.layers
        if layers.linreg_runs:
            known = set(self.run_names("linreg"))
            missing = [name for name in layers.linreg_runs if name not in known]
            if missing:
                raise ConfigError(f"diversity.layers.linreg_runs: {missing} are not linreg runs")
            return [f"{self.run_dir('linreg', name)}/model.pt" for name in layers.linreg_runs]
        run = self.training("diversity", group=True)[f"M{layers.pool_size}"]
        return [f"{self.run_dir('diversity', m)}/model.pt" for m in run.members]

    def diversity_figures(self) -> list[Figure]:
        """Three figures, each from every table of the study."""
        tables = {**{name: DIVERSITY_TABLES[name] for name in ("sweep", "threshold", "transient", "layers")},
                  "spd": "results/diversity/layers_spd.csv"}
        return [Figure(figure, tables, f"plots.diversity:{figure.removeprefix('diversity_')}_rule")
                for figure in (DIVERSITY_THRESHOLD_FIGURE, DIVERSITY_TRANSIENT_FIGURE, DIVERSITY_LAYERS_FIGURE)]
