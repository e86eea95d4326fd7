"""Bursty few-shot classification (Chan et al. 2022), on synthetic embeddings (Reddy 2024).

Omniglot cannot be downloaded here, so a class is a Gaussian prototype mu_c ~ N(0, I/D) and its
`n_exemplars` fixed exemplars are (mu_c + eps * eta) / sqrt(1 + eps^2), eta ~ N(0, I/D).
Each training class has one fixed label out of `n_labels` (`n_labels == n_classes`: one label per
class, Chan's default; fewer: a small label set shared across classes, Reddy's design). A sequence
is `context_len` exemplar-label pairs followed by a query exemplar; the model predicts the query's
label. Token layout (width D + L): an exemplar token is [x, 0...0], a label token is [0...0,
onehot(label)], so a sequence is 2 * context_len + 1 tokens.

Training sequences are bursty with probability `p_bursty` (`bursty_ways` classes, the query's
among them, each appearing `bursty_shots` times; the remaining slots are i.i.d.), otherwise every
class is drawn i.i.d.; classes are drawn with Zipfian frequencies p(k) ~ (k + 1)^-zipf_exponent.

Evaluators (`eval_metrics`), each an accuracy on a fixed evaluation batch:
- `icl`: `eval_shots`-shot `eval_ways`-way on holdout classes, labels drawn at random per
  sequence; closed-class accuracy (argmax among the context's labels), chance 1/eval_ways.
- `icl_flip`: the same on training classes whose true labels are permuted among them (Singh's
  fsl_train/flip): ICL scores 1, pure IWL scores 0.
- `iwl`: query class absent from the context; accuracy over all labels, chance 1/n_labels.
- `ciwl`: query class absent, but its true label appears in the context on another class; accuracy
  over all labels. Much higher than `iwl` means the model chooses among in-context labels from
  memory (Singh et al. 2025's context-constrained IWL), which is neither ICL nor IWL.
- `train_acc`: accuracy on sequences from the training distribution.

The sampling helpers below are pure functions of a torch.Generator (and class tables), so another
task (e.g. a token corpus for a language model) can reuse the class, label and burstiness logic
without the vector layout.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F

from icl_study.config import ConfigError, from_dict, to_dict
from icl_study.rng import generator
from icl_study.tasks.configs import BurstyTaskConfig
from icl_study.tasks.io import model_io


# ----------------------------------------------------------------------------------------------
# Pure sampling helpers (reusable): every one takes a torch.Generator and returns class indices.
# ----------------------------------------------------------------------------------------------


def zipf_probs(n_classes: int, exponent: float) -> torch.Tensor:
    """(K,) class frequencies p(k) proportional to (k + 1)^-exponent; exponent 0 is uniform."""
    ranks = torch.arange(1, n_classes + 1, dtype=torch.float64)
    p = ranks.pow(-exponent)
    return (p / p.sum()).float()


def make_class_labels(gen: torch.Generator, n_classes: int, n_labels: int) -> torch.Tensor:
    """(K,) fixed label per class: a random permutation taken mod L, so every label has K/L classes."""
    if n_classes % n_labels:
        raise ConfigError(f"task.n_labels: {n_labels} must divide task.n_classes={n_classes}")
    return torch.randperm(n_classes, generator=gen) % n_labels


def make_exemplars(gen: torch.Generator, n_classes: int, n_exemplars: int, dim: int, noise: float) -> torch.Tensor:
    """(K, E, D) exemplars: prototype plus noise, rescaled so every exemplar has norm ~1."""
    protos = torch.randn(n_classes, 1, dim, generator=gen) / dim**0.5  # (K, 1, D)
    eta = torch.randn(n_classes, n_exemplars, dim, generator=gen) / dim**0.5  # (K, E, D)
    return (protos + noise * eta) / (1 + noise**2) ** 0.5


def sample_iid(gen: torch.Generator, probs: torch.Tensor, batch: int, n: int) -> torch.Tensor:
    """(B, n) classes drawn i.i.d. from `probs`."""
    if n == 0:
        return torch.zeros(batch, 0, dtype=torch.long)
    return torch.multinomial(probs, batch * n, replacement=True, generator=gen).view(batch, n)


def sample_bursty(gen: torch.Generator, probs: torch.Tensor, batch: int, context_len: int,
                  shots: int, ways: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bursty contexts (B, N) and queries (B,): `ways` distinct classes x `shots` copies, rest i.i.d.

    The query class is the first of the `ways` classes; the context order is shuffled per row.
    """
    if shots * ways > context_len:
        raise ConfigError(f"task.bursty_shots * task.bursty_ways = {shots * ways} exceeds task.context_len={context_len}")
    ways_classes = torch.multinomial(probs.expand(batch, -1), ways, replacement=False, generator=gen)  # (B, ways)
    burst = ways_classes.repeat_interleave(shots, dim=1)  # (B, ways * shots)
    rest = sample_iid(gen, probs, batch, context_len - shots * ways)  # (B, N - ways * shots)
    context = torch.cat([burst, rest], dim=1)  # (B, N)
    order = torch.rand(batch, context_len, generator=gen).argsort(dim=1)
    return context.gather(1, order), ways_classes[:, 0]


def sample_nonbursty(gen: torch.Generator, probs: torch.Tensor, batch: int, context_len: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-bursty contexts (B, N) and queries (B,): every class i.i.d. from `probs`."""
    classes = sample_iid(gen, probs, batch, context_len + 1)
    return classes[:, :-1], classes[:, -1]


def sample_no_support(gen: torch.Generator, n_classes: int, batch: int, context_len: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Contexts (B, N) that never contain the query class (B,); all classes uniform."""
    query = torch.randint(n_classes, (batch,), generator=gen)
    offset = torch.randint(1, n_classes, (batch, context_len), generator=gen)  # never 0
    return (query[:, None] + offset) % n_classes, query


def sample_fewshot(gen: torch.Generator, n_classes: int, batch: int, shots: int, ways: int
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`shots`-shot `ways`-way episodes among classes 0..n_classes-1 (uniform, distinct per row).

    Returns contexts (B, shots * ways) in shuffled order, queries (B,) and the episode's classes
    (B, ways); the query is one of the `ways` classes, chosen uniformly.
    """
    ways_classes = torch.rand(batch, n_classes, generator=gen).argsort(dim=1)[:, :ways]  # (B, ways)
    context = ways_classes.repeat_interleave(shots, dim=1)  # (B, shots * ways)
    order = torch.rand(batch, shots * ways, generator=gen).argsort(dim=1)
    pick = torch.randint(ways, (batch, 1), generator=gen)
    return context.gather(1, order), ways_classes.gather(1, pick)[:, 0], ways_classes


def random_episode_labels(gen: torch.Generator, n_labels: int, batch: int, ways: int) -> torch.Tensor:
    """(B, ways) distinct labels drawn uniformly per sequence (for relabelled few-shot episodes)."""
    return torch.rand(batch, n_labels, generator=gen).argsort(dim=1)[:, :ways]


def classes_with_labels(gen: torch.Generator, class_labels: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """For each label in `labels` (any shape), a uniformly chosen class that has that true label."""
    n_labels = int(class_labels.max()) + 1
    by_label = class_labels.argsort(stable=True).view(n_labels, -1)  # (L, K/L): classes of each label
    pick = torch.randint(by_label.shape[1], labels.shape, generator=gen)
    return by_label[labels, pick]


# ----------------------------------------------------------------------------------------------
# Layout, accuracies and oracles
# ----------------------------------------------------------------------------------------------


def to_tokens(ctx_x: torch.Tensor, ctx_labels: torch.Tensor, query_x: torch.Tensor, n_labels: int) -> torch.Tensor:
    """(B, N, D) exemplars, (B, N) labels, (B, D) query -> (B, 2N + 1, D + L) tokens."""
    B, N, D = ctx_x.shape
    x_tok = F.pad(ctx_x, (0, n_labels))  # (B, N, D + L): [x, 0...0]
    l_tok = F.pad(F.one_hot(ctx_labels, n_labels).to(ctx_x.dtype), (D, 0))  # (B, N, D + L): [0...0, onehot]
    pairs = torch.stack((x_tok, l_tok), dim=2).view(B, 2 * N, D + n_labels)  # (B, N, 2, D+L) -> (B, 2N, D+L)
    return torch.cat([pairs, F.pad(query_x, (0, n_labels))[:, None]], dim=1)


def accuracy(logits: torch.Tensor, batch: dict[str, torch.Tensor], closed: bool) -> float:
    """Accuracy of (B, L) query logits; `closed`: argmax only among the labels in the context."""
    if closed:
        in_context = torch.zeros_like(logits, dtype=torch.bool).scatter(1, batch["ctx_labels"], True)
        logits = logits.masked_fill(~in_context, float("-inf"))
    return (logits.argmax(dim=1) == batch["query_label"]).float().mean().item()


def oracle_icl(batch: dict[str, torch.Tensor], n_labels: int) -> torch.Tensor:
    """Perfect ICL: copy the label of a context item of the query's class (uniform if none)."""
    match = (batch["ctx_classes"] == batch["query_class"][:, None]).float()  # (B, N)
    votes = torch.zeros(len(match), n_labels).scatter_add(1, batch["ctx_labels"], match)  # (B, L)
    return votes


def oracle_iwl(batch: dict[str, torch.Tensor], class_labels: torch.Tensor) -> torch.Tensor:
    """Perfect IWL: the query class's fixed training label, ignoring the context (0s: holdout)."""
    n_labels, query = int(class_labels.max()) + 1, batch["query_class"]
    known = query < len(class_labels)  # holdout classes have no training label
    onehot = F.one_hot(class_labels[query.clamp_max(len(class_labels) - 1)], n_labels).float()
    return onehot * known[:, None]


def model_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The model's (B, L) logits at the query (last) position."""
    return model(batch["tokens"])[:, -1]


# ----------------------------------------------------------------------------------------------
# The task
# ----------------------------------------------------------------------------------------------


class BurstyTask:
    """Batches as pure functions of (seed, stream, step); cross-entropy loss at the query."""

    EVALUATORS = {"icl": True, "icl_flip": True, "iwl": False, "ciwl": False, "train_acc": False}  # closed?

    def __init__(self, cfg: BurstyTaskConfig | dict, seed: int):
        self.cfg = cfg if isinstance(cfg, BurstyTaskConfig) else from_dict(BurstyTaskConfig, cfg, "task")
        self.seed = seed
        c = self.cfg
        if c.eval_shots * c.eval_ways != c.context_len or c.eval_ways > c.n_labels:
            raise ConfigError("task.eval_shots * task.eval_ways must equal task.context_len (and eval_ways <= n_labels)")
        if c.bursty_ways > c.n_classes or c.n_holdout < c.eval_ways:
            raise ConfigError("task.bursty_ways <= n_classes and task.n_holdout >= eval_ways are required")
        gen = generator(seed, "pool")  # the class tables: fixed for the run, independent of steps
        self.class_labels = make_class_labels(gen, c.n_classes, c.n_labels)  # (K,)
        self.exemplars = make_exemplars(gen, c.n_classes + c.n_holdout, c.n_exemplars, c.emb_dim,
                                        c.within_class_noise)  # (K + H, E, D): holdout classes last
        self.probs = zipf_probs(c.n_classes, c.zipf_exponent)
        self.eval_steps = c.eval_steps

    def model_io(self) -> dict[str, int]:
        """The model widths and sequence length this task needs (icl_study/tasks/io.py)."""
        return model_io("bursty", to_dict(self.cfg))

    @property
    def n_tokens(self) -> int:
        return 2 * self.cfg.context_len + 1

    def to(self, device: torch.device | str) -> "BurstyTask":
        """Keep the exemplar table on `device`, so batches' tokens are laid out there (a paper-tier
        batch is 32 x 17 x 1664 floats, mostly one-hot zeros: building it took ~3 ms of CPU). Every
        random draw stays on the CPU generator, so the batches' values do not change."""
        self.exemplars = self.exemplars.to(device)
        return self

    def assemble(self, gen, ctx_classes, query_class, ctx_labels, query_label) -> dict[str, torch.Tensor]:
        """Draw exemplars for the given classes and lay the sequence out as tokens."""
        B, N = ctx_classes.shape
        ex = torch.randint(self.cfg.n_exemplars, (B, N + 1), generator=gen)
        device = self.exemplars.device  # the CPU unless `to` moved the table (then only the layout moves)
        ctx_x = self.exemplars[_to(ctx_classes, device), _to(ex[:, :-1], device)]  # (B, N, D)
        query_x = self.exemplars[_to(query_class, device), _to(ex[:, -1], device)]  # (B, D)
        return {"tokens": to_tokens(ctx_x, _to(ctx_labels, device), query_x, self.cfg.n_labels),
                "ctx_classes": ctx_classes, "query_class": query_class,
                "ctx_labels": ctx_labels, "query_label": query_label}

    def sample_train(self, gen: torch.Generator, batch: int) -> dict[str, torch.Tensor]:
        """Training-distribution sequences: bursty with probability p_bursty, else i.i.d."""
        c = self.cfg
        b_ctx, b_q = sample_bursty(gen, self.probs, batch, c.context_len, c.bursty_shots, c.bursty_ways)
        n_ctx, n_q = sample_nonbursty(gen, self.probs, batch, c.context_len)
        bursty = torch.rand(batch, generator=gen) < c.p_bursty  # (B,)
        ctx = torch.where(bursty[:, None], b_ctx, n_ctx)
        query = torch.where(bursty, b_q, n_q)
        out = self.assemble(gen, ctx, query, self.class_labels[ctx], self.class_labels[query])
        out["bursty"] = bursty
        return out

    def train_batch(self, step: int, batch_size: int) -> dict[str, torch.Tensor]:
        return self.sample_train(generator(self.seed, "train", step), batch_size)

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Cross-entropy of the query label (the only prediction trained, as in Chan et al.)."""
        return F.cross_entropy(model_logits(model, batch), batch["query_label"])

    def eval_batch(self, name: str, gen: torch.Generator, batch: int) -> dict[str, torch.Tensor]:
        """One evaluator's sequences (see the module docstring)."""
        c, labels = self.cfg, self.class_labels
        if name == "train_acc":
            return self.sample_train(gen, batch)
        if name == "icl":  # holdout classes, random labels per sequence
            ctx, q, ways = sample_fewshot(gen, c.n_holdout, batch, c.eval_shots, c.eval_ways)
            ep_labels = random_episode_labels(gen, c.n_labels, batch, c.eval_ways)  # (B, ways)
            ctx_l, q_l = _episode_labels(ctx, q, ways, ep_labels)
            return self.assemble(gen, ctx + c.n_classes, q + c.n_classes, ctx_l, q_l)
        if name == "icl_flip":  # training classes with distinct true labels, cyclically permuted
            true = random_episode_labels(gen, c.n_labels, batch, c.eval_ways)  # (B, ways) distinct
            ways = classes_with_labels(gen, labels, true)  # (B, ways)
            ctx_i, q_i, _ = sample_fewshot(gen, c.eval_ways, batch, c.eval_shots, c.eval_ways)  # slots
            ctx, q = ways.gather(1, ctx_i), ways.gather(1, q_i[:, None])[:, 0]
            ctx_l, q_l = _episode_labels(ctx_i, q_i, None, true.roll(1, dims=1))
            return self.assemble(gen, ctx, q, ctx_l, q_l)
        if name == "iwl":
            ctx, q = sample_no_support(gen, c.n_classes, batch, c.context_len)
            return self.assemble(gen, ctx, q, labels[ctx], labels[q])
        if name == "ciwl":  # query absent; its label shown on one other class of the context
            ctx, q = sample_no_support(gen, c.n_classes, batch, c.context_len)
            ctx_l = labels[ctx].clone()
            slot = torch.randint(c.context_len, (batch,), generator=gen)
            ctx_l[torch.arange(batch), slot] = labels[q]
            return self.assemble(gen, ctx, q, ctx_l, labels[q])
        raise ValueError(f"unknown evaluator {name!r}")

    def evaluate(self, predict, device: torch.device | str = "cpu") -> dict[str, float]:
        """Every evaluator's accuracy for `predict(batch) -> (B, L) logits` on fixed eval batches."""
        out = {}
        for i, (name, closed) in enumerate(self.EVALUATORS.items()):
            batch = self.eval_batch(name, generator(self.seed, "eval", i), self.cfg.eval_size)
            batch = {k: v.to(device) for k, v in batch.items()}
            out[name] = accuracy(predict(batch).float().cpu(), {k: v.cpu() for k, v in batch.items()}, closed)
        return out

    def eval_metrics(self, model: torch.nn.Module, device: torch.device) -> dict[str, float]:
        return self.evaluate(lambda batch: model_logits(model, batch), device)


def _to(indices: torch.Tensor, device: torch.device) -> torch.Tensor:
    """CPU indices on `device`: as they are on the CPU, else through pinned memory without a sync."""
    if indices.device == device:
        return indices
    return indices.pin_memory().to(device, non_blocking=True)


def _episode_labels(ctx, query, ways, ep_labels) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels of context (B, N) and query (B,) items from per-episode labels (B, ways).

    With `ways` (B, ways) given, items are class ids looked up in it; else they are slot indices.
    """
    if ways is not None:
        ctx = (ctx[:, :, None] == ways[:, None, :]).float().argmax(-1)  # (B, N): slot of each item
        query = (query[:, None] == ways).float().argmax(-1)  # (B,)
    return ep_labels.gather(1, ctx), ep_labels.gather(1, query[:, None])[:, 0]
