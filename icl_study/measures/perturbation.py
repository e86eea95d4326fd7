"""Weights under noise and their sparsity (Shen et al. 2023): ΔL(s) = L(W + s·rms·Z) − L(W) for
relative noise scales s, and the fraction of near-zero entries of the weight matrices."""

from __future__ import annotations

import contextlib
from typing import Callable

import torch

from icl_study.metrics import parameters_rms, perturbed, sparsity
from icl_study.rng import generator


def weight_sparsity(named_parameters, taus: tuple[float, ...]) -> dict[float, float]:
    """{tau: fraction of matrix entries with |w| <= tau max|w|}, each matrix against its own max,
    pooled over every matrix (parameters of 2 or more dims) weighted by its size."""
    matrices = [p.detach() for _, p in named_parameters if p.dim() >= 2]
    total = sum(m.numel() for m in matrices)
    return {tau: sum(sparsity(m, tau).item() * m.numel() for m in matrices) / total for tau in taus}


@contextlib.contextmanager
def noisy_weights(named_parameters, scale: float, gen: torch.Generator):
    """Every parameter W replaced by W + s · rms · Z inside the block, rms being ONE RMS entry over
    all the model's parameters (a per-tensor RMS left all-zero biases of the hand-built
    constructions unperturbed while trained models' biases moved). Z is drawn from `gen` in
    parameter order, so one generator seed is one noise direction at every scale; restored on exit."""
    params = [p for _, p in named_parameters]
    saved = [p.detach().clone() for p in params]
    rms = parameters_rms(params)
    try:
        with torch.no_grad():
            for p in params:
                p.copy_(perturbed(p, scale, torch.randn(p.shape, generator=gen, dtype=p.dtype), rms))
        yield
    finally:
        with torch.no_grad():
            for p, original in zip(params, saved):
                p.copy_(original)


def perturbation_rows(name: str, model, loss_fn: Callable[[], dict[str, float]], scales, n_draws: int,
                      seed: int) -> list[tuple]:
    """(model, scale, draw, metric, value, delta) rows: each metric of `loss_fn()` under noise, and
    its change from the clean weights (ΔL(s) for the loss)."""
    clean = loss_fn()
    rows = [(name, 0.0, 0, metric, value, 0.0) for metric, value in clean.items()]
    for draw in range(n_draws):
        for scale in scales:
            with noisy_weights(model.named_parameters(), scale, generator(seed, "perturb", draw)):
                noisy = loss_fn()
            rows += [(name, scale, draw, m, v, v - clean[m]) for m, v in noisy.items()]
    return rows

