"""Config section `diversity` (task diversity, transient ridge, optimizer per layer): every key with
its default, and the section's own cross-checks (the pool sizes the transient and layer analyses
read must be in the grid). Torch-free."""

from __future__ import annotations

from dataclasses import dataclass, field

from icl_study.config import (MODEL_OVERRIDES, TRAIN_OVERRIDES, ConfigError, deep_merge, from_dict, model_block, ranged,
                              train_block)
from icl_study.tasks.configs import DIVERSITY_TASK


@dataclass(frozen=True)
class LayersConfig:
    pool_size: int = ranged(1024, minimum=1)  # the runs whose layers are read out (the largest M: a fresh-task learner)
    # held-out sequences the read-outs (and the algorithms' calibrations) are fitted on
    n_fit: int = ranged(2048, minimum=8)
    n_test: int = ranged(1024, minimum=2)  # sequences the SPDs are measured on
    max_newton_steps: int = ranged(16, minimum=0)  # Newton-Schulz iterations compared (0..max)
    max_gd_steps: int = ranged(256, minimum=0)  # gradient-descent steps compared (0..max)
    # the fastest-converging stable one is used
    gd_lr_grid: tuple[float, ...] = ranged((0.05, 0.1, 0.2, 0.3, 0.5), minItems=1, exclusiveMinimum=0)
    # ill-conditioned inputs: covariance eigenvalues from 1 to this (then mean 1)
    condition_spread: float = ranged(100.0, minimum=1)
    # ridge on the read-out's normal equations (relative to the mean feature power)
    readout_ridge: float = ranged(1e-6, minimum=0)
    seed: int = ranged(7, minimum=0)  # fit / test sequences (never a training batch)
    # matched step: the first whose SPD <= (1 + this) x the curve's minimum
    match_tolerance: float = ranged(0.05, minimum=0)
    # k-step Newton / GD pseudo-layers the matcher must recover (the control)
    control_newton_ks: tuple[int, ...] = ranged((1, 2, 3, 4, 6, 8), minItems=1, minimum=1)
    control_gd_ks: tuple[int, ...] = ranged((1, 2, 4, 8, 16, 32, 64), minItems=1, minimum=1)
    # linreg runs whose layers are read out (Fu et al.'s setting: noise 0, >= 6 layers; the linreg sweep's
    # seeded 8-layer noise-0 cell, already trained); () reads the diversity runs at pool_size instead
    linreg_runs: tuple[str, ...] = ("L8_noise0", "L8_noise0_s1", "L8_noise0_s2")


@dataclass(frozen=True)
class DiversityConfig:
    pool_sizes: tuple[int, ...] = ranged((4, 8, 16, 32, 64, 256, 1024), minItems=2, minimum=1)  # M grid (log 2)
    seeds: tuple[int, ...] = ranged((0, 1, 2), minItems=1, minimum=0)  # training seeds of every pool size
    # M of the transient-ridge runs (in pool_sizes; at most M*/2, a ledger gate)
    transient_pool_size: int = ranged(8, minimum=1)
    n_eval_points: int = ranged(16, minimum=1)  # log-spaced steps at which the task's evaluators are logged
    n_keep_checkpoints: int = ranged(6, minimum=1)  # log-spaced checkpoints kept by the transient-ridge runs
    # the finite-pool regression task (pool size: pool_sizes)
    task: dict = field(metadata=DIVERSITY_TASK,
        default_factory=lambda: {"n_dims": 4, "n_points": 10, "noise_std": 0.5, "w_scale": 1.0,
                                                "eval_size": 256})
    # overrides of ModelConfig's defaults for every run
    model: dict = field(metadata=MODEL_OVERRIDES,
        default_factory=lambda: model_block(n_layer=3, n_head=2, d_model=32, d_mlp=64, init="torch"))
    # overrides of TrainConfig's defaults for every run
    train: dict = field(metadata=TRAIN_OVERRIDES,
        default_factory=lambda: train_block(steps=2000, batch_size=32, lr=0.002, warmup_steps=100,
                                                            min_lr_ratio=1.0, checkpoint_every=1000, log_every=1000))
    layers: LayersConfig = LayersConfig()  # per-layer read-outs vs Newton-Schulz and GD steps


def layers_settings(section: dict | None) -> LayersConfig:
    """The `layers` sub-section as a LayersConfig (lists become tuples; missing keys: defaults)."""
    return from_dict(LayersConfig, section or {}, "diversity.layers")


def settings(section: dict | None) -> DiversityConfig:
    """The config section as a DiversityConfig; missing keys take the dataclass defaults."""
    section = dict(section or {})
    base = DiversityConfig()
    layers = layers_settings(section.pop("layers", {}))
    merged = {key: deep_merge(getattr(base, key), section.pop(key, {})) for key in ("task", "model", "train")}
    lists = {key: tuple(section.pop(key)) for key in ("pool_sizes", "seeds") if key in section}
    cfg = DiversityConfig(**{**section, **lists, **merged, "layers": layers})
    if cfg.transient_pool_size not in cfg.pool_sizes:
        raise ConfigError(f"diversity.transient_pool_size: {cfg.transient_pool_size} is not in pool_sizes {list(cfg.pool_sizes)}")
    if cfg.layers.pool_size not in cfg.pool_sizes:
        raise ConfigError(f"diversity.layers.pool_size: {cfg.layers.pool_size} is not in pool_sizes {list(cfg.pool_sizes)}")
    return cfg
