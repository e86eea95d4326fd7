"""The `dai:` section of the config, every key with its default (the default tier).

Study 2, in-context learning as implicit finetuning (Dai et al. 2022).

config.yaml and the tier files state only the choices that differ or that a reader should see;
`icl_study.settings.full_config` fills in the rest from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from icl_study.config import MODEL, NAME, TRAIN, model_block, ranged, train_block
from icl_study.settings.corpora import SMALL_CONCEPTS
from icl_study.tasks.configs import CONCEPTS_TASK


@dataclass(frozen=True)
class TextAnalysisConfig:
    k: int = ranged(4, minimum=1)  # demonstrations (balanced over classes; 5-way: 4 of the 5)
    # demonstration sets (each with its own finetuning)
    demo_seeds: tuple[int, ...] = ranged((0, 1, 2), minItems=1, minimum=0)
    n_eval: int = ranged(16, minimum=1)  # test examples per task, balanced, the same for every seed
    n_val: int = ranged(8, minimum=1)  # validation split: picks the finetuning lr per seed
    eval_seed: int = ranged(0, minimum=0)  # draws the test examples and the validation split
    # SGD learning rates tried on the validation split (1e-3 and up collapse Gemma's and SmolLM2's
    # answers onto one label word; configs/lm_power.yaml widens the grid)
    lr_grid: tuple[float, ...] = ranged((3e-05, 0.0001), minItems=1, exclusiveMinimum=0)
    n_dual: int = ranged(2, minimum=0)  # test prompts per seed that also measure the dual form


@dataclass(frozen=True)
class ConceptsAnalysisConfig:
    k: int = ranged(4, minimum=1)  # demonstrations per episode
    ways: int = ranged(2, minimum=2)  # candidate labels per episode (chance 1/2)
    demo_seeds: tuple[int, ...] = ranged((0, 1, 2), minItems=1, minimum=0)  # batches of episodes
    n_eval: int = ranged(32, minimum=1)  # episodes per seed (each its own demonstrations and finetuning)
    n_val: int = ranged(32, minimum=1)  # validation episodes: pick the finetuning lr per seed
    # SGD learning rates tried on the validation episodes
    lr_grid: tuple[float, ...] = ranged((0.01, 0.1, 1.0), minItems=1, exclusiveMinimum=0)
    n_dual: int = ranged(2, minimum=0)  # episodes per seed that also measure the dual form


@dataclass(frozen=True)
class DaiMomentumEvalEvalSettings:
    ks: tuple[int, ...] = ranged((0, 1, 2, 4, 8), minItems=1, minimum=0)  # demonstrations per episode
    demo_seeds: tuple[int, ...] = ranged((0, 1), minItems=1, minimum=0)  # batches of episodes
    n_prompts: int = ranged(512, minimum=1)  # episodes per (task, k, seed)
    ways: int = ranged(2, minimum=2)  # candidate labels (chance 1/2)


@dataclass(frozen=True)
class DaiMomentumEvalSettings:
    n_val_sequences: int = ranged(2048, minimum=1)  # held-out corpus sequences for the validation loss
    # ICL accuracy vs k (studies.lm's concept evaluator)
    eval: DaiMomentumEvalEvalSettings = field(default_factory=DaiMomentumEvalEvalSettings)


@dataclass(frozen=True)
class DaiMomentumSettings:
    # momentum_eta: decay of the moving average of earlier values
    eta: float = ranged(0.5, minimum=0, exclusiveMaximum=1)
    seeds: tuple[int, ...] = ranged((0, 1, 2), minItems=1, minimum=0)  # runs "softmax_s{seed}" and "momentum_s{seed}"
    # the small concept corpus (settings/corpora.py)
    task: dict = field(metadata=CONCEPTS_TASK,
        default_factory=lambda: dict(SMALL_CONCEPTS))
    # the model (attention: softmax and momentum)
    model: dict = field(metadata=MODEL,
        default_factory=lambda: model_block(n_layer=2, n_head=2, d_model=32, d_mlp=64, init="torch"))
    # the training of every run
    train: dict = field(metadata=TRAIN,
        default_factory=lambda: train_block(steps=800, lr=0.003, warmup_steps=50, checkpoint_every=800))
    eval: DaiMomentumEvalSettings = field(default_factory=DaiMomentumEvalSettings)  # validation loss and ICL accuracy


@dataclass(frozen=True)
class DaiSettings:
    # names in lm.tasks (a task skipped by lm is skipped here)
    text_tasks: tuple[str, ...] = ranged(("mr", "imdb", "sst5like"), minItems=1)
    # fresh labels (ICL only) | fixed labels
    # {model name: [task names]}: a listed text model runs those tasks instead of text_tasks
    model_tasks: dict = field(metadata=dict(values=tuple[str, ...], names=NAME),
                              default_factory=lambda: {"gemma3-270m": ["mr", "sst2like"], "smollm2-135m": ["mr"]})
    concepts_tasks: tuple[str, ...] = ranged(("concepts-fresh", "concepts-iwl"), enum=("concepts-fresh", "concepts-iwl"))
    untrained_seed: int = ranged(0, minimum=0)  # seeds the untrained copies' random weights
    n_boot: int = ranged(1000, minimum=1)  # bootstrap resamples of the test examples (95% intervals)
    # ICL vs finetuning on the text tasks (lm.models)
    text: TextAnalysisConfig = field(default_factory=TextAnalysisConfig)
    # ICL vs finetuning on pipeline-gpt's concept episodes
    concepts: ConceptsAnalysisConfig = field(default_factory=ConceptsAnalysisConfig)
    # pipeline-gpt pretrained with softmax vs momentum attention
    momentum: DaiMomentumSettings = field(default_factory=DaiMomentumSettings)
