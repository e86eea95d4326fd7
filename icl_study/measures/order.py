"""Order sensitivity: the same demonstrations in other orders (Shen et al. 2023; the lenses).

Permutations keep the query last; the spread over orders is `metrics.order_spread`.
"""

from __future__ import annotations

import torch

from icl_study.metrics import order_spread


def permuted_contexts(xs: torch.Tensor, ys: torch.Tensor, n_perms: int, gen: torch.Generator):
    """(P, B, N+1, d), (P, B, N+1): the N context pairs of each task permuted P ways (the first
    the identity), the query (last pair) kept in place."""
    B, n = ys.shape
    perms = torch.rand(n_perms, B, n - 1, generator=gen).argsort(-1)  # (P, B, N)
    perms[0] = torch.arange(n - 1)
    perms = torch.cat([perms, torch.full((n_perms, B, 1), n - 1)], dim=-1)  # (P, B, N+1)
    xs_p = xs.unsqueeze(0).expand(n_perms, -1, -1, -1).gather(2, perms.unsqueeze(-1).expand(-1, -1, -1, xs.shape[-1]))
    return xs_p, ys.unsqueeze(0).expand(n_perms, -1, -1).gather(2, perms)


def demo_orders(n: int, n_orders: int, gen: torch.Generator) -> list[list[int]]:
    """The drawn order first, then n_orders - 1 random permutations of range(n)."""
    return [list(range(n))] + [torch.randperm(n, generator=gen).tolist() for _ in range(n_orders - 1)]


def permute_pairs(tokens: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Reorder the N (x, target) token pairs of (B, 2N + 1, D) prompts by perm (B, N); query stays last."""
    B, T, D = tokens.shape
    pairs = torch.stack((2 * perm, 2 * perm + 1), dim=-1).view(B, T - 1)  # (B, N, 2) -> (B, 2N) positions
    index = torch.cat([pairs, torch.full((B, 1), T - 1)], dim=1)  # (B, 2N + 1)
    return tokens.gather(1, index.unsqueeze(-1).expand(B, T, D))


def bursty_order_measures(logits: torch.Tensor, targets: torch.Tensor, demo_targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-episode order measures from logits (P, B, L) over P orders: `pred_spread`, the spread of
    p(true label) (B,); `logp_spread_correct`, the spread of log p(true label) among the episodes
    answered correctly (argmax among the context's labels) in every order, (n_correct,).

    The fraction of episodes whose label flips with order is bounded by the error rate,
    so it tracks accuracy by construction; the second measure is not a function of accuracy."""
    logp = logits.log_softmax(-1).gather(2, targets[None, :, None].expand(len(logits), -1, 1))[..., 0]  # (P, B)
    in_context = torch.zeros_like(logits[0], dtype=torch.bool).scatter(1, demo_targets, True)  # (B, L)
    labels = logits.masked_fill(~in_context, float("-inf")).argmax(-1)  # (P, B)
    correct_always = (labels == targets).all(0)  # (B,)
    return {"pred_spread": order_spread(logp.exp()),
            "logp_spread_correct": order_spread(logp)[correct_always]}
