"""The `linreg:` section of the config, every key with its default (the default tier).

Study 1, in-context linear regression (Garg et al. 2022; Akyürek et al. 2022; von Oswald et al. 2023).

config.yaml and the tier files state only the choices that differ or that a reader should see;
`icl_study.settings.full_config` fills in the rest from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from icl_study.config import model_block, train_block


@dataclass(frozen=True)
class ErrorEvalConfig:
    n_tasks: int = 2000  # fresh evaluation tasks per model
    batch_size: int = 500  # tasks per forward pass
    n_bootstrap: int = 1000  # bootstrap resamples for the confidence bands
    seed: int = 1  # evaluation tasks use their own seed, never a training batch
    ridge_lambdas: tuple[float, ...] = (0.1, 1.0)  # ridge baselines
    gd_steps: tuple[int, ...] = (1,)  # k-step GD baselines (learning rate tuned on held-out tasks)
    gd_lr_grid: tuple[float, ...] = (0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)  # candidate GD learning rates
    knn_k: int = 3  # neighbours of the kNN baseline


@dataclass(frozen=True)
class LinregFigureSettings:
    y_max: float = 1.2  # upper limit of the error axis (null = automatic)


@dataclass(frozen=True)
class LinregSweepSettings:
    n_layer: tuple[int, ...] = (1, 2, 4, 8)  # depths L
    noise_std: tuple[float, ...] = (0.0, 0.5, 1.0)  # label noise sigma (tau = task.w_scale)
    seeds: tuple[int, ...] = (0, 1, 2)  # training seeds; the first keeps the plain name "L{n}_noise{s}"
    # cells trained with every seed (others: seeds[0] only, "1 seed, exploratory"; budget)
    seeded_noise_std: tuple[float, ...] = (0.0,)
    # the sweep's scale, merged over task/model/train above (kept small)
    overrides: dict = field(
        default_factory=lambda: {
            "task": {"n_dims": 3, "n_points": 8},
            "model": {"n_head": 2, "d_model": 32, "d_mlp": 128, "init": "torch"},
            "train": {
                "steps": 2000,
                "batch_size": 128,
                "warmup_steps": 200,
                "checkpoint_every": 1000,
                "log_every": 500,
            },
        }
    )


@dataclass(frozen=True)
class MatchingConfig:
    n_tasks: int = 1000  # fresh tasks for SPD
    n_ilwd_tasks: int = 200  # contexts for ILWD (each with n_probe_queries queries)
    n_probe_queries: int = 32  # probe queries sharing one context, to fit implicit weights (>= d)
    n_bootstrap: int = 500  # bootstrap resamples (over tasks) for the bands
    seed: int = 2  # evaluation tasks and probe queries (never a training batch)
    # extra ridge baselines (ridge with lambda = sigma^2/tau^2 is always added when sigma > 0)
    ridge_lambdas: tuple[float, ...] = (0.1, 1.0)
    gd_steps: tuple[int, ...] = (1, 3)  # k-step GD baselines, learning rate tuned on held-out tasks
    gd_lr_grid: tuple[float, ...] = (0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5)  # candidate GD learning rates
    knn_k: int = 3  # neighbours of the kNN baseline


@dataclass(frozen=True)
class ProbeConfig:
    n_train: int = 2000  # probe training sequences (a validation quarter picks the ridge lambda)
    n_test: int = 1000  # held-out sequences for R^2
    # candidate ridge penalties (on standardised features)
    ridge_lambdas: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
    mlp_hidden: int = 64  # hidden width of the one-hidden-layer MLP probe
    mlp_steps: int = 600  # full-batch Adam steps of the MLP probe
    mlp_lr: float = 0.003  # its learning rate
    seed: int = 3  # probe data, shuffles and MLP initialisation
    # context sizes k probed (k < d included; the last k, n - 1, always; k > n - 1 skipped)
    ks: tuple[int, ...] = (2, 4, 8)


@dataclass(frozen=True)
class GDCompareConfig:
    # overrides of `task` above (the LSA sees n_points - 1 pairs and one query)
    task: dict = field(default_factory=lambda: {"noise_std": 0.0})
    train: dict = field(
        default_factory=lambda: {
            "steps": 4000,
            "lr": 0.003,
            "batch_size": 256,
            "warmup_steps": 200,
            "checkpoint_every": 1000,
            "log_every": 500,
        }
    )  # overrides of `train`
    d_model: int = 10  # LSA residual width (>= d + 1; at exactly d + 1 training stalled at a lower rank)
    n_tasks: int = 2000  # evaluation tasks for the comparison
    max_steps: int = 4  # stacks of 1..max_steps GD layers are checked for exactness (float64)
    n_alphas: int = 21  # points on the weight interpolation from the construction (0) to the trained LSA (1)
    seed: int = 4  # evaluation tasks
    # training seeds of the LSA: runs gd/lsa (the first) and gd/lsa_s<seed>; the claim's interval is over them
    training_seeds: tuple[int, ...] = (0, 1, 2)


@dataclass(frozen=True)
class LinregSettings:
    runs: dict = field(default_factory=lambda: {"main": {}})
    task: dict = field(
        default_factory=lambda: {
            "n_dims": 4,
            "n_points": 12,
            "noise_std": 0.0,
            "w_scale": 1.0,
            "pool_size": 0,
            "curriculum": None,
        }
    )
    model: dict = field(default_factory=lambda: model_block(init="torch"))
    train: dict = field(
        default_factory=lambda: train_block(
            steps=5000, checkpoint_every=1000, log_every=500, precision="auto", compile=False
        )
    )
    eval: ErrorEvalConfig = field(default_factory=ErrorEvalConfig)
    figure: LinregFigureSettings = field(default_factory=LinregFigureSettings)
    # depth x noise grid: one run "L{n_layer}_noise{noise_std}" per cell, trained by linreg_train
    sweep: LinregSweepSettings = field(default_factory=LinregSweepSettings)
    # SPD / ILWD of each trained model against each reference predictor
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    # linear (ridge) and MLP probes of the residual stream at the query position
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    # hand-built GD in linear self-attention vs a trained 1-layer LSA
    gd: GDCompareConfig = field(default_factory=GDCompareConfig)
