"""The `shen:` section of the config, every key with its default (the default tier).

Study 4, do pretrained transformers learn in context by gradient descent? (Shen et al. 2023).

config.yaml and the tier files state only the choices that differ or that a reader should see;
`icl_study.settings.full_config` fills in the rest from here."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RegressionConfig:
    ns: tuple[int, ...] = (1, 2, 4, 7)  # demonstrations N before the query (a model skips N > its n_points - 1)
    n_tasks: int = 500  # tasks per N
    n_perms: int = 8  # demonstration orders per task (the first is the drawn order)
    gd_lr: float = 0.25  # batch GD and the hand-built GD transformers (0.5 diverged at N = 1, 2 with 3 steps)
    gd_steps: int = 3  # steps of the multi-step GD construction and of batch GD
    sgd_lr: float = 0.2  # online SGD: one pass of per-example steps in demonstration order
    taus: tuple[float, ...] = (0.0, 0.001, 0.01)  # sparsity thresholds: |w| <= tau * max|w|
    scales: tuple[float, ...] = (0.0001, 0.001, 0.01, 0.1)  # relative noise scales s of the perturbation
    n_draws: int = 20  # noise draws per scale: the fragility claim's interval is over draws (it needs >= 20)
    seed: int = 7  # tasks, permutations and noise


@dataclass(frozen=True)
class LMConfig:
    ns: tuple[int, ...] = (1, 2, 4, 8, 16)  # demonstrations N (one job per model x task x N)
    demo_seeds: tuple[int, ...] = (0,)  # one balanced demonstration set per seed
    n_orders: int = 3  # ICL demonstration orders (the first two: the ICL noise floor)
    top_k: int = 10  # K of the top-K token overlap
    # GD learning rates, picked by the validation queries' label-word NLL
    lr_grid: tuple[float, ...] = (1e-05, 0.0001, 0.001, 0.01)
    steps_grid: tuple[int, ...] = (1,)  # GD epochs, picked by validation NLL with the lr
    last_layers: tuple[int, ...] = (0,)  # GD settings: 0 = all weights, n = the last n blocks only
    batch_size: int = 4  # GD minibatch (0 = full batch); the GD seed shuffles the minibatches, so
    gd_seeds: tuple[int, ...] = (0, 1)  # exactly two GD runs: the GD noise floor
    perturb_n: int = 4  # demonstrations in the perturbation experiment
    perturb_scales: tuple[float, ...] = (0.0001, 0.001, 0.01, 0.1)  # relative noise scales s
    perturb_draws: int = 1  # noise draws per scale
    taus: tuple[float, ...] = (0.0, 0.001, 0.01)  # sparsity thresholds of the LM's weights
    n_queries: int = 40  # text: the first n of lm.eval's evaluation subset (0 = all; every prefix is class-balanced)
    n_val_queries: int = 16  # text: the first 16 of lm.eval's validation split (balanced)
    n_episodes: int = 64  # pipeline-gpt only: test episodes per N
    n_val_episodes: int = 32  # pipeline-gpt only: validation episodes per N
    ways: int = 2  # pipeline-gpt only: labels per episode (chance 1/2)
    seed: int = 8  # demonstration orders, episodes and noise


@dataclass(frozen=True)
class ShenSettings:
    # trained regression transformers: linreg runs or sweep cells (L{n}_noise{s})
    linreg_runs: tuple[str, ...] = ("main", "L1_noise0", "L1_noise0_s1", "L1_noise0_s2", "L2_noise0")
    tasks: tuple[str, ...] = ("mr",)  # lm.tasks analysed with every text model of lm.models
    # {model name: [task names]}: a listed text model runs those tasks instead of `tasks`
    model_tasks: dict = field(default_factory=lambda: {"gemma3-270m": [], "smollm2-135m": ["mr"]})
    # order sensitivity, sparsity and perturbation on linear regression
    regression: RegressionConfig = field(default_factory=RegressionConfig)
    # ICL vs GD on the same N demonstrations (text models; pipeline-gpt overrides below)
    lm: LMConfig = field(default_factory=LMConfig)
    # overrides of `lm` (any LMConfig key) for pipeline-gpt (0.2M parameters: larger lrs; every episode is finetuned)
    pipeline_gpt: dict = field(
        default_factory=lambda: {
            "n_orders": 4,
            "lr_grid": [0.03, 0.1, 0.3, 1.0],
            "steps_grid": [1, 4],  # GD epochs (the paper tier adds 16)
            "last_layers": [0, 1],  # all weights, and the last block only
            "n_episodes": 32,
            "n_val_episodes": 16,
        }
    )
