"""Hand-built gradient descent in linear self-attention (von Oswald et al. 2023), as `GPT` weights.

Two constructions, both on the shared `GPT` with `attention: linear`, `layer_norm: false`,
`d_mlp: 0`, `positions: none`, for a fixed context of N = n - 1 pairs and one query (the last):

- `one_step_gd_model`: von Oswald et al.'s single layer on `pair_tokens` (e_j = (x_j, y_j), query
  (x_q, 0)). Q = K read x, V reads y, the projection writes η √Dh / N into the query's y-slot, so
  the read-out is (η/N) Σ_j y_j x_j·x_q: one GD step from w = 0 on L(w) = 1/(2N) Σ (w·x_j − y_j)².
- `multi_step_gd_model`: L GD steps in L + 1 layers on `stack_tokens`. von Oswald et al.'s multi-step
  construction updates every context token's residual using all other context tokens, which a
  causal mask forbids. So here the query token carries the iterate w itself (in extra residual
  slots) and each layer adds (η/N)(Xᵀy − XᵀX w) with two heads; a last layer reads out w·x_q.
  To keep the query's own token out of those sums, its x sits in separate slots (`stack_tokens`).

Both are exact (up to float rounding) against `icl_study.baselines.gradient_descent` at the query;
tests/unit/test_gd_construction.py pins that in float64. The GD-critique study reuses these weights.
"""

from __future__ import annotations

import math

import torch

from icl_study.config import ModelConfig
from icl_study.model import GPT
from icl_study.studies.linreg_plan import lsa_model
from icl_study.tasks.regression import pair_tokens


def lsa_config(n_dims: int, n_points: int, d_model: int | None = None) -> ModelConfig:
    """The one-layer, one-head linear self-attention on `pair_tokens` (also the trained LSA's shape).

    d_model defaults to the token width d + 1 (von Oswald et al.); a wider residual stream only
    adds unused coordinates to the construction.
    """
    return ModelConfig(**lsa_model(n_dims, n_points, d_model))


def _zeroed(cfg: ModelConfig, dtype: torch.dtype) -> GPT:
    model = GPT(cfg).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model.eval()


def one_step_gd_model(n_dims: int, n_points: int, lr: float, dtype: torch.dtype = torch.float32,
                      d_model: int | None = None) -> GPT:
    """A 1-layer LSA whose query prediction is one GD step (learning rate `lr`) from w = 0."""
    d, n_context = n_dims, n_points - 1
    model = _zeroed(lsa_config(n_dims, n_points, d_model), dtype)
    C = model.cfg.d_model  # one head: Dh = C
    with torch.no_grad():
        model.read_in.weight[: d + 1].copy_(torch.eye(d + 1))  # residual stream = the token, then zeros
        qkv = model.blocks[0].attn.qkv.weight  # (3C, C): rows [Q; K; V]
        qkv[:d, :d] = torch.eye(d)  # Q reads x
        qkv[C:C + d, :d] = torch.eye(d)  # K reads x
        qkv[2 * C + d, d] = 1.0  # V reads y into the y-slot
        # Scores are divided by √Dh inside attention; undo that and apply the GD step size η/N.
        model.blocks[0].attn.proj.weight[d, d] = lr * math.sqrt(C) / n_context
        model.read_out.weight[0, d] = 1.0  # predict the query's y-slot
    return model


def stack_tokens(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """`pair_tokens` with the query's x moved to its own slots: (B, n, d), (B, n) -> (B, n, 2d + 1).

    Context token j: (x_j, y_j, 0_d); query: (0_d, 0, x_q).
    """
    d = xs.shape[-1]
    pairs = pair_tokens(xs, ys)  # (B, n, d + 1)
    tokens = torch.cat((pairs, torch.zeros_like(xs)), dim=-1)  # (B, n, 2d + 1)
    tokens[:, -1, d + 1:] = pairs[:, -1, :d]
    tokens[:, -1, :d] = 0.0
    return tokens


def stack_config(n_dims: int, n_points: int, steps: int) -> ModelConfig:
    """Shape of the L-step stack: slots x | y | x_q | w | prediction, width rounded up to even."""
    width = 3 * n_dims + 2
    return ModelConfig(n_layer=steps + 1, n_head=2, d_model=width + width % 2, d_mlp=0,
                       n_positions=n_points, attention="linear", layer_norm=False,
                       n_dims_in=2 * n_dims + 1, n_dims_out=1, positions="none")


def multi_step_gd_model(n_dims: int, n_points: int, lr: float, steps: int,
                        dtype: torch.dtype = torch.float32) -> GPT:
    """`steps` GD layers plus a read-out layer; predicts `steps` GD steps from w = 0 at the query."""
    d, n_context = n_dims, n_points - 1
    cfg = stack_config(n_dims, n_points, steps)
    model = _zeroed(cfg, dtype)
    C, Dh = cfg.d_model, cfg.d_model // 2
    x, y, xq, w, pred = slice(0, d), d, slice(d + 1, 2 * d + 1), slice(2 * d + 1, 3 * d + 1), 3 * d + 1
    eye, step = torch.eye(d, dtype=dtype), lr / n_context * math.sqrt(Dh)  # √Dh undoes the score scaling
    with torch.no_grad():
        model.read_in.weight[: 2 * d + 1, :] = torch.eye(2 * d + 1)
        for block in model.blocks[:steps]:
            W, b, P = block.attn.qkv.weight, block.attn.qkv.bias, block.attn.proj.weight  # (3C, C), (3C,), (C, C)
            # Head A (dims 0..Dh-1): q = w, k = x, v = x  ->  Σ_j (w·x_j) x_j / √Dh = XᵀX w / √Dh
            W[0:d, w], W[C:C + d, x], W[2 * C:2 * C + d, x] = eye, eye, eye
            # Head B (dims Dh..2Dh-1): q = 1 (bias), k = y, v = x  ->  Σ_j y_j x_j / √Dh = Xᵀy / √Dh
            b[Dh] = 1.0
            W[C + Dh, y] = 1.0
            W[2 * C + Dh:2 * C + Dh + d, x] = eye
            # w <- w + (η/N) (Xᵀy − XᵀX w): one GD step on the mean squared loss
            P[w, 0:d], P[w, Dh:Dh + d] = -step * eye, step * eye
        W, b, P = model.blocks[-1].attn.qkv.weight, model.blocks[-1].attn.qkv.bias, model.blocks[-1].attn.proj.weight
        # Read-out layer: q = w, k = x_q (zero for every context token), v = 1  ->  w·x_q / √Dh
        W[0:d, w], W[C:C + d, xq] = eye, eye
        b[2 * C] = 1.0
        P[pred, 0] = math.sqrt(Dh)
        model.read_out.weight[0, pred] = 1.0
    return model


def predict_stack(model: GPT, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """The stack's prediction (B,) for y_n from the n - 1 pairs before it."""
    return model(stack_tokens(xs, ys))[:, -1, 0]


def optimal_one_step_lr(xs: torch.Tensor, ys: torch.Tensor) -> float:
    """The η minimising the query's squared error of one GD step, in closed form on given tasks.

    One step predicts η·a with a = (1/N) Σ_j y_j x_j·x_q, so the least-squares η is E[a y]/E[a²].
    """
    a = torch.einsum("bnd,bn,bd->b", xs[:, :-1], ys[:, :-1], xs[:, -1]) / (xs.shape[1] - 1)  # (B,)
    return ((a * ys[:, -1]).sum() / (a * a).sum()).item()
