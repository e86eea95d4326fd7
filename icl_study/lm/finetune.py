"""Finetuning on the demonstrations, in Dai et al.'s and Shen et al.'s settings.

A training example is (prompt ids, target token id): the demonstration's `template` and the first
token of its label word. The loss is the LM cross-entropy of that token (over the whole vocabulary).

- `dai`: only key and value projections change (a gradient mask freezes GPT-2's fused query
  third), plain SGD, batch 1, one epoch in demonstration order (Dai et al. 2022, Sec. 4).
- `shen`: all weights (`last_layers: 0`) or the blocks of the last `last_layers` layers, full-batch
  gradient descent on the mean loss for `steps` steps (Shen et al. 2023). With `batch_size` > 0,
  each step is instead one epoch of minibatch SGD (`batch_size` examples per update, in an order
  shuffled by `seed` and the epoch): the only randomness of GD on fixed demonstrations.

`finetuned(...)` changes the model in place and restores the original weights on exit, so one
loaded model serves every demonstration set. `pick_lr` chooses the learning rate by accuracy on a
validation split, never on the test subset.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from icl_study.config import ConfigError
from icl_study.lm.models import layer_of
from icl_study.rng import generator

log = logging.getLogger("icl_study.lm")
SETTINGS = ("dai", "shen")


@dataclass(frozen=True)
class FinetuneConfig:
    setting: str = "dai"  # dai | shen
    lr: float = 1e-3
    steps: int = 1  # shen: full-batch GD steps (dai: always one epoch of batch-1 SGD)
    last_layers: int = 0  # shen: 0 = all weights, n = only the last n blocks
    batch_size: int = 0  # shen: 0 = full batch; n = minibatches of n examples, one epoch per step
    seed: int = 0  # shen with batch_size > 0: shuffles the examples into minibatches


def trainable(lm, cfg: FinetuneConfig) -> dict[str, tuple[torch.nn.Parameter, torch.Tensor | None]]:
    """{name: (parameter, gradient mask or None)} of the weights the setting updates."""
    params = dict(lm.named_parameters())
    if cfg.setting == "dai":
        return {name: (params[name], mask) for name, mask in lm.kv_masks().items()}
    if cfg.setting != "shen":
        raise ConfigError(f"finetune.setting: {cfg.setting!r} is not one of {SETTINGS}")
    if cfg.last_layers <= 0:
        return {name: (p, None) for name, p in params.items()}
    first = lm.n_layer - cfg.last_layers
    return {n: (p, None) for n, p in params.items() if layer_of(n) is not None and layer_of(n) >= first}


def example_loss(lm, prompt: list[int], target: int) -> torch.Tensor:
    logits = lm.last_logits(torch.tensor([prompt]))[0]  # (V,)
    return F.cross_entropy(logits[None].float(), torch.tensor([target]))


def batch_loss(lm, examples: list[tuple]) -> torch.Tensor:
    """Mean of `example_loss` over (prompt, target) examples, from one right-padded forward pass
    (`lm.last_logits_batch`): the read-out's table and each weight's gradient are read and written
    once per minibatch, not once per example (most of a GD step's cost on Gemma's tied 262,144-word
    table, benchmarks/lm_engine.py). Equal up to float rounding."""
    logits = lm.last_logits_batch([prompt for prompt, _ in examples])  # (B, V)
    return F.cross_entropy(logits.float(), torch.tensor([target for _, target in examples]))


def _sgd_step(weights, lr: float) -> None:
    with torch.no_grad():
        for p, mask in weights.values():
            if p.grad is not None:
                p -= lr * (p.grad * mask if mask is not None else p.grad)
                p.grad = None


def minibatches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Example indices per update: all n in order (batch_size 0 or >= n), else a shuffled epoch."""
    if batch_size <= 0 or batch_size >= n:
        return [list(range(n))]
    order = torch.randperm(n, generator=generator(seed, "misc", epoch)).tolist()
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


@contextlib.contextmanager
def sparse_embedding_gradients(lm, weights: dict):
    """Trained embedding tables take sparse gradients (the rows of the prompt's tokens) while inside:
    a dense one allocates, zeroes and adds the whole (vocabulary, hidden) table per example, most of a
    GD step's cost on Gemma's 262,144-word table (benchmarks/lm_engine.py). The update is the same;
    a table tied to the read-out still gets the read-out's dense gradient added."""
    root = getattr(lm, "model", lm)
    trained = {id(p) for p, _ in weights.values()}
    tables = [m for m in root.modules() if isinstance(m, torch.nn.Embedding) and id(m.weight) in trained
              and not m.sparse] if isinstance(root, torch.nn.Module) else []
    for module in tables:
        module.sparse = True
    try:
        yield
    finally:
        for module in tables:
            module.sparse = False


@contextlib.contextmanager
def finetuned(lm, examples: list[tuple], cfg: FinetuneConfig, before_step=None, loss=example_loss):
    """Finetune in place on (prompt, target) examples; restore every weight on exit.
    dai: `before_step(i)`, if given, runs before example i's forward pass, at the weights that
    example is trained with (Dai's reference records the training examples' queries there).
    `loss(lm, prompt, target)` is one example's loss: by default the LM's next-token
    cross-entropy; a small model passes its task's loss on its own (token, target) examples."""
    weights = trainable(lm, cfg)
    saved = {name: p.detach().clone() for name, (p, _) in weights.items()}
    others = [p for n, p in lm.named_parameters() if n not in weights]
    flags = [p.requires_grad for p in others]
    for p in others:
        p.requires_grad_(False)  # no gradients computed for frozen weights
    try:
        with torch.enable_grad(), sparse_embedding_gradients(lm, weights):
            if cfg.setting == "dai":
                for i, (prompt, target) in enumerate(examples):  # batch 1, one epoch, in demonstration order
                    if before_step is not None:
                        before_step(i)
                    loss(lm, prompt, target).backward()
                    _sgd_step(weights, cfg.lr)
            else:
                for epoch in range(cfg.steps):  # full-batch GD (or one epoch of minibatch SGD) on the mean loss
                    for batch in minibatches(len(examples), cfg.batch_size, cfg.seed, epoch):
                        if loss is example_loss:  # the LM's own loss: the minibatch in one forward pass
                            batch_loss(lm, [examples[i] for i in batch]).backward()
                        else:
                            for i in batch:
                                prompt, target = examples[i]
                                (loss(lm, prompt, target) / len(batch)).backward()
                        _sgd_step(weights, cfg.lr)
        yield lm
    finally:
        with torch.no_grad():
            for name, (p, _) in weights.items():
                p.copy_(saved[name])
                p.grad = None
        for p, flag in zip(others, flags):
            p.requires_grad_(flag)


def pick_lr(lm, examples, lr_grid: tuple[float, ...], cfg: FinetuneConfig, evaluate) -> tuple[float, dict]:
    """The lr of `lr_grid` with the best `evaluate(lm)` (validation accuracy) after finetuning.

    Ties go to the smaller lr. Returns (lr, {lr: score}).
    """
    def score(lr: float) -> float:
        with finetuned(lm, examples, dataclasses.replace(cfg, lr=lr)):
            value = evaluate(lm)
        log.info("finetune %s lr %.3g: validation score %.4f", cfg.setting, lr, value)
        return value

    return choose_lr(lr_grid, score)


def choose_lr(lr_grid: tuple[float, ...], score) -> tuple[float, dict]:
    """The lr of `lr_grid` with the best `score(lr)`, trying them in increasing order; ties go to
    the smaller lr. Returns (lr, {lr: score})."""
    scores = {lr: score(lr) for lr in sorted(lr_grid)}
    return max(scores, key=lambda lr: (scores[lr], -lr)), scores
