"""Softmax attention against its dual forms, on a layer's own weights and token states.

- `layer_qkv`: every block's scaled q, k, v and attention pattern (float64), read through hooks;
- `query_dual_error`: Ren & Liu's dual model (value / normaliser with m positive random features)
  against the layer's softmax output at the query, per layer;
- `dual_rows` / `exact_dual_error`: Dai et al.'s exact identity for un-normalised linear attention
  (W_ZSL + ΔW_ICL) and how far softmax attention is from its relaxed form, for a language model.
The math lives in icl_study/dual.py.
"""

from __future__ import annotations

import numpy as np
import torch

from icl_study import dual
from icl_study.hooks import run_with_cache
from icl_study.rng import generator


def layer_qkv(model, tokens: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """Per block: q, k (scaled by Dh^-1/4 each), v as float64 (B, H, T, Dh), and the layer's pattern."""
    _, cache = run_with_cache(model, tokens, names=lambda n: ".attn.hook_" in n)
    layers = []
    for i in range(len(model.blocks)):
        q, k = dual.scale_qk(cache[f"blocks.{i}.attn.hook_q"].double(), cache[f"blocks.{i}.attn.hook_k"].double())
        layers.append({"q": q, "k": k, "v": cache[f"blocks.{i}.attn.hook_v"].double(),
                       "pattern": cache[f"blocks.{i}.attn.hook_pattern"].double()})
    return layers


def projections(lm, layer: int) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """((W, b) for q, k, v) of one layer in float64, rows grouped by head (b zeros if absent)."""
    if lm.kind == "pipeline":
        qkv = lm.model.blocks[layer].attn.qkv
        return tuple(zip(qkv.weight.double().chunk(3), qkv.bias.double().chunk(3)))
    attn = lm.model.model.layers[layer].self_attn  # Llama-like: q_proj, k_proj, v_proj
    out = []
    for proj in (attn.q_proj, attn.k_proj, attn.v_proj):
        bias = proj.bias if proj.bias is not None else torch.zeros(proj.weight.shape[0])
        out.append((proj.weight.double(), bias.double()))
    return tuple(out)


def exact_dual_error(lm, layer: int, x_demo: torch.Tensor, x_zs: torch.Tensor, n_head: int) -> tuple[float, float]:
    """max |W_V X (W_K X)^T q - (W_ZSL + dW_ICL) q| over heads in float64, on the layer's own
    weights and token states (no RoPE: the un-normalised linear attention of the projections);
    also the largest |output| for scale."""
    (wq, bq), (wk, bk), (wv, bv) = projections(lm, layer)
    x_demo, x_zs = x_demo.double(), x_zs.double()
    q = (x_zs[-1] @ wq.T + bq).view(n_head, -1)  # (H, Dh) the last token's queries
    k_demo, k_zs = ((x @ wk.T + bk).view(len(x), -1, q.shape[-1]) for x in (x_demo, x_zs))  # (T, Hkv, Dh)
    v_demo, v_zs = ((x @ wv.T + bv).view(len(x), -1, q.shape[-1]) for x in (x_demo, x_zs))
    group = n_head // k_demo.shape[1]  # grouped-query attention: heads per key/value head
    err, scale = 0.0, 0.0
    for h in range(n_head):
        g = h // group
        full = dual.linear_attention(q[h], torch.cat([k_demo[:, g], k_zs[:, g]]), torch.cat([v_demo[:, g], v_zs[:, g]]))
        w_zsl, dw_icl = dual.dai_dual_weights(k_demo[:, g], v_demo[:, g], k_zs[:, g], v_zs[:, g])
        err = max(err, float((full - (w_zsl @ q[h] + dw_icl @ q[h])).abs().max()))
        scale = max(scale, float(full.abs().max()))
    return err, scale


def dual_rows(lm, icl_full: dict, prefix_x: torch.Tensor) -> np.ndarray:
    """(L, len(DUAL_METRICS)) from one ICL prompt's full activations."""
    n_head, d_head = icl_full["q"].shape[1:]
    rel, cos = dual.relaxation_error(icl_full["q"].double(), icl_full["k"].double(), icl_full["v"].double(), d_head ** -0.5)
    rows = []
    for layer in range(len(rel)):
        err, scale = exact_dual_error(lm, layer, prefix_x[layer], icl_full["x"][layer], n_head)
        rows.append([float(rel[layer]), float(cos[layer]), err, scale])
    return np.array(rows)


def query_dual_error(model, tokens: torch.Tensor, n_features: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, at the query (last position): ||dual − attention|| / ||attention|| over heads (B,),
    and the median ||q + k||² over the query's keys (B,), which sets the feature estimator's variance."""
    with torch.no_grad():
        layers = layer_qkv(model, tokens)
    out = []
    for i, s in enumerate(layers):
        q, k, v = s["q"][..., -1, :], s["k"], s["v"]  # the query (B, H, Dh) over every token up to it
        exact = (s["pattern"][..., -1:, :] @ v).squeeze(-2)  # (B, H, 1, T) @ (B, H, T, Dh) -> (B, H, Dh)
        proj = dual.draw_features(n_features, q.shape[-1], generator(seed, "misc", i))
        approx = dual.dual_softmax_output(q, k, v, proj)
        rel = (approx - exact).flatten(1).norm(dim=1) / exact.flatten(1).norm(dim=1)  # (B,)
        spread = (q.unsqueeze(-2) + k).pow(2).sum(-1).flatten(1).median(dim=1).values  # (B,)
        out.append((rel, spread))
    return out
