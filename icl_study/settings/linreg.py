"""The `linreg:` section of the config, every key with its default (the default tier).

Study 1, in-context linear regression (Garg et al. 2022; Akyürek et al. 2022; von Oswald et al. 2023).

config.yaml and the tier files state only the choices that differ or that a reader should see;
`icl_study.settings.full_config` fills in the rest from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from icl_study.config import (MODEL, MODEL_OVERRIDES, NAME, REGRESSION_TASK, REGRESSION_TASK_OVERRIDES, TRAIN,
                              TRAIN_OVERRIDES, model_block, ranged, train_block)


@dataclass(frozen=True)
class LinregRunOverrides:
    """A linreg run's (or the sweep's) overrides of the study's task, model and train blocks."""

    task: dict = field(metadata=REGRESSION_TASK_OVERRIDES, default_factory=dict)  # overrides of the task block
    model: dict = field(metadata=MODEL_OVERRIDES, default_factory=dict)  # overrides of the model block
    train: dict = field(metadata=TRAIN_OVERRIDES, default_factory=dict)  # overrides of the train block


@dataclass(frozen=True)
class ErrorEvalConfig:
    n_tasks: int = ranged(2000, minimum=1)  # fresh evaluation tasks per model
    batch_size: int = ranged(500, minimum=1)  # tasks per forward pass
    n_bootstrap: int = ranged(1000, minimum=1)  # bootstrap resamples for the confidence bands
    seed: int = ranged(1, minimum=0)  # evaluation tasks use their own seed, never a training batch
    ridge_lambdas: tuple[float, ...] = ranged((0.1, 1.0), exclusiveMinimum=0)  # ridge baselines
    # k-step GD baselines (learning rate tuned on held-out tasks)
    gd_steps: tuple[int, ...] = ranged((1,), minItems=1, minimum=1)
    # candidate GD learning rates
    gd_lr_grid: tuple[float, ...] = ranged((0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0), minItems=1, exclusiveMinimum=0)
    knn_k: int = ranged(3, minimum=1)  # neighbours of the kNN baseline


@dataclass(frozen=True)
class LinregFigureSettings:
    y_max: float | None = ranged(1.2, exclusiveMinimum=0)  # upper limit of the error axis (null = automatic)


@dataclass(frozen=True)
class LinregSweepSettings:
    n_layer: tuple[int, ...] = ranged((1, 2, 4, 8), minItems=1, minimum=1)  # depths L
    # label noise sigma (tau = task.w_scale)
    noise_std: tuple[float, ...] = ranged((0.0, 0.5, 1.0), minItems=1, minimum=0)
    # training seeds; the first keeps the plain name "L{n}_noise{s}"
    seeds: tuple[int, ...] = ranged((0, 1, 2), minItems=1, minimum=0)
    # cells trained with every seed (others: seeds[0] only, "1 seed, exploratory"; budget)
    seeded_noise_std: tuple[float, ...] = ranged((0.0,), minimum=0)
    # the sweep's scale, merged over task/model/train above (kept small)
    overrides: dict = field(metadata=dict(block=LinregRunOverrides),
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
    n_tasks: int = ranged(1000, minimum=1)  # fresh tasks for SPD
    n_ilwd_tasks: int = ranged(200, minimum=1)  # contexts for ILWD (each with n_probe_queries queries)
    n_probe_queries: int = ranged(32, minimum=1)  # probe queries sharing one context, to fit implicit weights (>= d)
    n_bootstrap: int = ranged(500, minimum=1)  # bootstrap resamples (over tasks) for the bands
    seed: int = ranged(2, minimum=0)  # evaluation tasks and probe queries (never a training batch)
    # extra ridge baselines (ridge with lambda = sigma^2/tau^2 is always added when sigma > 0)
    ridge_lambdas: tuple[float, ...] = ranged((0.1, 1.0), exclusiveMinimum=0)
    # k-step GD baselines, learning rate tuned on held-out tasks
    gd_steps: tuple[int, ...] = ranged((1, 3), minItems=1, minimum=1)
    # candidate GD learning rates
    gd_lr_grid: tuple[float, ...] = ranged((0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5), minItems=1, exclusiveMinimum=0)
    knn_k: int = ranged(3, minimum=1)  # neighbours of the kNN baseline


@dataclass(frozen=True)
class LinregProbeConfig:
    n_train: int = ranged(2000, minimum=8)  # probe training sequences (a validation quarter picks the ridge lambda)
    n_test: int = ranged(1000, minimum=2)  # held-out sequences for R^2
    # candidate ridge penalties (on standardised features)
    ridge_lambdas: tuple[float, ...] = ranged((0.001, 0.01, 0.1, 1.0, 10.0, 100.0), minItems=1, exclusiveMinimum=0)
    mlp_hidden: int = ranged(64, minimum=1)  # hidden width of the one-hidden-layer MLP probe
    mlp_steps: int = ranged(600, minimum=1)  # full-batch Adam steps of the MLP probe
    mlp_lr: float = ranged(0.003, exclusiveMinimum=0)  # its learning rate
    seed: int = ranged(3, minimum=0)  # probe data, shuffles and MLP initialisation
    # context sizes k probed (k < d included; the last k, n - 1, always; k > n - 1 skipped)
    ks: tuple[int, ...] = ranged((2, 4, 8), minimum=1)


@dataclass(frozen=True)
class GDCompareConfig:
    # overrides of `task` above (the LSA sees n_points - 1 pairs and one query)
    task: dict = field(metadata=REGRESSION_TASK_OVERRIDES, default_factory=lambda: {"noise_std": 0.0})
    train: dict = field(metadata=TRAIN_OVERRIDES,
        default_factory=lambda: {
            "steps": 4000,
            "lr": 0.003,
            "batch_size": 256,
            "warmup_steps": 200,
            "checkpoint_every": 1000,
            "log_every": 500,
        }
    )  # overrides of `train`
    # LSA residual width (>= d + 1; at exactly d + 1 training stalled at a lower rank)
    d_model: int = ranged(10, minimum=2)
    n_tasks: int = ranged(2000, minimum=2)  # evaluation tasks for the comparison
    max_steps: int = ranged(4, minimum=1)  # stacks of 1..max_steps GD layers are checked for exactness (float64)
    # points on the weight interpolation from the construction (0) to the trained LSA (1)
    n_alphas: int = ranged(21, minimum=2)
    seed: int = ranged(4, minimum=0)  # evaluation tasks
    # training seeds of the LSA: runs gd/lsa (the first) and gd/lsa_s<seed>; the claim's interval is over them
    training_seeds: tuple[int, ...] = ranged((0, 1, 2), minItems=1, minimum=0)


@dataclass(frozen=True)
class LinregSettings:
    # runs by name, each with its overrides of task, model and train below
    runs: dict = field(metadata=dict(values=LinregRunOverrides, names=NAME, minProperties=1),
        default_factory=lambda: {"main": {}})
    # the regression task of every run (Garg et al.)
    task: dict = field(metadata=REGRESSION_TASK,
        default_factory=lambda: {
            "n_dims": 4,
            "n_points": 12,
            "noise_std": 0.0,
            "w_scale": 1.0,
            "pool_size": 0,
            "curriculum": None,
        }
    )
    model: dict = field(metadata=MODEL, default_factory=lambda: model_block(init="torch"))  # the model of every run
    # the training of every run
    train: dict = field(metadata=TRAIN,
        default_factory=lambda: train_block(
            steps=5000, checkpoint_every=1000, log_every=500, precision="auto", compile=False
        )
    )
    eval: ErrorEvalConfig = field(default_factory=ErrorEvalConfig)  # error vs context length, against the baselines
    figure: LinregFigureSettings = field(default_factory=LinregFigureSettings)  # the error-vs-k figure
    # depth x noise grid: one run "L{n_layer}_noise{noise_std}" per cell, trained by linreg_train
    sweep: LinregSweepSettings = field(default_factory=LinregSweepSettings)
    # SPD / ILWD of each trained model against each reference predictor
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    # linear (ridge) and MLP probes of the residual stream at the query position
    probe: LinregProbeConfig = field(default_factory=LinregProbeConfig)
    # hand-built GD in linear self-attention vs a trained 1-layer LSA
    gd: GDCompareConfig = field(default_factory=GDCompareConfig)
