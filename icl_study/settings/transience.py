"""The `transience:` section of the config, every key with its default (the default tier).

Study 5, transient in-context learning (Singh et al. 2023, on Chan et al. 2022's bursty data).

config.yaml and the tier files state only the choices that differ or that a reader should see;
`icl_study.settings.full_config` fills in the rest from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from icl_study.config import MODEL, NAME, TRAIN, ModelConfig, model_block, ranged, train_block
from icl_study.tasks.configs import BURSTY_TASK, POOL_REGRESSION_TASK, BurstyTaskConfig


@dataclass(frozen=True)
class TransienceBurstySettings:
    # the task of every run
    task: dict = field(metadata=BURSTY_TASK,
        default_factory=lambda: {
            "n_classes": 512,
            "n_holdout": 64,
            "n_exemplars": 20,
            "emb_dim": 32,
            "within_class_noise": 0.1,
            "n_labels": 32,
            "zipf_exponent": 0.0,
            "p_bursty": 0.75,
            "context_len": 8,
            "bursty_shots": 3,
            "bursty_ways": 2,
            "eval_shots": 4,
            "eval_ways": 2,
            "eval_size": 512,
        }
    )
    # the model (sizes override it)
    model: dict = field(metadata=MODEL, default_factory=lambda: model_block(n_layer=2, n_head=1, d_mlp=0))
    # the training of every run
    train: dict = field(metadata=TRAIN,
        default_factory=lambda: train_block(
            steps=16000, batch_size=32, min_lr_ratio=1.0, checkpoint_every=5000, log_every=5000
        )
    )


@dataclass(frozen=True)
class TransienceRegressionSettings:
    # the task of every run: the diversity sweep's, its pool at most the measured M*/2 (diversity.transient_pool_size)
    task: dict = field(metadata=POOL_REGRESSION_TASK,
        default_factory=lambda: {
            "n_dims": 4,
            "n_points": 10,
            "noise_std": 0.5,
            "w_scale": 1.0,
            "pool_size": 8,
            "curriculum": None,
            "eval_size": 256,
        }
    )
    # the model (sizes override it): the diversity sweep's, so that its measured M* is these runs' too
    model: dict = field(metadata=MODEL, default_factory=lambda: model_block(n_layer=3, n_head=2, d_model=32, d_mlp=64))
    # the training of every run
    train: dict = field(metadata=TRAIN,
        default_factory=lambda: train_block(steps=6000, min_lr_ratio=1.0, checkpoint_every=5000, log_every=5000)
    )


# the bursty.task keys an arm may change
ARM_TASK = {"block": BurstyTaskConfig, "keys": ("p_bursty", "zipf_exponent", "within_class_noise", "bursty_shots",
                                                "bursty_ways")}


@dataclass(frozen=True)
class TransienceArm:
    """A transience arm: a size, the bursty task keys it changes, its weight decays and seeds."""

    size: str  # one of transience.sizes
    weight_decays: tuple[float, ...] = ranged(minItems=1, minimum=0)  # its weight decays
    seeds: tuple[int, ...] = ranged(minItems=1, minimum=0)  # its seeds
    task: dict = field(metadata=ARM_TASK, default_factory=dict)  # the bursty.task keys it changes


@dataclass(frozen=True)
class TransienceSettings:
    # AdamW decoupled decay (per-step shrink lr * wd; matrices only); more than one: the L2 sweep (l2.csv)
    weight_decays: tuple[float, ...] = ranged((0.0,), minItems=1, minimum=0)
    # model overrides per size name (merged over bursty.model / regression.model)
    sizes: dict = field(metadata=dict(values=ModelConfig, names=NAME, minProperties=1),
        default_factory=lambda: {"base": {"n_layer": 2}})
    base_size: str = "base"  # the size of the weight-decay sweep
    # training seeds (init and data) of the sweep above: the fading (main) arm
    seeds: tuple[int, ...] = ranged((0, 1, 2), minItems=1, minimum=0)
    # extra settings at the base size's model and budget, each with its own seeds
    arms: dict = field(metadata=dict(values=TransienceArm, names=NAME), default_factory=dict)
    # seeds of the finite-pool regression runs (the lenses pool them)
    regression_seeds: tuple[int, ...] = ranged((0, 1, 2), minItems=1, minimum=0)
    full_grid: bool = False  # true: every size x weight decay (paper tier)
    # weight decays of the finite-pool regression runs
    regression_weight_decays: tuple[float, ...] = ranged((0.0,), minimum=0)
    n_eval_points: int = ranged(30, minimum=1)  # log-spaced training steps at which every evaluator is logged
    # log-spaced checkpoints kept per run (step_XXXXXXX.pt, for analyses)
    n_keep_checkpoints: int = ranged(8, minimum=1)
    # bursty few-shot classification on synthetic embeddings
    bursty: TransienceBurstySettings = field(default_factory=TransienceBurstySettings)
    # in-context linear regression on a finite pool of tasks (Raventos et al. 2023)
    regression: TransienceRegressionSettings = field(default_factory=TransienceRegressionSettings)
