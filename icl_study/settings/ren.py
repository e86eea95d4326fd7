"""The `ren:` section of the config, every key with its default (the default tier).

Study 3, in-context learning through a representation-learning lens (Ren & Liu 2024).

config.yaml and the tier files state only the choices that differ or that a reader should see;
`icl_study.settings.full_config` fills in the rest from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from icl_study.config import MODEL, REGRESSION_TASK, TRAIN, model_block, ranged, train_block
from icl_study.settings.corpora import SMALL_CONCEPTS
from icl_study.tasks.configs import CONCEPTS_TASK


@dataclass(frozen=True)
class VariantEvalConfig:
    n_tasks: int = ranged(2000, minimum=1)  # fresh evaluation tasks per model
    seed: int = ranged(5, minimum=0)  # evaluation tasks (never a training batch)


@dataclass(frozen=True)
class RenVariantsSettings:
    # softmax first: the lens's model
    kinds: tuple[str, ...] = ranged(("softmax", "regularized", "augmented", "negative"), minItems=1,
                                    enum=("softmax", "linear", "regularized", "augmented", "negative"))
    seeds: tuple[int, ...] = ranged((0, 1, 2), minItems=1, minimum=0)  # >= 3 seeds per kind
    # the regression task of every variant
    task: dict = field(metadata=REGRESSION_TASK,
        default_factory=lambda: {
            "n_dims": 3,
            "n_points": 8,
            "noise_std": 0.0,
            "w_scale": 1.0,
            "pool_size": 0,
            "curriculum": None,
        }
    )
    # the model; the kinds' parameters (reg_alpha, aug_hidden, neg_beta) too
    model: dict = field(metadata=MODEL,
        default_factory=lambda: model_block(
            n_layer=2, n_head=2, d_model=32, d_mlp=64, init="torch", reg_alpha=0.5, aug_hidden=16, neg_beta=0.5
        )
    )
    # the training of every run
    train: dict = field(metadata=TRAIN,
        default_factory=lambda: train_block(steps=1200, lr=0.003, warmup_steps=100, checkpoint_every=1200)
    )
    eval: VariantEvalConfig = field(default_factory=VariantEvalConfig)  # test tasks of every variant


@dataclass(frozen=True)
class CorpusEvalConfig:
    ks: tuple[int, ...] = ranged((0, 1, 2, 4, 8), minItems=1, minimum=0)  # demonstrations per fresh-label episode
    n_prompts: int = ranged(1000, minimum=1)  # episodes per k
    ways: int = ranged(2, minimum=2)  # candidate labels per episode (chance error 0.5)
    seed: int = ranged(7, minimum=0)  # evaluation episodes (never a training batch)


@dataclass(frozen=True)
class RenCorpusSettings:
    # the small concept corpus (settings/corpora.py), as dai.momentum
    task: dict = field(metadata=CONCEPTS_TASK,
        default_factory=lambda: dict(SMALL_CONCEPTS))
    # as variants.model
    model: dict = field(metadata=MODEL,
        default_factory=lambda: model_block(
            n_layer=2, n_head=2, d_model=32, d_mlp=64, init="torch", reg_alpha=0.5, aug_hidden=16, neg_beta=0.5
        )
    )
    # the training of every run
    train: dict = field(metadata=TRAIN,
        default_factory=lambda: train_block(steps=650, lr=0.003, warmup_steps=50, checkpoint_every=650, log_every=50)
    )
    eval: CorpusEvalConfig = field(default_factory=CorpusEvalConfig)  # fresh-label episodes


@dataclass(frozen=True)
class LensConfig:
    n_sequences: int = ranged(32, minimum=1)  # evaluation sequences whose q, k, v are read from each layer
    # random features m
    n_features: tuple[int, ...] = ranged((8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096), minItems=2, minimum=1)
    n_draws: int = ranged(5, minimum=1)  # independent feature draws per m
    # random tokens: q, k ~ N(0, scale^2 I), v ~ N(0, I) (same shape as a layer)
    random_scale: float = ranged(0.5, exclusiveMinimum=0)
    identity_features: int = ranged(256, minimum=1)  # m for the exact dual identity (un-normalised kernel attention)
    gd_steps: int = ranged(8, minimum=1)  # GD steps on the dual loss
    # (learning rate, norm penalty alpha) per trajectory
    gd_settings: tuple[tuple[float, ...], ...] = ranged(((1.0, 0.0), (0.5, 0.0), (1.0, 0.5)), minItems=1,
                                                        items={"minItems": 2, "maxItems": 2, "minimum": 0})
    gd_features: int = ranged(4096, minimum=1)  # m for the GD trajectories
    gen_ns: tuple[int, ...] = ranged((4, 8, 16, 32, 64, 128, 256), minItems=2, minimum=1)  # demonstration tokens N
    gen_repeats: int = ranged(50, minimum=1)  # random demonstration sets per N
    # sequences whose tokens (all positions) form the token distribution
    gen_pool_sequences: int = ranged(500, minimum=1)
    gen_test_tokens: int = ranged(1000, minimum=1)  # held-out query tokens
    gen_features: int = ranged(1024, minimum=1)  # m of the dual model in the generalisation experiment
    seed: int = ranged(6, minimum=0)  # feature draws, random tokens, evaluation sequences


@dataclass(frozen=True)
class RenGridValues:
    """ren.grid.values: each kind's candidate values of its parameter."""

    regularized: tuple[float, ...] = ranged((), minimum=0, exclusiveMaximum=1)  # reg_alpha
    augmented: tuple[int, ...] = ranged((), minimum=1)  # aug_hidden
    negative: tuple[float, ...] = ()  # neg_beta


@dataclass(frozen=True)
class RenGridSettings:
    """Each variant's own parameter tuned over a small grid, every value trained with the variants'
    seeds and budget (runs "{kind}_{parameter}{value}", members "_s{seed}"); the value is picked by
    validation error, then compared with softmax on the test tasks."""

    # {kind: [values of its parameter]}: regularized reg_alpha, augmented aug_hidden, negative neg_beta
    # ({} = no grid; the value in variants.model is always among the candidates)
    values: dict = field(metadata=dict(block=RenGridValues), default_factory=dict)
    # validation tasks that pick each kind's value (never a test or training batch)
    n_val_tasks: int = ranged(1000, minimum=1)
    val_seed: int = ranged(15, minimum=0)  # seeds the validation tasks (the test tasks are variants.eval's)


@dataclass(frozen=True)
class RenSettings:
    # attention variants trained on in-context regression (run "{kind}_s{seed}")
    variants: RenVariantsSettings = field(default_factory=RenVariantsSettings)
    # the same kinds and seeds, trained on pipeline-gpt's token corpus (run "corpus_{kind}_s{seed}")
    corpus: RenCorpusSettings = field(default_factory=RenCorpusSettings)
    # kernel approximation, dual model, generalisation (on the vanilla model)
    lens: LensConfig = field(default_factory=LensConfig)
    # a grid over each variant kind's parameter, picked on validation tasks
    grid: RenGridSettings = field(default_factory=RenGridSettings)
