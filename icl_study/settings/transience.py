"""The `transience:` section of the config, every key with its default (the default tier).

Study 5, transient in-context learning (Singh et al. 2023, on Chan et al. 2022's bursty data).

config.yaml and the tier files state only the choices that differ or that a reader should see;
`icl_study.settings.full_config` fills in the rest from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from icl_study.config import model_block, train_block


@dataclass(frozen=True)
class TransienceBurstySettings:
    task: dict = field(
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
    model: dict = field(default_factory=lambda: model_block(n_layer=2, n_head=1, d_mlp=0))
    train: dict = field(
        default_factory=lambda: train_block(
            steps=16000, batch_size=32, min_lr_ratio=1.0, checkpoint_every=5000, log_every=5000
        )
    )


@dataclass(frozen=True)
class TransienceRegressionSettings:
    task: dict = field(
        default_factory=lambda: {
            "n_dims": 4,
            "n_points": 8,
            "noise_std": 0.5,
            "w_scale": 1.0,
            "pool_size": 32,
            "curriculum": None,
            "eval_size": 256,
        }
    )
    model: dict = field(default_factory=lambda: model_block(n_layer=2))
    train: dict = field(
        default_factory=lambda: train_block(steps=6000, min_lr_ratio=1.0, checkpoint_every=5000, log_every=5000)
    )


@dataclass(frozen=True)
class TransienceSettings:
    # AdamW decoupled decay (per-step shrink lr * wd; matrices only); more than one: the L2 sweep (l2.csv)
    weight_decays: tuple[float, ...] = (0.0,)
    # model overrides per size name (merged over bursty.model / regression.model)
    sizes: dict = field(default_factory=lambda: {"base": {"n_layer": 2}})
    base_size: str = "base"  # the size of the weight-decay sweep
    seeds: tuple[int, ...] = (0, 1, 2)  # training seeds (init and data) of the sweep above: the fading (main) arm
    # extra settings at the base size's model and budget, each with its own seeds
    arms: dict = field(
        default_factory=lambda: {
            "pb1": {"size": "base", "task": {"p_bursty": 1.0}, "weight_decays": [0.0], "seeds": [0, 1, 2]}
        }
    )
    regression_seeds: tuple[int, ...] = (0, 1, 2)  # seeds of the finite-pool regression runs (the lenses pool them)
    full_grid: bool = False  # true: every size x weight decay (paper tier)
    regression_weight_decays: tuple[float, ...] = (0.0,)  # weight decays of the finite-pool regression runs
    n_eval_points: int = 30  # log-spaced training steps at which every evaluator is logged
    n_keep_checkpoints: int = 8  # log-spaced checkpoints kept per run (step_XXXXXXX.pt, for analyses)
    # bursty few-shot classification on synthetic embeddings
    bursty: TransienceBurstySettings = field(default_factory=TransienceBurstySettings)
    # in-context linear regression on a finite pool of tasks (Raventos et al. 2023)
    regression: TransienceRegressionSettings = field(default_factory=TransienceRegressionSettings)
