"""The `lenses:` section of the config, every key with its default (the default tier).

Across papers: every lens on the same checkpoints, over training time.

config.yaml and the tier files state only the choices that differ or that a reader should see;
`icl_study.settings.full_config` fills in the rest from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from icl_study.config import ranged


@dataclass(frozen=True)
class SpdConfig:
    n_tasks: int = ranged(500, minimum=1)  # fresh tasks
    # one-step GD learning rates (best on held-out tasks)
    gd_lr_grid: tuple[float, ...] = ranged((0.1, 0.3, 0.5, 1.0), minItems=1, exclusiveMinimum=0)


@dataclass(frozen=True)
class ProbeLensConfig:
    n_train: int = ranged(512, minimum=8)  # probe training sequences
    n_test: int = ranged(256, minimum=2)  # held-out sequences
    # picked on a validation quarter of the training set
    ridge_lambdas: tuple[float, ...] = ranged((0.01, 0.1, 1.0, 10.0), minItems=1, exclusiveMinimum=0)


@dataclass(frozen=True)
class DaiConfig:
    n_episodes: int = ranged(64, minimum=1)  # episodes, each finetuned on its own demonstrations
    lr: float = ranged(0.01, exclusiveMinimum=0)  # SGD learning rate on the key/value projections (batch 1, one epoch)
    untrained_seed: int = ranged(0, minimum=0)  # initialisation of the untrained control (same shape)


@dataclass(frozen=True)
class DualConfig:
    n_sequences: int = ranged(128, minimum=1)  # episodes
    n_features: int = ranged(1024, minimum=1)  # m positive random features


@dataclass(frozen=True)
class OrderConfig:
    n_episodes: int = ranged(256, minimum=1)  # episodes
    n_perms: int = ranged(8, minimum=2)  # demonstration orders per episode


@dataclass(frozen=True)
class LensFamily:
    """One entry of lenses.families: a run of transience or diversity, read by the lenses."""

    # transience: <size or arm>/wd<decay>; diversity: M<pool size>
    run: str = ranged(pattern="^[A-Za-z0-9_.-]+(/wd[0-9.e+-]+)?$")
    seeds: tuple[int, ...] = ranged(minItems=1, minimum=0)  # the run's seeds
    steps: tuple[int, ...] = ranged(minimum=1)  # checkpoints read ([] = every kept one)
    # the lenses applied
    lenses: tuple[str, ...] = ranged(enum=("evaluators", "spd", "probe", "dai", "dual", "order"))
    study: str = ranged("transience", enum=("transience", "diversity"))  # whose run


@dataclass(frozen=True)
class LensesSettings:
    # by name (the {family} wildcard): each a run of transience or diversity
    families: dict = field(metadata=dict(values=LensFamily, names="^[A-Za-z0-9_]+$"),
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
    n_boot: int = ranged(500, minimum=1)  # bootstrap resamples of episodes/tasks (95% intervals)
    seed: int = ranged(11, minimum=0)  # episodes, tasks, permutations and random features of every lens
    spd: SpdConfig = field(default_factory=SpdConfig)  # Study 1: squared prediction difference at the query
    # Study 1: ridge probe R² of Xᵀy and w_OLS at the query, best layer
    probe: ProbeLensConfig = field(default_factory=ProbeLensConfig)
    dai: DaiConfig = field(default_factory=DaiConfig)  # Study 2: SimAOU and Kendall tau, ICL vs matched finetuning
    # Study 3: attention output vs its kernel dual model, per layer
    dual: DualConfig = field(default_factory=DualConfig)
    order: OrderConfig = field(default_factory=OrderConfig)  # Study 4: order sensitivity of the ICL prediction
