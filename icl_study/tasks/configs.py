"""The task configs a study's `task` block (or lm.tasks entry) holds: torch-free, so the settings layer
builds the config schema and reference page from them at parse time (icl_study/settings/schema.py).
The task modules (tasks/bursty.py, tasks/concepts.py, lm/data.py) import them from here."""

from __future__ import annotations

from dataclasses import dataclass

from icl_study.config import RegressionTaskConfig, ranged


@dataclass(frozen=True)
class BurstyTaskConfig:
    n_classes: int = ranged(512, minimum=1)  # training classes K
    n_holdout: int = ranged(64, minimum=1)  # classes never seen in training (ICL evaluation)
    n_exemplars: int = ranged(20, minimum=1)  # fixed exemplars per class
    emb_dim: int = ranged(32, minimum=1)  # D: exemplar embedding width
    within_class_noise: float = ranged(0.1, minimum=0)  # eps: exemplar = (prototype + eps * noise) / sqrt(1 + eps^2)
    n_labels: int = ranged(32, minimum=1)  # L: label set size (== n_classes: one label per class)
    zipf_exponent: float = ranged(0.0, minimum=0)  # class frequency ~ (rank + 1)^-alpha (0 = uniform)
    p_bursty: float = ranged(1.0, minimum=0, maximum=1)  # probability that a training sequence is bursty
    context_len: int = ranged(8, minimum=1)  # exemplar-label pairs before the query
    bursty_shots: int = ranged(3, minimum=1)  # copies of each bursty class in a bursty context
    bursty_ways: int = ranged(2, minimum=1)  # bursty classes in a bursty context (the query's included)
    eval_shots: int = ranged(4, minimum=1)  # ICL evaluation: copies of each class in the context
    # ICL evaluation: classes in the context (eval_shots * eval_ways = context_len)
    eval_ways: int = ranged(2, minimum=1)
    eval_size: int = ranged(512, minimum=1)  # sequences per evaluator
    eval_steps: tuple[int, ...] = ()  # training steps at which evaluators are logged (besides log_every)


@dataclass(frozen=True)
class ConceptsTaskConfig:
    n_classes: int = ranged(1600, minimum=1)  # class tokens
    n_labels: int = ranged(32, minimum=2)  # label tokens (must divide n_classes)
    zipf_exponent: float = ranged(1.0, minimum=0)  # class frequency ~ (rank + 1)^-exponent
    context_len: int = ranged(16, minimum=1)  # (class, label) pairs before the query
    bursty_shots: int = ranged(6, minimum=1)  # copies of each bursty class in a bursty context
    bursty_ways: int = ranged(2, minimum=1)  # bursty classes per bursty context (the query's included)
    p_bursty: float = ranged(0.9, minimum=0, maximum=1)  # fixed-label sequences: probability of being bursty
    # probability that a sequence is bursty with labels assigned afresh
    p_fresh: float = ranged(0.1, minimum=0, maximum=1)
    eval_ways: int = ranged(2, minimum=2)  # ways of the evaluation episodes logged during training
    eval_size: int = ranged(512, minimum=1)  # episodes per evaluator


@dataclass(frozen=True)
class TextTaskConfig:
    # mr | imdb | vader5 | vader2 | csv | jsonl
    source: str = ranged("mr", enum=("mr", "imdb", "vader5", "vader2", "csv", "jsonl"))
    path: str | None = None  # csv / jsonl: the user's file
    optional: bool = False  # csv / jsonl: the workflow skips the task when the file is absent
    template: str = ranged("Review: {text}\nSentiment:", pattern='\\{text\\}')  # one example; the label word follows it
    label_words: tuple[str, ...] = ranged((" negative", " positive"), minItems=2, minLength=1)  # by class index
    separator: str = "\n\n"  # between demonstrations (and before the query)
    max_words: int = ranged(0, minimum=0)  # > 0: texts cut to their first max_words words (IMDB reviews are long)
    # vader5/vader2: bins of the mean rating
    rating_edges: tuple[float, ...] = ranged((-2.0, -0.5, 0.5, 2.0), minItems=1)


@dataclass(frozen=True)
class PoolRegressionTaskConfig(RegressionTaskConfig):
    """tasks/pool_regression.py's task: RegressionTaskConfig's keys with a finite pool and noise, plus
    eval_size (its EXTRA_KEYS). The defaults are transience.regression.task's."""

    noise_std: float = ranged(0.5, exclusiveMinimum=0)  # sigma (> 0: the in-pool evaluator needs noise)
    w_scale: float = ranged(1.0, exclusiveMinimum=0)  # tau: w ~ N(0, tau^2 I)
    pool_size: int = ranged(32, minimum=1)  # tasks in the pool
    eval_size: int = ranged(256, minimum=1)  # tasks per evaluator


# The metadata of the `task` blocks of the studies' settings (see icl_study/settings/schema.py).
BURSTY_TASK = {"block": BurstyTaskConfig, "required": "all", "omit": ("eval_steps",)}  # eval_steps: set by the plan
CONCEPTS_TASK = {"block": ConceptsTaskConfig, "required": "all"}
POOL_REGRESSION_TASK = {"block": PoolRegressionTaskConfig, "required": "all"}
# diversity.task: the pool size and curriculum are the study's (diversity.pool_sizes)
DIVERSITY_TASK = {"block": PoolRegressionTaskConfig, "omit": ("pool_size", "curriculum"),
                  "ranges": {"n_points": {"minimum": 2}}}
# every key of an lm.tasks entry but `optional` is stated (settings/lm.py's review_task states them)
TEXT_TASK_REQUIRED = ("source", "path", "template", "label_words", "separator", "max_words", "rating_edges")
