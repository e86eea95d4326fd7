"""The linear-regression study's part of the plan (torch-free, the plan's layer): its training
runs, and `LinregPlan`, its jobs' properties, mixed into `Plan` (icl_study/plan.py) from the registry.
"""

from __future__ import annotations

from icl_study.config import deep_merge
from icl_study.plan import Figure, TrainingJob, make_run_config

# its figures' names (results/figures/<name>.png and .pdf), written here only: the claims import them
LINREG_ERROR_VS_K_FIGURE = "linreg_error_vs_k"
LINREG_MATCHING_FIGURE = "linreg_matching"
LINREG_DEPTH_NOISE_FIGURE = "linreg_depth_noise"
LINREG_PROBES_FIGURE = "linreg_probes"
LINREG_GD_FIGURE = "linreg_gd"


def lsa_model(n_dims: int, n_points: int, d_model: int | None = None) -> dict:
    """The one-layer, one-head linear self-attention on (x, y) pair tokens (von Oswald et al.):
    the hand-built GD construction's shape and the trained LSA's. d_model defaults to d + 1."""
    return {"n_layer": 1, "n_head": 1, "d_model": d_model or n_dims + 1, "d_mlp": 0, "n_positions": n_points,
            "attention": "linear", "layer_norm": False, "n_dims_in": n_dims + 1, "n_dims_out": 1,
            "positions": "none"}


def sweep_runs(sweep: dict | None) -> dict[str, dict]:
    """{"L{n_layer}_noise{noise_std}[_s{seed}]": overrides} for each cell (and seed) of a depth x noise sweep.

    Each cell is the sweep's own `overrides` (its scale) with model.n_layer and task.noise_std set,
    so `--configfile` widening the two lists widens the sweep without code changes. The first of
    `seeds` keeps the plain cell name (other studies, e.g. shen, read those checkpoints); the cells
    at a noise level in `seeded_noise_std` also train every further seed as "<cell>_s{seed}".
    """
    if not sweep:
        return {}
    seeds = sweep.get("seeds", [0])
    seeded = sweep.get("seeded_noise_std", sweep["noise_std"])
    runs = {}
    for n_layer in sweep["n_layer"]:
        for noise_std in sweep["noise_std"]:
            cell = f"L{n_layer}_noise{noise_std:g}"
            for i, seed in enumerate(seeds if noise_std in seeded else seeds[:1]):
                runs[cell if i == 0 else f"{cell}_s{seed}"] = deep_merge(
                    sweep["overrides"],
                    {"model": {"n_layer": n_layer}, "task": {"noise_std": noise_std}, "train": {"seed": seed}},
                )
    return runs


def linreg_runs(section: dict) -> list[TrainingJob]:
    """Every named run and sweep cell (task/model/train with the run's overrides), and the
    1-layer linear self-attention of linreg.gd on pair tokens ("gd/lsa")."""
    base = {key: section[key] for key in ("task", "model", "train")}
    runs = []
    for name, overrides in {**section["runs"], **sweep_runs(section.get("sweep"))}.items():
        merged = deep_merge(base, overrides)
        runs.append(TrainingJob("linreg", name, make_run_config("regression", merged["task"], merged["model"], merged["train"], "linreg.model")))
    gd = section["gd"]
    task = deep_merge(section["task"], gd["task"])
    # torch init: at GPT-2's N(0, 0.02) the product of six small matrices barely moves
    model = {**lsa_model(task["n_dims"], task["n_points"], gd["d_model"]), "vocab_size": 0, "init": "torch"}
    seeds = gd.get("training_seeds", [0])
    train = deep_merge(section["train"], gd["train"])
    return runs + [TrainingJob("linreg", lsa_run_name(seed, seeds), make_run_config("regression_pairs", task, model,
                                                                       {**train, "seed": seed}, "linreg.gd"), runtime=30)
                   for seed in seeds]


def lsa_run_name(seed: int, seeds) -> str:
    """The trained LSA of one training seed: gd/lsa for the first seed, gd/lsa_s<seed> for the others."""
    return "gd/lsa" if seed == list(seeds)[0] else f"gd/lsa_s{seed}"


class LinregPlan:
    """linreg's jobs: a mixin of `Plan` (self.config, self.training, ...)."""

    @property
    def linreg_sweep_runs(self) -> list[str]:
        return list(sweep_runs(self.config["linreg"]["sweep"]))

    @property
    def linreg_lsa_runs(self) -> list[str]:
        """The trained LSA of every linreg.gd.training_seeds, the first seed's (gd/lsa) first."""
        seeds = self.config["linreg"]["gd"].get("training_seeds", [0])
        return [lsa_run_name(seed, seeds) for seed in seeds]

    @property
    def linreg_matching_runs(self) -> list[str]:
        """Every named run, then every seed of the sweep's lowest-noise cells."""
        section = self.config["linreg"]
        low = f"_noise{min(section['sweep']['noise_std']):g}"
        return list(section["runs"]) + [run for run in self.linreg_sweep_runs if run.rsplit("_s", 1)[0].endswith(low)]

    def linreg_figures(self) -> list[Figure]:
        section = self.config["linreg"]
        gd = {name: f"results/linreg/gd/{name}.csv" for name in ("summary", "interpolation", "predictions", "exactness")}
        return [
            Figure(LINREG_ERROR_VS_K_FIGURE, ["results/linreg/errors.csv"], "plots.linreg:error_vs_k_rule",
                   {**section["figure"], "n_dims": section["task"]["n_dims"]}),
            Figure(LINREG_MATCHING_FIGURE, [f"results/linreg/{run}/matching.csv" for run in self.linreg_matching_runs],
                   "plots.linreg_algorithms:matching_rule"),
            Figure(LINREG_DEPTH_NOISE_FIGURE, ["results/linreg/sweep_summary.csv"], "plots.linreg_algorithms:depth_noise_rule"),
            # named runs + the sweep's σ = 0 cells, every seed
            Figure(LINREG_PROBES_FIGURE, [f"results/linreg/{run}/probes.csv" for run in self.linreg_matching_runs],
                   "plots.linreg_algorithms:probes_rule"),
            Figure(LINREG_GD_FIGURE, gd, "plots.linreg_algorithms:gd_rule"),
        ]
