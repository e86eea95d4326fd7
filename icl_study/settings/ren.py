"""The `ren:` section of the config, every key with its default (the default tier).

Study 3, in-context learning through a representation-learning lens (Ren & Liu 2024).

config.yaml and the tier files state only the choices that differ or that a reader should see;
`icl_study.settings.full_config` fills in the rest from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from icl_study.config import model_block, train_block
from icl_study.settings.corpora import SMALL_CONCEPTS


@dataclass(frozen=True)
class VariantEvalConfig:
    n_tasks: int = 2000  # fresh evaluation tasks per model
    seed: int = 5  # evaluation tasks (never a training batch)


@dataclass(frozen=True)
class RenVariantsSettings:
    kinds: tuple[str, ...] = ("softmax", "regularized", "augmented", "negative")  # softmax first: the lens's model
    seeds: tuple[int, ...] = (0, 1, 2)  # >= 3 seeds per kind
    task: dict = field(
        default_factory=lambda: {
            "n_dims": 3,
            "n_points": 8,
            "noise_std": 0.0,
            "w_scale": 1.0,
            "pool_size": 0,
            "curriculum": None,
        }
    )
    model: dict = field(
        default_factory=lambda: model_block(
            n_layer=2, n_head=2, d_model=32, d_mlp=64, init="torch", reg_alpha=0.5, aug_hidden=16, neg_beta=0.5
        )
    )
    train: dict = field(
        default_factory=lambda: train_block(steps=1200, lr=0.003, warmup_steps=100, checkpoint_every=1200)
    )
    eval: VariantEvalConfig = field(default_factory=VariantEvalConfig)


@dataclass(frozen=True)
class CorpusEvalConfig:
    ks: tuple[int, ...] = (0, 1, 2, 4, 8)  # demonstrations per fresh-label episode
    n_prompts: int = 1000  # episodes per k
    ways: int = 2  # candidate labels per episode (chance error 0.5)
    seed: int = 7  # evaluation episodes (never a training batch)


@dataclass(frozen=True)
class RenCorpusSettings:
    task: dict = field(default_factory=lambda: dict(SMALL_CONCEPTS))  # the small concept corpus (settings/corpora.py), as dai.momentum
    model: dict = field(
        default_factory=lambda: model_block(
            n_layer=2, n_head=2, d_model=32, d_mlp=64, init="torch", reg_alpha=0.5, aug_hidden=16, neg_beta=0.5
        )
    )
    train: dict = field(
        default_factory=lambda: train_block(steps=650, lr=0.003, warmup_steps=50, checkpoint_every=650, log_every=50)
    )
    eval: CorpusEvalConfig = field(default_factory=CorpusEvalConfig)


@dataclass(frozen=True)
class LensConfig:
    n_sequences: int = 32  # evaluation sequences whose q, k, v are read from each layer
    n_features: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)  # random features m
    n_draws: int = 5  # independent feature draws per m
    random_scale: float = 0.5  # random tokens: q, k ~ N(0, scale^2 I), v ~ N(0, I) (same shape as a layer)
    identity_features: int = 256  # m for the exact dual identity (un-normalised kernel attention)
    gd_steps: int = 8  # GD steps on the dual loss
    # (learning rate, norm penalty alpha) per trajectory
    gd_settings: tuple[tuple[float, ...], ...] = ((1.0, 0.0), (0.5, 0.0), (1.0, 0.5))
    gd_features: int = 4096  # m for the GD trajectories
    gen_ns: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256)  # demonstration tokens N
    gen_repeats: int = 50  # random demonstration sets per N
    gen_pool_sequences: int = 500  # sequences whose tokens (all positions) form the token distribution
    gen_test_tokens: int = 1000  # held-out query tokens
    gen_features: int = 1024  # m of the dual model in the generalisation experiment
    seed: int = 6  # feature draws, random tokens, evaluation sequences


@dataclass(frozen=True)
class RenGridSettings:
    """Each variant's own parameter tuned over a small grid, every value trained with the variants'
    seeds and budget (runs "{kind}_{parameter}{value}", members "_s{seed}"); the value is picked by
    validation error, then compared with softmax on the test tasks."""

    # {kind: [values of its parameter]}: regularized reg_alpha, augmented aug_hidden, negative neg_beta
    # ({} = no grid; the value in variants.model is always among the candidates)
    values: dict = field(default_factory=dict)
    n_val_tasks: int = 1000  # validation tasks that pick each kind's value (never a test or training batch)
    val_seed: int = 15  # seeds the validation tasks (the test tasks are variants.eval's)


@dataclass(frozen=True)
class RenSettings:
    variants: RenVariantsSettings = field(default_factory=RenVariantsSettings)
    # the same kinds and seeds, trained on pipeline-gpt's token corpus (run "corpus_{kind}_s{seed}")
    corpus: RenCorpusSettings = field(default_factory=RenCorpusSettings)
    # kernel approximation, dual model, generalisation (on the vanilla model)
    lens: LensConfig = field(default_factory=LensConfig)
    grid: RenGridSettings = field(default_factory=RenGridSettings)
