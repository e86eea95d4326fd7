"""In-context learning accuracy by label-word log-probabilities, with the prefix's KV cache reused.

A prompt is `prefix + query`: the prefix is the k demonstrations (each `template + label word +
separator`), the query is the test example's `template`. The prediction is the class whose label
word's first token has the highest log-probability after the prompt: the highest logit among the
label words, so `predict` reads out those rows only (`label_logits`), not the whole vocabulary (a
matrix-vector product over Gemma's 262,144 words); `next_token_logprobs` gives the whole
vocabulary's log-softmax where a study needs it (Shen's KL). The prefix is the same for every test example, so it runs once and its KV cache is
reused: up to BATCH_SIZE queries run in one forward pass after it (the cache copied and expanded
to the batch, queries right-padded), or one at a time (`batch_size=1`, the cache cropped back after
each); `use_cache=False` recomputes it, for the benchmark and the test that all give the same numbers.
"""

from __future__ import annotations

import logging

import torch

from icl_study.config import ConfigError
from icl_study.lm.data import Example, TextTaskConfig, format_example, prefix_text

log = logging.getLogger("icl_study.lm")
BATCH_SIZE = 1  # queries per forward pass after the shared prefix: on CPU (1 thread), batches of 32 cost
# 14% more CPU than one at a time (benchmarks/kv_cache.py: the work is the queries' own tokens, and the
# cache is copied per batch), so batching is opt-in (`batch_size`), for accelerators


def label_token_ids(lm, label_words: tuple[str, ...]) -> list[int]:
    """The first token of each label word; they must differ (a warning if a word has several)."""
    ids = []
    for word in label_words:
        tokens = lm.encode(word)
        if not tokens:
            raise ConfigError(f"task.label_words: {word!r} encodes to no token")
        if len(tokens) > 1:
            log.warning("label word %r is %d tokens; it is scored by its first token", word, len(tokens))
        ids.append(tokens[0])
    if len(set(ids)) < len(ids):
        raise ConfigError(f"task.label_words: {list(label_words)} share a first token; pick distinct words")
    return ids


@torch.no_grad()
def next_token_logits(lm, prefix_ids: list[int], queries: list[list[int]], use_cache: bool = True,
                      batch_size: int = BATCH_SIZE, read_out: list[int] | None = None) -> torch.Tensor:
    """(N, V) float next-token logits after prefix + each query, or with `read_out` (N, len(read_out)),
    those tokens' only (the read-out's rows, not the whole vocabulary's). With the cache,
    `batch_size` queries share one forward pass after the prefix (1: one at a time)."""
    rows = []  # (V,) or (C,) each
    cache = lm.prefix_cache(prefix_ids) if use_cache else None
    if use_cache and batch_size > 1:
        for start in range(0, len(queries), batch_size):
            rows += list(lm.logits_after_batch(cache, len(prefix_ids), queries[start:start + batch_size], read_out))
    elif use_cache:
        rows = [lm.logits_after(cache, len(prefix_ids), query, read_out) for query in queries]
    else:  # full recompute
        rows = [lm.last_logits(torch.tensor([prefix_ids + query]))[0] for query in queries]
        rows = rows if read_out is None else [row[read_out] for row in rows]
    if not rows:
        return torch.empty(0) if read_out is None else torch.empty(0, len(read_out))
    return torch.stack(rows).float()


def next_token_logprobs(lm, prefix_ids: list[int], queries: list[list[int]], use_cache: bool = True,
                        batch_size: int = BATCH_SIZE) -> torch.Tensor:
    """(N, V) next-token log-probabilities over the whole vocabulary after prefix + each query."""
    return next_token_logits(lm, prefix_ids, queries, use_cache, batch_size).log_softmax(-1)


def label_logits(lm, prefix_ids: list[int], queries: list[list[int]], label_ids: list[int],
                 batch_size: int = BATCH_SIZE) -> torch.Tensor:
    """(N, C) next-token logits of the C label tokens only after prefix + each query (the prefix's
    cache reused): the read-out's label rows, not the whole vocabulary's."""
    return next_token_logits(lm, prefix_ids, queries, batch_size=batch_size, read_out=label_ids)


def label_logprobs(lm, prefix_ids: list[int], queries: list[list[int]], label_ids: list[int],
                   use_cache: bool = True, batch_size: int = BATCH_SIZE) -> torch.Tensor:
    """(N, C) log-probabilities of the C label tokens after prefix + each query."""
    return next_token_logprobs(lm, prefix_ids, queries, use_cache, batch_size)[:, label_ids]


def encode_prompts(lm, cfg: TextTaskConfig, demos: list[Example], queries: list[Example]
                   ) -> tuple[list[int], list[list[int]]]:
    """Token ids of the shared prefix and of each query (encoded separately, then concatenated)."""
    prefix = prefix_text(cfg, demos)
    prefix_ids = lm.encode(prefix) if prefix else []
    return prefix_ids, [lm.encode(format_example(cfg, q, with_label=False)) for q in queries]


def predict(lm, cfg: TextTaskConfig, demos: list[Example], queries: list[Example],
            use_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted classes (N,), label log-probs renormalised over the labels (N, C)) for the queries
    after the demonstrations. Only the label words are read out (`read_out`): the argmax and the
    calibration (`calibrated`) depend on the labels' logits alone, not on the vocabulary's normaliser."""
    prefix_ids, query_ids = encode_prompts(lm, cfg, demos, queries)
    logits = next_token_logits(lm, prefix_ids, query_ids, use_cache, read_out=label_token_ids(lm, cfg.label_words))
    return logits.argmax(-1), logits.log_softmax(-1)


CONTENT_FREE = ("N/A", "[MASK]", "")  # Zhao et al. 2021's content-free inputs


def content_free_logprobs(lm, cfg: TextTaskConfig, demos: list[Example]) -> torch.Tensor:
    """(C,) log of the label-word probabilities (renormalised over the labels) after the
    demonstrations and a content-free query, averaged over CONTENT_FREE: contextual calibration's
    estimate of the prompt's bias toward each label (Zhao et al. 2021)."""
    _, logprobs = predict(lm, cfg, demos, [Example(text, 0) for text in CONTENT_FREE])
    return logprobs.log_softmax(-1).exp().mean(0).log()


def calibrated(logprobs: torch.Tensor, content_free: torch.Tensor) -> torch.Tensor:
    """(N,) contextually calibrated predictions: argmax of p(y | x) / p_cf(y), i.e. Zhao et al.'s
    W = diag(p_cf)^-1 with b = 0 (the normalisation over labels is the same for every y)."""
    return (logprobs.log_softmax(-1) - content_free).argmax(-1)


def accuracy(predictions: torch.Tensor, examples: list[Example]) -> float:
    labels = torch.tensor([e.label for e in examples])
    return (predictions == labels).float().mean().item()
