"""Bursty few-shot classification over tokens: the pretraining corpus of `pipeline-gpt`.

The token version of Chan et al. (2022) / Reddy (2024), for a GPT over token ids: token ids
0..n_classes-1 are classes (Zipfian frequencies), n_classes..n_classes+n_labels-1 are labels, and
every class has one fixed label (its in-weights meaning). A sequence is `context_len` (class,
label) pairs and a query pair, laid out as tokens c_1 l_1 ... c_N l_N c_q l_q; the loss is the
cross-entropy of every label token given the tokens before it.

- With probability `p_fresh` a sequence is bursty and its labels are assigned afresh (a random
  permutation of the label set per sequence): the only way to label it is from the context.
- Otherwise it is bursty with probability `p_bursty` (else i.i.d. Zipfian) and keeps the fixed map.

The class, label and burstiness draws reuse the pure helpers of icl_study/tasks/bursty.py.
Evaluation prompts (`fewshot_prompts`) are k-shot `ways`-way episodes on training classes with
either fresh labels (`fresh`: ICL only; chance 1/ways) or their fixed labels (`iwl`), each with
its Bayes-optimal accuracy given the candidate labels.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F

from icl_study.config import ConfigError, from_dict, to_dict
from icl_study.rng import generator
from icl_study.tasks.bursty import (
    classes_with_labels,
    make_class_labels,
    random_episode_labels,
    sample_bursty,
    sample_nonbursty,
    zipf_probs,
)
from icl_study.tasks.configs import ConceptsTaskConfig
from icl_study.tasks.io import model_io


class ConceptsTask:
    """Token sequences as a pure function of (seed, step); the LM loss on label tokens."""

    def __init__(self, cfg: ConceptsTaskConfig | dict, seed: int):
        self.cfg = cfg if isinstance(cfg, ConceptsTaskConfig) else from_dict(ConceptsTaskConfig, cfg, "task")
        self.seed = seed
        if not 0 <= self.cfg.p_fresh <= 1 or not 0 <= self.cfg.p_bursty <= 1:
            raise ConfigError("task.p_fresh / task.p_bursty: must lie in [0, 1]")
        if self.cfg.bursty_shots * self.cfg.bursty_ways >= self.cfg.context_len:  # bursty.sample_iid needs >= 1 slot
            raise ConfigError("task.bursty_shots * task.bursty_ways: must be below task.context_len")
        self.probs = zipf_probs(self.cfg.n_classes, self.cfg.zipf_exponent)
        self.class_labels = make_class_labels(generator(seed, "pool"), self.cfg.n_classes, self.cfg.n_labels)

    def model_io(self) -> dict[str, int]:
        """The model widths and sequence length this task needs (icl_study/tasks/io.py)."""
        return model_io("concepts", to_dict(self.cfg))

    @property
    def n_tokens(self) -> int:
        return 2 * (self.cfg.context_len + 1)

    @property
    def vocab_size(self) -> int:
        return self.cfg.n_classes + self.cfg.n_labels

    def sample(self, gen: torch.Generator, batch_size: int) -> torch.Tensor:
        """(B, 2N + 2) token ids of training sequences."""
        cfg = self.cfg
        bursty_ctx, bursty_q = sample_bursty(gen, self.probs, batch_size, cfg.context_len, cfg.bursty_shots, cfg.bursty_ways)
        iid_ctx, iid_q = sample_nonbursty(gen, self.probs, batch_size, cfg.context_len)
        fresh = torch.rand(batch_size, generator=gen) < cfg.p_fresh  # (B,)
        bursty = fresh | (torch.rand(batch_size, generator=gen) < cfg.p_bursty)
        classes = torch.where(bursty[:, None], torch.cat([bursty_ctx, bursty_q[:, None]], 1),
                              torch.cat([iid_ctx, iid_q[:, None]], 1))  # (B, N + 1)
        labels = self.class_labels[classes]  # (B, N + 1) fixed meanings
        relabel = torch.rand(batch_size, cfg.n_labels, generator=gen).argsort(dim=1)  # (B, L) per-sequence permutation
        labels = torch.where(fresh[:, None], relabel.gather(1, labels), labels)
        return interleave_class_labels(classes, labels + cfg.n_classes)

    def train_batch(self, step: int, batch_size: int) -> dict[str, torch.Tensor]:
        return {"tokens": self.sample(generator(self.seed, "train", step), batch_size)}

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Cross-entropy of each label token, predicted at the class token before it."""
        tokens = batch["tokens"]
        logits = model(tokens[:, :-1])[:, 0::2]  # (B, N + 1, V): positions of class tokens
        return F.cross_entropy(logits.flatten(0, 1), tokens[:, 1::2].flatten())

    def fewshot_prompts(self, gen: torch.Generator, batch_size: int, k: int, ways: int, fresh: bool
                        ) -> dict[str, torch.Tensor]:
        """k-shot `ways`-way episodes on training classes, demonstrations balanced over the ways.

        Returns tokens (B, 2k + 1) ending with the query class, candidates (B, ways) label token
        ids, target (B,) index of the right candidate, bayes (B,) Bayes-optimal accuracy.
        """
        cfg = self.cfg
        labels = random_episode_labels(gen, cfg.n_labels, batch_size, ways)  # (B, ways) distinct
        if fresh:
            ways_classes = torch.rand(batch_size, cfg.n_classes, generator=gen).argsort(dim=1)[:, :ways]
        else:  # fixed meanings: a class whose in-weights label is each episode label
            ways_classes = classes_with_labels(gen, self.class_labels, labels)
        slots = torch.arange(k).remainder(ways).expand(batch_size, k)  # balanced way index per slot
        slots = slots.gather(1, torch.rand(batch_size, k, generator=gen).argsort(dim=1))  # (B, k) shuffled
        target = torch.randint(ways, (batch_size,), generator=gen)  # (B,)
        demo_classes, demo_labels = ways_classes.gather(1, slots), labels.gather(1, slots)  # (B, k)
        query = ways_classes.gather(1, target[:, None])  # (B, 1)
        tokens = torch.cat([interleave_class_labels(demo_classes, demo_labels + cfg.n_classes), query], dim=1)
        return {"tokens": tokens, "candidates": labels + cfg.n_classes, "target": target,
                "bayes": bayes_accuracy(slots, target, ways) if fresh else torch.ones(batch_size)}

    def eval_metrics(self, model: torch.nn.Module, device: torch.device) -> dict[str, float]:
        """ICL on fresh-label episodes at k = context_len; IWL: a lone query over all labels."""
        gen = generator(self.seed, "eval")
        episodes = self.fewshot_prompts(gen, self.cfg.eval_size, self.cfg.context_len, self.cfg.eval_ways, True)
        metrics = {"icl_fresh": episode_accuracy(model, episodes, device)}
        query = torch.multinomial(self.probs, self.cfg.eval_size, replacement=True, generator=gen)  # (B,)
        logits = model(query[:, None].to(device))[:, -1, self.cfg.n_classes:]  # (B, L) label logits
        metrics["iwl"] = (logits.argmax(-1).cpu() == self.class_labels[query]).float().mean().item()
        return metrics


def interleave_class_labels(classes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B, n) class ids and (B, n) label token ids -> (B, 2n) tokens c_1 l_1 c_2 l_2 ..."""
    return torch.stack([classes, labels], dim=2).flatten(1)  # (B, n, 2) -> (B, 2n)


def bayes_accuracy(slots: torch.Tensor, target: torch.Tensor, ways: int) -> torch.Tensor:
    """(B,) Bayes-optimal accuracy of fresh-label episodes: 1 if the query's way was shown, else
    uniform over the candidate labels not already bound to another shown way."""
    seen = F.one_hot(slots, ways).sum(dim=1) > 0 if slots.numel() else torch.zeros(len(target), ways, dtype=torch.bool)
    query_seen = seen.gather(1, target[:, None])[:, 0]
    remaining = ways - seen.sum(dim=1)  # unseen ways, the query's among them when it is unseen
    return torch.where(query_seen, torch.ones_like(target, dtype=torch.float), 1.0 / remaining.clamp(min=1).float())


@torch.no_grad()
def episode_predictions(model: torch.nn.Module, episodes: dict, device) -> torch.Tensor:
    """(B,) index of the candidate label with the highest logit after each prompt."""
    logits = model(episodes["tokens"].to(device))[:, -1].cpu()  # (B, V)
    return logits.gather(1, episodes["candidates"]).argmax(dim=1)


def episode_accuracy(model: torch.nn.Module, episodes: dict, device) -> float:
    return (episode_predictions(model, episodes, device) == episodes["target"]).float().mean().item()
