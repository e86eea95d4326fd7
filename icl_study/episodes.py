"""ICL episodes: N demonstrations and the queries answered after them, with their builders.

One idea in two encodings:
- `Episode`, token ids for a language model (SmolLM2, hf:<dir>, pipeline-gpt): the demonstrations
  as they stand in the ICL prefix, the same demonstrations as finetuning examples, and the
  zero-shot queries with their candidate label tokens. Built from a text task's examples
  (`text_episode`) or from one of pipeline-gpt's few-shot concept prompts (`concept_episode`).
- `EpisodeBatch`, the prompts of a small model as one tensor (B, 2N + 1, D) of (x, target) token
  pairs then the query token (`episode_batch`: bursty few-shot episodes or fresh regression tasks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from icl_study.lm import data, icl
from icl_study.rng import generator
from icl_study.tasks.regression import RegressionTask, interleave_xy


@dataclass
class Episode:
    """N demonstrations and the queries that share them (token ids)."""

    demos: list[list[int]]  # each demonstration as it stands in the ICL prefix (label, separator)
    train: list[tuple[list[int], int]]  # the same demonstrations as finetuning examples (prompt, target token), same order
    queries: list[list[int]]  # zero-shot prompts
    candidates: list[list[int]]  # label token ids per query
    targets: list[int]  # index of the right candidate per query
    record: list[tuple[list[int], int]] | None = None  # per demonstration: (ids to run, its last n tokens are the
    # demonstration's ICL span): where matched finetuning's side of Kendall reads the demonstration's queries
    heldout_train: list | None = None  # concepts: finetuning examples without the query's (class, label) pair
    text_prefix: Callable[[list[int]], list[int]] | None = None  # text: a demonstration order -> the prefix
    # text tokenised as one string (its tokens can differ at demonstration boundaries from `joined`)

    def joined(self) -> list[int]:
        """The demonstrations' ids concatenated in drawn order (each keeps its own span)."""
        return [t for demo in self.demos for t in demo]

    def prefix(self, order: list[int]) -> list[int]:
        """The ICL prefix of the demonstrations in `order`: the text prompt's own tokenisation, or
        the demonstrations' ids concatenated."""
        if self.text_prefix is not None:
            return self.text_prefix(order)
        return [t for i in order for t in self.demos[i]]

    @property
    def label_ids(self) -> list[int]:
        """The label tokens shared by every query (text: the task's label words; concepts: one query)."""
        return self.candidates[0]


def encode_queries(lm, task_cfg, examples) -> list[list[int]]:
    """Zero-shot prompt ids of text examples."""
    return [lm.encode(data.format_example(task_cfg, e, False)) for e in examples]


def text_episode(lm, task_cfg, demos, queries) -> Episode:
    """Demonstrations and queries (lm.data.Example) of a text task as an Episode."""
    label_ids = icl.label_token_ids(lm, task_cfg.label_words)
    demo_ids = [lm.encode(data.format_example(task_cfg, d, True) + task_cfg.separator) for d in demos]
    return Episode(demos=demo_ids,
                   train=[(lm.encode(data.format_example(task_cfg, d, False)), label_ids[d.label]) for d in demos],
                   queries=encode_queries(lm, task_cfg, queries), candidates=[label_ids] * len(queries),
                   targets=[q.label for q in queries], record=[(ids, len(ids)) for ids in demo_ids],
                   text_prefix=lambda order: lm.encode(data.prefix_text(task_cfg, [demos[i] for i in order])))


def in_context(pairs: list[list[int]]) -> list[tuple[list[int], int]]:
    """Finetuning examples of (class, label) pairs, each inside its preceding pairs:
    (c_1 l_1 ... c_{i-1} l_{i-1} c_i -> l_i). Alone, c_i would be a one-token sequence, where the
    softmax over a single key gives the key projection no gradient."""
    return [([t for p in pairs[:i] for t in p] + [c], label) for i, (c, label) in enumerate(pairs)]


def concept_episode(tokens: list[int], candidates: list[int], target: int, k: int) -> Episode:
    """One k-shot episode c_1 l_1 ... c_k l_k c_q of pipeline-gpt: demonstrations (c_i, l_i),
    finetuning examples `in_context(pairs)`, one query [c_q]. The query's class is always
    demonstrated, so finetuning on it is training accuracy; `heldout_train` drops the query class's
    pairs (finetuning on an unseen pair)."""
    pairs = [tokens[2 * i: 2 * i + 2] for i in range(k)]
    heldout = in_context([p for p in pairs if p[0] != tokens[-1]])
    record = [([t for p in pairs[:i + 1] for t in p], 2) for i in range(k)]  # pair i after the pairs before it
    return Episode(pairs, in_context(pairs), [[tokens[-1]]], [candidates], [target], record, heldout)


def concept_episodes(batch: dict[str, torch.Tensor], k: int) -> list[Episode]:
    """Every episode of a `ConceptsTask.fewshot_prompts` batch."""
    return [concept_episode(tokens, candidates, target, k) for tokens, candidates, target
            in zip(batch["tokens"].tolist(), batch["candidates"].tolist(), batch["target"].tolist())]


# --- small models: prompts as one tensor ---------------------------------------------------------


@dataclass
class EpisodeBatch:
    """ICL prompts (B, 2N + 1, D) of N (x-token, target-token) pairs then the query x-token."""

    tokens: torch.Tensor
    targets: torch.Tensor  # (B,) query label (long) or y (float)
    demo_targets: torch.Tensor  # (B, N) each demonstration's label or y

    @property
    def demo_tokens(self) -> torch.Tensor:
        return self.tokens[:, 0:-1:2]  # (B, N, D): the demonstrations' x-tokens


def fresh_task(task) -> RegressionTask:
    """A plain RegressionTask with the pool task's d, n, σ, τ but w ~ N(0, τ² I) always."""
    c = task.cfg
    return RegressionTask({"n_dims": c.n_dims, "n_points": c.n_points, "noise_std": c.noise_std,
                           "w_scale": c.w_scale}, task.seed)


def episode_batch(task, family: str, n: int, seed: int) -> EpisodeBatch:
    """Bursty: few-shot episodes on holdout classes with random labels; regression: fresh tasks."""
    if family == "bursty":
        batch = task.eval_batch("icl", generator(seed, "demo", 0), n)
        return EpisodeBatch(batch["tokens"], batch["query_label"], batch["ctx_labels"])
    batch = fresh_task(task).sample(seed, n, "demo")
    return EpisodeBatch(interleave_xy(batch["xs"], batch["ys"])[:, :-1], batch["ys"][:, -1], batch["ys"][:, :-1])


def readout(family: str, out: torch.Tensor) -> torch.Tensor:
    """A small model's prediction at the last position: logits (B, L) or ŷ (B,)."""
    return out[:, -1] if family == "bursty" else out[:, -1, 0]


def query_loss(family: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The task's training loss at the last position: cross-entropy or squared error."""
    pred = readout(family, out)
    return F.cross_entropy(pred, target) if family == "bursty" else (pred - target).pow(2).mean()
