"""Config section `diversity` (task diversity, transient ridge, optimizer per layer): every key with
its default, and the section's own cross-checks (the pool sizes the transient and layer analyses
read must be in the grid). Torch-free."""

from __future__ import annotations

from dataclasses import dataclass, field

from icl_study.config import ConfigError, deep_merge, from_dict, model_block, train_block


@dataclass(frozen=True)
class LayersConfig:
    pool_size: int = 1024  # the runs whose layers are read out (the largest M: a fresh-task learner)
    n_fit: int = 2048  # held-out sequences the read-outs (and the algorithms' calibrations) are fitted on
    n_test: int = 1024  # sequences the SPDs are measured on
    max_newton_steps: int = 16  # Newton-Schulz iterations compared (0..max)
    max_gd_steps: int = 256  # gradient-descent steps compared (0..max)
    gd_lr_grid: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5)  # the fastest-converging stable one is used
    condition_spread: float = 100.0  # ill-conditioned inputs: covariance eigenvalues from 1 to this (then mean 1)
    readout_ridge: float = 1e-6  # ridge on the read-out's normal equations (relative to the mean feature power)
    seed: int = 7  # fit / test sequences (never a training batch)
    match_tolerance: float = 0.05  # matched step: the first whose SPD <= (1 + this) x the curve's minimum
    control_newton_ks: tuple[int, ...] = (1, 2, 3, 4, 6, 8)  # k-step Newton pseudo-layers the matcher must recover
    control_gd_ks: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)  # k-step GD pseudo-layers the matcher must recover
    # linreg runs whose layers are read out (Fu et al.'s setting: noise 0, >= 6 layers; the linreg sweep's
    # seeded 8-layer noise-0 cell, already trained); () reads the diversity runs at pool_size instead
    linreg_runs: tuple[str, ...] = ("L8_noise0", "L8_noise0_s1", "L8_noise0_s2")


@dataclass(frozen=True)
class DiversityConfig:
    pool_sizes: tuple[int, ...] = (4, 8, 16, 32, 64, 256, 1024)  # M grid (log 2)
    seeds: tuple[int, ...] = (0, 1, 2)
    transient_pool_size: int = 8  # M of the transient-ridge runs (in pool_sizes; at most M*/2, a ledger gate)
    n_eval_points: int = 16  # log-spaced steps at which the task's evaluators are logged
    n_keep_checkpoints: int = 6  # log-spaced checkpoints kept by the transient-ridge runs
    task: dict = field(default_factory=lambda: {"n_dims": 4, "n_points": 10, "noise_std": 0.5, "w_scale": 1.0,
                                                "eval_size": 256})
    model: dict = field(default_factory=lambda: model_block(n_layer=3, n_head=2, d_model=32, d_mlp=64, init="torch"))
    train: dict = field(default_factory=lambda: train_block(steps=2000, batch_size=32, lr=0.002, warmup_steps=100,
                                                            min_lr_ratio=1.0, checkpoint_every=1000, log_every=1000))
    layers: LayersConfig = LayersConfig()


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
