"""Softmax attention against its dual forms, on a layer's own weights and token states.

- `layer_qkv`: every block's scaled q, k, v and attention pattern (float64), read through hooks;
- `query_dual_error`: Ren & Liu's dual model (value / normaliser with m positive random features)
  against the layer's softmax output at the query, per layer;
- Ren & Liu's lens on `named` sources ({name: q, k, v, pattern}, a trained layer or random tokens;
  `cfg` is studies/ren.py's LensConfig): the exact dual identity with shared random features and
  the softmax dual's error (`identity_rows`), gradient descent on the dual loss (`gd_rows`), and the
  dual model trained on N tokens vs its infinite-data limit (`generalisation_rows`);
- `dual_rows` / `exact_dual_error`: Dai et al.'s exact identity for un-normalised linear attention
  (W_ZSL + ΔW_ICL) and how far softmax attention is from its relaxed form, for a language model.
The math lives in icl_study/dual.py.
"""

from __future__ import annotations

import numpy as np
import torch

from icl_study import dual
from icl_study.config import ConfigError
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


def rel_err(estimate: torch.Tensor, exact: torch.Tensor) -> float:
    """||estimate - exact||_F / ||exact||_F over all entries."""
    return float((estimate - exact).norm() / exact.norm())


def identity_rows(named: dict, cfg) -> list[tuple]:
    """The dual prediction W_t phi(q_t) vs un-normalised kernel attention with the same features
    (exact up to rounding), and the softmax dual (value model / normaliser) at the last x-token vs
    the layer's softmax output there, per m and draw."""
    rows = []
    for source, s in named.items():
        proj = dual.draw_features(cfg.identity_features, s["q"].shape[-1], generator(cfg.seed, "misc", 7))
        attention = dual.approx_kernel(s["q"], s["k"], proj) @ s["v"]  # (B, H, T, Dh)
        predicted = dual.dual_predict(dual.dual_weights(s["k"], s["v"], proj), s["q"], proj)
        rows.append((source, cfg.identity_features, 0, "unnormalised_identity", rel_err(predicted, attention)))
        t = s["q"].shape[-2] - 2  # the last x-token: where the model predicts y
        exact = (s["pattern"][..., t : t + 1, :] @ s["v"]).squeeze(-2)  # (B, H, 1, T) @ (B, H, T, Dh): output at t
        q, k, v = s["q"][..., t, :], s["k"][..., : t + 1, :], s["v"][..., : t + 1, :]
        for m in cfg.n_features:
            for draw in range(cfg.n_draws):
                proj = dual.draw_features(m, s["q"].shape[-1], generator(cfg.seed, "misc", 1000 * m + draw))
                rows.append((source, m, draw, "softmax_dual", rel_err(dual.dual_softmax_output(q, k, v, proj), exact)))
    return rows


def gd_rows(named: dict, cfg) -> list[tuple]:
    """GD on the dual loss over the demonstrations i < t (t: last x-token), from W_0 = the query's
    own pair; both dual models (values and normaliser) stacked as W (B, H, Dh + 1, m)."""
    rows = []
    for source, s in named.items():
        t = s["q"].shape[-2] - 2  # the last x-token: where the model predicts y
        values = torch.cat([s["v"], torch.ones_like(s["v"][..., :1])], -1)  # (B, H, T, Dh + 1)
        proj = dual.draw_features(cfg.gd_features, s["q"].shape[-1], generator(cfg.seed, "misc", 8))
        phi_q = dual.positive_features(s["q"][..., t, :], proj)  # (B, H, m)
        w0 = values[..., t, :, None] * dual.positive_features(s["k"][..., t, :], proj)[..., None, :]
        target = (s["pattern"][..., t : t + 1, :] @ s["v"]).squeeze(-2)  # (B, H, 1, T) @ (B, H, T, Dh): output at t
        for lr, alpha in cfg.gd_settings:
            path = dual.gd_trajectory(w0, s["k"][..., :t, :], values[..., :t, :], proj, cfg.gd_steps, lr, alpha)
            for step, weight in enumerate(path):
                both = (weight @ phi_q.unsqueeze(-1)).squeeze(-1)  # (B, H, Dh + 1)
                rows.append((source, f"lr={lr:g}, α={alpha:g}", step, rel_err(both[..., :-1] / both[..., -1:], target)))
    return rows


def generalisation_rows(source: str, pool: dict[str, torch.Tensor], cfg) -> list[tuple]:
    """Held-out error of the dual model trained on N random tokens vs its infinite-data limit.

    W_N = (1/N) sum_{i<=N} [v_i; 1] phi(k_i)^T (one GD step, learning rate 1/N); W_inf: the same
    mean over the whole pool (minus the held-out tokens). RMS over held-out queries of the
    prediction's distance to the limit's, in units of the values' RMS norm (the limit itself can be
    ~0 for zero-mean values): softmax (value rows / normaliser row) and un-normalised (W phi(q),
    further divided by the RMS of the limit's normaliser, the kernel's scale).
    """
    gen = generator(cfg.seed, "misc", 9)
    n_heads, n_tokens, d_head = pool["q"].shape
    proj = dual.draw_features(cfg.gen_features, d_head, gen)
    if cfg.gen_test_tokens + max(cfg.gen_ns) > n_tokens:
        raise ConfigError(f"ren.lens.gen_test_tokens + max(gen_ns) exceeds the {n_tokens} pooled tokens: raise gen_pool_sequences")
    rows = []
    for head in range(n_heads):
        order = torch.randperm(n_tokens, generator=gen)
        test, train = order[: cfg.gen_test_tokens], order[cfg.gen_test_tokens:]
        values = torch.cat([pool["v"][head], torch.ones(n_tokens, 1, dtype=torch.float64)], -1)[train]  # (P', Dh + 1)
        phi_k = dual.positive_features(pool["k"][head][train], proj)  # (P', m)
        phi_test = dual.positive_features(pool["q"][head][test], proj)  # (Q, m)
        limit = (values.T @ phi_k / len(train)) @ phi_test.T  # (Dh + 1, Q): W_inf phi(q)
        v_scale = values[:, :-1].pow(2).sum(-1).mean().sqrt()
        k_scale = limit[-1].pow(2).mean().sqrt()
        for n in cfg.gen_ns:
            picks = torch.stack([torch.randperm(len(train), generator=gen)[:n] for _ in range(cfg.gen_repeats)])  # (R, N)
            preds = (values[picks].transpose(1, 2) @ phi_k[picks] / n) @ phi_test.T  # (R, Dh + 1, m) -> (R, Dh + 1, Q)
            for repeat, pred in enumerate(preds):
                softmax_gap = pred[:-1] / pred[-1:] - limit[:-1] / limit[-1:]  # (Dh, Q)
                rows += [(source, head, n, repeat, "unnormalised", float(_rms(pred[:-1] - limit[:-1]) / (v_scale * k_scale))),
                         (source, head, n, repeat, "softmax", float(_rms(softmax_gap) / v_scale))]
    return rows


def _rms(columns: torch.Tensor) -> torch.Tensor:
    """RMS over columns (queries) of the column vectors' norms: (D, Q) -> scalar."""
    return columns.pow(2).sum(0).mean().sqrt()
