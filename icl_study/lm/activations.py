"""Per-layer activations at the last prompt token, one interface for HF models and pipeline-gpt.

`last_token_activations(lm, ids)` returns, for every layer l:
- `attn_out` (L, C): the attention block's output (after its output projection) at the last token;
- `q` (L, H, Dh): the last token's query vector (after RoPE for Llama-like models);
- `scores` (L, H, T): its pre-softmax attention scores q.k * scale over every position.
Callers pick token spans from `scores` (e.g. the demonstrations or the zero-shot part).

For Hugging Face models the attention function itself is wrapped for the duration of the call
(q and k as the model computes them, keys repeated over query groups for GQA); for pipeline-gpt
the named hook points of icl_study/model.py are read.
"""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def _capture_hf(lm, store: dict):
    """Wrap the sdpa attention function and hook every attention module, then undo both."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    original = ALL_ATTENTION_FUNCTIONS["sdpa"]

    def wrapped(module, query, key, value, attention_mask, scaling=None, **kwargs):
        # query (B, H, T, Dh); key (B, Hkv, S, Dh) with H a multiple of Hkv (grouped-query attention)
        q_last = query[0, :, -1]  # (H, Dh)
        keys = key[0].repeat_interleave(query.shape[1] // key.shape[1], dim=0)  # (H, S, Dh)
        scale = scaling if scaling is not None else query.shape[-1] ** -0.5
        store.setdefault("q", {})[module.layer_idx] = q_last.detach()
        store.setdefault("scores", {})[module.layer_idx] = (keys @ q_last[:, :, None])[..., 0].detach() * scale
        return original(module, query, key, value, attention_mask, scaling=scaling, **kwargs)

    def out_hook(module, _inputs, output):
        store.setdefault("attn_out", {})[module.layer_idx] = output[0][0, -1].detach()

    modules = [m for m in lm.model.modules() if type(m).__name__.endswith("Attention") and hasattr(m, "layer_idx")]
    handles = [m.register_forward_hook(out_hook) for m in modules]
    ALL_ATTENTION_FUNCTIONS["sdpa"] = wrapped
    try:
        yield
    finally:
        del ALL_ATTENTION_FUNCTIONS["sdpa"]  # drops the local override: the library's function is back
        for handle in handles:
            handle.remove()


def _pipeline(lm, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    from icl_study.hooks import run_with_cache

    names = lambda n: n.endswith(("attn.hook_q", "attn.hook_scores", "hook_attn_out"))  # noqa: E731
    _, cache = run_with_cache(lm.model, ids, names=names)
    layers = range(lm.n_layer)
    return {"attn_out": torch.stack([cache[f"blocks.{i}.hook_attn_out"][0, -1] for i in layers]),
            "q": torch.stack([cache[f"blocks.{i}.attn.hook_q"][0, :, -1] for i in layers]),
            "scores": torch.stack([cache[f"blocks.{i}.attn.hook_scores"][0, :, -1] for i in layers])}


@torch.no_grad()
def last_token_activations(lm, ids: list[int]) -> dict[str, torch.Tensor]:
    """{attn_out (L, C), q (L, H, Dh), scores (L, H, T)} at the last of `ids` (one sequence)."""
    batch = torch.tensor([ids])  # (1, T)
    if lm.kind == "pipeline":
        return _pipeline(lm, batch)
    store: dict = {}
    with _capture_hf(lm, store):
        lm.model(input_ids=batch, use_cache=False)
    return {name: torch.stack([per_layer[i] for i in range(lm.n_layer)]) for name, per_layer in store.items()}
