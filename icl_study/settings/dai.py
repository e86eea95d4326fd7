"""The `dai:` section of the config, every key with its default (the default tier).

Study 2, in-context learning as implicit finetuning (Dai et al. 2022).

config.yaml and the tier files state only the choices that differ or that a reader should see;
`icl_study.settings.full_config` fills in the rest from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from icl_study.config import model_block, train_block
from icl_study.settings.corpora import SMALL_CONCEPTS


@dataclass(frozen=True)
class TextAnalysisConfig:
    k: int = 4  # demonstrations (balanced over classes; 5-way: 4 of the 5)
    demo_seeds: tuple[int, ...] = (0, 1, 2)  # demonstration sets (each with its own finetuning)
    n_eval: int = 16  # test examples per task, balanced, the same for every seed
    n_val: int = 8  # validation split: picks the finetuning lr per seed
    eval_seed: int = 0  # draws the test examples and the validation split
    lr_grid: tuple[float, ...] = (0.001, 0.01)  # SGD learning rates tried on the validation split
    n_dual: int = 2  # test prompts per seed that also measure the dual form


@dataclass(frozen=True)
class ConceptsAnalysisConfig:
    k: int = 4  # demonstrations per episode
    ways: int = 2  # candidate labels per episode (chance 1/2)
    demo_seeds: tuple[int, ...] = (0, 1, 2)  # batches of episodes
    n_eval: int = 32  # episodes per seed (each its own demonstrations and finetuning)
    n_val: int = 32  # validation episodes: pick the finetuning lr per seed
    lr_grid: tuple[float, ...] = (0.01, 0.1, 1.0)  # SGD learning rates tried on the validation episodes
    n_dual: int = 2  # episodes per seed that also measure the dual form


@dataclass(frozen=True)
class DaiMomentumEvalEvalSettings:
    ks: tuple[int, ...] = (0, 1, 2, 4, 8)  # demonstrations per episode
    demo_seeds: tuple[int, ...] = (0, 1)  # batches of episodes
    n_prompts: int = 512  # episodes per (task, k, seed)
    ways: int = 2  # candidate labels (chance 1/2)


@dataclass(frozen=True)
class DaiMomentumEvalSettings:
    n_val_sequences: int = 2048  # held-out corpus sequences for the validation loss
    # ICL accuracy vs k (studies.lm's concept evaluator)
    eval: DaiMomentumEvalEvalSettings = field(default_factory=DaiMomentumEvalEvalSettings)


@dataclass(frozen=True)
class DaiMomentumSettings:
    eta: float = 0.5  # momentum_eta: decay of the moving average of earlier values
    seeds: tuple[int, ...] = (0, 1, 2)  # runs "softmax_s{seed}" and "momentum_s{seed}"
    task: dict = field(default_factory=lambda: dict(SMALL_CONCEPTS))  # the small concept corpus (settings/corpora.py)
    model: dict = field(default_factory=lambda: model_block(n_layer=2, n_head=2, d_model=32, d_mlp=64, init="torch"))
    train: dict = field(default_factory=lambda: train_block(steps=800, lr=0.003, warmup_steps=50, checkpoint_every=800))
    eval: DaiMomentumEvalSettings = field(default_factory=DaiMomentumEvalSettings)


@dataclass(frozen=True)
class DaiSettings:
    text_tasks: tuple[str, ...] = ("mr", "imdb", "sst5like")  # names in lm.tasks (a task skipped by lm is skipped here)
    # {model name: [task names]}: a listed text model runs those tasks instead of text_tasks
    model_tasks: dict = field(default_factory=lambda: {"gemma3-270m": ["mr", "sst2like"], "smollm2-135m": ["mr"]})
    concepts_tasks: tuple[str, ...] = ("concepts-fresh", "concepts-iwl")  # fresh labels (ICL only) | fixed labels
    untrained_seed: int = 0  # seeds the untrained copies' random weights
    n_boot: int = 1000  # bootstrap resamples of the test examples (95% intervals)
    text: TextAnalysisConfig = field(default_factory=TextAnalysisConfig)
    concepts: ConceptsAnalysisConfig = field(default_factory=ConceptsAnalysisConfig)
    # pipeline-gpt pretrained with softmax vs momentum attention
    momentum: DaiMomentumSettings = field(default_factory=DaiMomentumSettings)
