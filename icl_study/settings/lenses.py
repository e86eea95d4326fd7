"""The `lenses:` section of the config, every key with its default (the default tier).

Across papers: every lens on the same checkpoints, over training time.

config.yaml and the tier files state only the choices that differ or that a reader should see;
`icl_study.settings.full_config` fills in the rest from here."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SpdConfig:
    n_tasks: int = 500  # fresh tasks
    gd_lr_grid: tuple[float, ...] = (0.1, 0.3, 0.5, 1.0)  # one-step GD learning rates (best on held-out tasks)


@dataclass(frozen=True)
class ProbeConfig:
    n_train: int = 512  # probe training sequences
    n_test: int = 256  # held-out sequences
    ridge_lambdas: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)  # picked on a validation quarter of the training set


@dataclass(frozen=True)
class DaiConfig:
    n_episodes: int = 64  # episodes, each finetuned on its own demonstrations
    lr: float = 0.01  # SGD learning rate on the key/value projections (batch 1, one epoch)
    untrained_seed: int = 0  # initialisation of the untrained control (same shape)


@dataclass(frozen=True)
class DualConfig:
    n_sequences: int = 128  # episodes
    n_features: int = 1024  # m positive random features


@dataclass(frozen=True)
class OrderConfig:
    n_episodes: int = 256  # episodes
    n_perms: int = 8  # demonstration orders per episode


@dataclass(frozen=True)
class LensesSettings:
    families: dict = field(
        default_factory=lambda: {
            "bursty": {
                "run": "base/wd0",
                "seeds": [0, 1, 2],
                "steps": [],
                "lenses": ["evaluators", "dai", "dual", "order"],
            },
            "regression": {
                "run": "pool/wd0",
                "seeds": [0, 1, 2],
                "steps": [],
                "lenses": ["evaluators", "spd", "probe", "dai", "dual", "order"],
            },
            # the diversity study's transient-ridge runs (M = diversity.transient_pool_size)
            "transient_ridge": {
                "study": "diversity",
                "run": "M8",
                "seeds": [0, 1, 2],
                "steps": [],
                "lenses": ["evaluators", "spd", "probe", "dai", "dual", "order"],
            },
        }
    )
    n_boot: int = 500  # bootstrap resamples of episodes/tasks (95% intervals)
    seed: int = 11  # episodes, tasks, permutations and random features of every lens
    spd: SpdConfig = field(default_factory=SpdConfig)  # Study 1: squared prediction difference at the query
    # Study 1: ridge probe R² of Xᵀy and w_OLS at the query, best layer
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    dai: DaiConfig = field(default_factory=DaiConfig)  # Study 2: SimAOU and Kendall tau, ICL vs matched finetuning
    # Study 3: attention output vs its kernel dual model, per layer
    dual: DualConfig = field(default_factory=DualConfig)
    order: OrderConfig = field(default_factory=OrderConfig)  # Study 4: order sensitivity of the ICL prediction
