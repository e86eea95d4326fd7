"""Ren & Liu's dual model of a softmax attention layer, as pure tensor functions.

Positive random features (Choromanski et al.'s FAVOR+ features) make the exponential kernel an
inner product: phi(x) = exp(W x - ||x||^2 / 2) / sqrt(m) with the m rows of W ~ N(0, I), so
E[phi(q)^T phi(k)] = exp(q^T k) exactly. With them an attention head is a linear *dual model*
f(x) = W phi(x): one gradient step from W_0 with learning rate 1 on the representation-alignment
loss

    L(W) = - sum_i (W_V x_i)^T W phi(W_K x_i)         (+ alpha/2 ||W||_F^2 when regularised)

gives W = W_0 + sum_i v_i phi(k_i)^T, whose prediction W phi(q) at a query is the (un-normalised)
kernel attention output sum_i v_i phi(k_i)^T phi(q). Softmax attention divides by the same dual
model with values 1 (the normaliser). Scores use q^T k / sqrt(Dh), so q and k are both scaled by
Dh^(-1/4) before the features (`scale_qk`).

Shapes: q, k (..., T, D) queries/keys, v (..., T, Dv) values, features (..., T, m).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def draw_features(n_features: int, dim: int, generator: torch.Generator, dtype=torch.float64) -> Tensor:
    """The random projection W (m, D), rows ~ N(0, I): one draw of the feature map."""
    return torch.randn(n_features, dim, generator=generator, dtype=dtype)


def positive_features(x: Tensor, projection: Tensor) -> Tensor:
    """phi(x) = exp(W x - ||x||^2 / 2) / sqrt(m): (..., T, D) -> (..., T, m), all entries > 0."""
    m = projection.shape[0]
    return torch.exp(x @ projection.T - 0.5 * x.pow(2).sum(-1, keepdim=True)) / math.sqrt(m)


def scale_qk(q: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    """q, k scaled by Dh^(-1/4) each, so exp(q'^T k') = exp(q^T k / sqrt(Dh)), the layer's weight."""
    factor = q.shape[-1] ** -0.25
    return q * factor, k * factor


def causal_mask(T: int, device=None) -> Tensor:
    """(T, T) booleans, True where key j <= query i."""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def exact_kernel(q: Tensor, k: Tensor) -> Tensor:
    """Causal exp(q_i^T k_j): (..., T, D) x2 -> (..., T, T), zero above the diagonal."""
    return torch.exp(q @ k.transpose(-2, -1)) * causal_mask(q.shape[-2], q.device)


def approx_kernel(q: Tensor, k: Tensor, projection: Tensor) -> Tensor:
    """Causal phi(q_i)^T phi(k_j): the random-feature estimate of `exact_kernel`."""
    phi_q, phi_k = positive_features(q, projection), positive_features(k, projection)
    return (phi_q @ phi_k.transpose(-2, -1)) * causal_mask(q.shape[-2], q.device)


def normalise(kernel: Tensor) -> Tensor:
    """Softmax attention pattern from a causal kernel matrix: rows divided by their sums."""
    return kernel / kernel.sum(-1, keepdim=True)


def dual_weights(k: Tensor, v: Tensor, projection: Tensor) -> Tensor:
    """Prefix dual weights W_t = sum_{i<=t} v_i phi(k_i)^T: (..., T, Dv, m), one per query t.

    This is one GD step from W_0 = 0 (learning rate 1) on the alignment loss over tokens 1..t.
    """
    outer = v.unsqueeze(-1) * positive_features(k, projection).unsqueeze(-2)  # (..., T, Dv, m)
    return outer.cumsum(dim=-3)  # causal: query t sees tokens up to t


def dual_weight(k: Tensor, v: Tensor, projection: Tensor) -> Tensor:
    """One dual model trained on all given tokens: W = sum_i v_i phi(k_i)^T, (..., Dv, m)."""
    return v.transpose(-2, -1) @ positive_features(k, projection)  # (..., Dv, N) @ (..., N, m)


def dual_predict(weights: Tensor, q: Tensor, projection: Tensor) -> Tensor:
    """Test prediction W_t phi(q_t) of each query's dual model: (..., T, Dv, m) -> (..., T, Dv)."""
    return (weights @ positive_features(q, projection).unsqueeze(-1)).squeeze(-1)


def dual_softmax_output(q: Tensor, k: Tensor, v: Tensor, projection: Tensor) -> Tensor:
    """Softmax attention of one query q (..., D) over tokens k, v (..., N, .) through two dual
    models stacked as W (..., Dv + 1, m): value model / normaliser model (values 1)."""
    weight = dual_weight(k, torch.cat([v, torch.ones_like(v[..., :1])], -1), projection)
    both = (weight @ positive_features(q, projection).unsqueeze(-1)).squeeze(-1)  # (..., Dv + 1)
    return both[..., :-1] / both[..., -1:]  # (..., Dv)


def alignment_loss(weight: Tensor, k: Tensor, v: Tensor, projection: Tensor, reg_alpha: float = 0.0) -> Tensor:
    """L(W) = -sum_i v_i^T W phi(k_i) + reg_alpha/2 ||W||_F^2, summed over independent dual models.

    weight (..., Dv, m); k (..., N, D) and v (..., N, Dv): the N demonstration tokens of each model.
    """
    phi_k = positive_features(k, projection)  # (..., N, m)
    return -torch.einsum("...nv,...vm,...nm->", v, weight, phi_k) + 0.5 * reg_alpha * weight.pow(2).sum()


def alignment_grad(weight: Tensor, moment: Tensor, reg_alpha: float = 0.0) -> Tensor:
    """dL/dW = reg_alpha W - moment, where moment = sum_i v_i phi(k_i)^T = `dual_weight(k, v, projection)`
    (..., Dv, m): the loss is linear in the demonstrations (tests check this against autograd)."""
    return reg_alpha * weight - moment


def gd_trajectory(w0: Tensor, k: Tensor, v: Tensor, projection: Tensor, steps: int, lr: float,
                  reg_alpha: float = 0.0) -> list[Tensor]:
    """[W_0, W_1, ..., W_steps]: plain gradient descent on `alignment_loss`."""
    moment = dual_weight(k, v, projection)  # (..., Dv, m), computed once: the gradient depends on it only
    weights = [w0.clone()]
    for _ in range(steps):
        weights.append(weights[-1] - lr * alignment_grad(weights[-1], moment, reg_alpha))
    return weights


def fit_inverse_sqrt(n: Tensor, err: Tensor) -> tuple[float, float, float]:
    """Least-squares fits: c for err ~ c / sqrt(n), and (a, p) for err ~ a n^(-p) in log-log.

    Solved in exact rational arithmetic on the float64 inputs (a handful of points), so the fit is
    the correctly rounded solution and identical in every process: LAPACK's lstsq varied in the
    last digits from run to run on the same table."""
    from fractions import Fraction

    ns, errs = n.double().tolist(), err.double().tolist()
    basis = [Fraction(1.0 / math.sqrt(v)) for v in ns]
    c = sum(b * Fraction(e) for b, e in zip(basis, errs)) / sum(b * b for b in basis)
    x = [Fraction(-math.log(v)) for v in ns]  # log err = log a + p (-log n)
    y = [Fraction(math.log(e)) for e in errs]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    p = sum((xi - mx) * (yi - my) for xi, yi in zip(x, y)) / sum((xi - mx) ** 2 for xi in x)
    return float(c), math.exp(float(my - p * mx)), float(p)


# --- Dai et al. (2022): the exact dual form of un-normalised linear attention --------------------
# With demonstration tokens X' and zero-shot tokens X, keys k_i = W_K x_i and values v_i = W_V x_i,
# linear attention at query q is F_ICL(q) = sum_i v_i k_i^T q over [X', X], which splits exactly into
# W_ZSL q + dW_ICL q with W_ZSL = sum_{x in X} v k^T (the zero-shot weights) and
# dW_ICL = sum_{x' in X'} v' k'^T (the demonstrations' meta-gradient update). Softmax attention
# only relaxes to this form (dropping the softmax and the 1/sqrt(Dh) scale).
# Shapes: k (T, Dk), v (T, Dv), q (Dk,) or (..., Dk).


def linear_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Un-normalised linear attention sum_i v_i (k_i . q): (..., Dk) -> (..., Dv)."""
    return (q @ k.T) @ v


def dai_dual_weights(k_demo: Tensor, v_demo: Tensor, k_zs: Tensor, v_zs: Tensor) -> tuple[Tensor, Tensor]:
    """(W_ZSL, dW_ICL), each (Dv, Dk): sums of outer products v k^T over each span's tokens."""
    return v_zs.T @ k_zs, v_demo.T @ k_demo


def relaxation_error(q: Tensor, k: Tensor, v: Tensor, scale: float) -> tuple[Tensor, Tensor]:
    """How far Dai's relaxed (linear) form is from the true softmax output of a layer's heads.

    q (..., H, Dk) the last token's queries, k (..., H, T, Dk), v (..., H, T, Dv). Returns, per leading
    index, (||lin - soft|| / ||soft||, cosine(lin, soft)) over the heads' concatenated outputs, where
    soft = softmax(scale * k q) v and lin = (k q) v.
    """
    scores = (k @ q[..., None])[..., 0]  # (..., H, T)
    soft = ((scale * scores).softmax(-1)[..., None, :] @ v)[..., 0, :].flatten(-2)  # (..., H * Dv)
    lin = (scores[..., None, :] @ v)[..., 0, :].flatten(-2)
    rel = (lin - soft).norm(dim=-1) / soft.norm(dim=-1)
    cos = (lin * soft).sum(-1) / (lin.norm(dim=-1) * soft.norm(dim=-1))
    return rel, cos
