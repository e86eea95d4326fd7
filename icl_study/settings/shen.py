"""The `shen:` section of the config, every key with its default (the default tier).

Study 4, do pretrained transformers learn in context by gradient descent? (Shen et al. 2023).

config.yaml and the tier files state only the choices that differ or that a reader should see;
`icl_study.settings.full_config` fills in the rest from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from icl_study.config import NAME, ranged


@dataclass(frozen=True)
class RegressionConfig:
    # demonstrations N before the query (a model skips N > its n_points - 1)
    ns: tuple[int, ...] = ranged((1, 2, 4, 7), minItems=1, minimum=1)
    n_tasks: int = ranged(500, minimum=1)  # tasks per N
    n_perms: int = ranged(8, minimum=2)  # demonstration orders per task (the first is the drawn order)
    # batch GD and the hand-built GD transformers (0.5 diverged at N = 1, 2 with 3 steps)
    gd_lr: float = ranged(0.25, exclusiveMinimum=0)
    gd_steps: int = ranged(3, minimum=1)  # steps of the multi-step GD construction and of batch GD
    sgd_lr: float = ranged(0.2, exclusiveMinimum=0)  # online SGD: one pass of per-example steps in demonstration order
    # sparsity thresholds: |w| <= tau * max|w|
    taus: tuple[float, ...] = ranged((0.0, 0.001, 0.01), minItems=1, minimum=0)
    # relative noise scales s of the perturbation
    scales: tuple[float, ...] = ranged((0.0001, 0.001, 0.01, 0.1), minItems=1, exclusiveMinimum=0)
    # noise draws per scale: the fragility claim's interval is over draws (it needs >= 20)
    n_draws: int = ranged(20, minimum=1)
    seed: int = ranged(7, minimum=0)  # tasks, permutations and noise


@dataclass(frozen=True)
class LMConfig:
    # demonstrations N (one job per model x task x N)
    ns: tuple[int, ...] = ranged((1, 4, 16), minItems=1, minimum=1)
    demo_seeds: tuple[int, ...] = ranged((0,), minItems=1, minimum=0)  # one balanced demonstration set per seed
    n_orders: int = ranged(3, minimum=2)  # ICL demonstration orders (the first two: the ICL noise floor)
    top_k: int = ranged(10, minimum=1)  # K of the top-K token overlap
    # GD learning rates, picked by the validation queries' label-word NLL (among the label words)
    lr_grid: tuple[float, ...] = ranged((1e-05, 0.0001, 0.001, 0.01), minItems=1, exclusiveMinimum=0)
    steps_grid: tuple[int, ...] = ranged((1,), minItems=1, minimum=1)  # GD epochs, picked by validation NLL with the lr
    # GD settings: 0 = all weights, n = the last n blocks only
    last_layers: tuple[int, ...] = ranged((0,), minItems=1, minimum=0)
    batch_size: int = ranged(4, minimum=0)  # GD minibatch (0 = full batch); the GD seed shuffles the minibatches, so
    # exactly two GD runs: the GD noise floor
    gd_seeds: tuple[int, ...] = ranged((0, 1), minItems=2, maxItems=2, minimum=0)
    perturb_n: int = ranged(4, minimum=1)  # demonstrations in the perturbation experiment
    # relative noise scales s
    perturb_scales: tuple[float, ...] = ranged((0.0001, 0.001, 0.01, 0.1), minItems=1, exclusiveMinimum=0)
    perturb_draws: int = ranged(1, minimum=1)  # noise draws per scale
    # text: the perturbation's queries, the first n of the evaluation subset (0 = n_queries)
    perturb_queries: int = ranged(0, minimum=0)
    # sparsity thresholds of the LM's weights
    taus: tuple[float, ...] = ranged((0.0, 0.001, 0.01), minItems=1, minimum=0)
    # text: the first n of lm.eval's evaluation subset (0 = all; every prefix is class-balanced)
    n_queries: int = ranged(40, minimum=0)
    n_val_queries: int = ranged(16, minimum=0)  # text: the first 16 of lm.eval's validation split (balanced)
    n_episodes: int = ranged(64, minimum=1)  # pipeline-gpt only: test episodes per N
    n_val_episodes: int = ranged(32, minimum=1)  # pipeline-gpt only: validation episodes per N
    ways: int = ranged(2, minimum=2)  # pipeline-gpt only: labels per episode (chance 1/2)
    seed: int = ranged(8, minimum=0)  # demonstration orders, episodes and noise


@dataclass(frozen=True)
class ShenSettings:
    # trained regression transformers: linreg runs or sweep cells (L{n}_noise{s})
    linreg_runs: tuple[str, ...] = ranged(("main", "L1_noise0", "L1_noise0_s1", "L1_noise0_s2", "L2_noise0"),
                                          minItems=1)
    tasks: tuple[str, ...] = ranged(("mr",), minItems=1)  # lm.tasks analysed with every text model of lm.models
    # {model name: [task names]}: a listed text model runs those tasks instead of `tasks`
    model_tasks: dict = field(metadata=dict(values=tuple[str, ...], names=NAME),
                              default_factory=lambda: {"gemma3-270m": [], "smollm2-135m": ["mr"]})
    # order sensitivity, sparsity and perturbation on linear regression
    regression: RegressionConfig = field(default_factory=RegressionConfig)
    # ICL vs GD on the same N demonstrations (text models; pipeline-gpt overrides below)
    lm: LMConfig = field(default_factory=LMConfig)
    # overrides of `lm` (any LMConfig key) for pipeline-gpt (0.2M parameters: larger lrs; every episode is finetuned)
    pipeline_gpt: dict = field(metadata=dict(block=LMConfig),
        default_factory=lambda: {
            "n_orders": 4,
            "lr_grid": [0.03, 0.1, 0.3, 1.0],
            "steps_grid": [1, 4],  # GD epochs (the paper tier adds 16)
            "last_layers": [0, 1],  # all weights, and the last block only
            "n_episodes": 32,
            "n_val_episodes": 16,
        }
    )
