"""Per-layer activations at the last prompt token, one interface for HF models and pipeline-gpt.

`last_token_activations(lm, ids)` returns, for every layer l:
- `attn_out` (L, C): the attention block's output (after its output projection) at the last token;
- `q` (L, H, Dh): the last token's query vector (after RoPE for Llama-like models);
- `scores` (L, H, T): its pre-softmax attention scores q.k * scale over every position.
- `logits` (V,): the next-token logits after the last token.
Callers pick token spans from `scores` (e.g. the demonstrations or the zero-shot part).

With `full=True` it also returns, per layer, `x` (L, T, C) the attention block's input states,
`q_all` (L, H, T, Dh) every new token's query, and `k`, `v` (L, H, S, Dh) every key and value the
last token attends to. With `cache` (from `lm.prefix_cache(prefix)`) the call runs only `ids` after
the cached prefix (T = len(ids), S = prefix + T) and leaves the cache as it found it.

For Hugging Face models the attention function itself is wrapped for the duration of the call
(q and k as the model computes them, keys repeated over query groups for GQA); for pipeline-gpt
the named hook points of icl_study/model.py are read.

A model whose tokenizer adds BOS (`lm.bos`) gets it in front of a sequence run from its start; the
returned per-position tensors leave its position out, so positions are the caller's own tokens.

`read_out=ids` returns the logits of those tokens only, in that order, and skips the vocabulary
read-out: on Gemma (262,144 words) that matrix-vector product reads the whole 672 MB table, about
as much as the rest of a short query's forward, and Dai's predictions need only the label words.
"""

from __future__ import annotations

import contextlib

import torch

from icl_study.hooks import run_with_cache, stack_blocks


@contextlib.contextmanager
def _capture_hf(lm, store: dict, full: bool = False):
    """Wrap the sdpa attention function and hook every attention module, then undo both."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS  # lazy: transformers takes seconds; pipeline-gpt never needs it

    original = ALL_ATTENTION_FUNCTIONS["sdpa"]

    def wrapped(module, query, key, value, attention_mask, scaling=None, **kwargs):
        # query (B, H, T, Dh); key (B, Hkv, S, Dh) with H a multiple of Hkv (grouped-query attention)
        q_last = query[0, :, -1]  # (H, Dh)
        keys = key[0].repeat_interleave(query.shape[1] // key.shape[1], dim=0)  # (H, S, Dh)
        scale = scaling if scaling is not None else query.shape[-1] ** -0.5
        store.setdefault("q", {})[module.layer_idx] = q_last.detach()
        store.setdefault("scores", {})[module.layer_idx] = (keys @ q_last[:, :, None])[..., 0].detach() * scale
        if full:
            store.setdefault("q_all", {})[module.layer_idx] = query[0].detach()
            store.setdefault("k", {})[module.layer_idx] = keys.detach()
            store.setdefault("v", {})[module.layer_idx] = value[0].repeat_interleave(
                query.shape[1] // value.shape[1], dim=0).detach()
        return original(module, query, key, value, attention_mask, scaling=scaling, **kwargs)

    def out_hook(module, _inputs, output):
        store.setdefault("attn_out", {})[module.layer_idx] = output[0][0, -1].detach()

    def in_hook(module, args, kwargs):
        states = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]  # (1, T, C)
        store.setdefault("x", {})[module.layer_idx] = states[0].detach()

    modules = [m for m in lm.model.modules() if type(m).__name__.endswith("Attention") and hasattr(m, "layer_idx")]
    handles = [m.register_forward_hook(out_hook) for m in modules]
    if full:
        handles += [m.register_forward_pre_hook(in_hook, with_kwargs=True) for m in modules]
    ALL_ATTENTION_FUNCTIONS["sdpa"] = wrapped
    try:
        yield
    finally:
        del ALL_ATTENTION_FUNCTIONS["sdpa"]  # drops the local override: the library's function is back
        for handle in handles:
            handle.remove()


def _pipeline(lm, ids: torch.Tensor, full: bool) -> dict[str, torch.Tensor]:
    wanted = ("attn.hook_q", "attn.hook_scores", "hook_attn_out")
    wanted += ("attn.hook_k", "attn.hook_v", "hook_resid_pre") if full else ()
    logits, cache = run_with_cache(lm.model, ids, names=lambda n: n.endswith(wanted))
    layers = range(lm.n_layer)
    per_layer = lambda name, index: stack_blocks(cache, name, layers, lambda t: t[index])  # noqa: E731
    acts = {"attn_out": per_layer("hook_attn_out", (0, -1)), "q": per_layer("attn.hook_q", (0, slice(None), -1)),
            "scores": per_layer("attn.hook_scores", (0, slice(None), -1)), "logits": logits[0, -1]}
    if full:
        acts |= {"q_all": per_layer("attn.hook_q", 0), "k": per_layer("attn.hook_k", 0), "v": per_layer("attn.hook_v", 0),
                 "x": torch.stack([lm.model.blocks[i].ln1(cache[f"blocks.{i}.hook_resid_pre"][0]) for i in layers])}
    return acts


@torch.no_grad()
def last_token_activations(lm, ids: list[int], cache=None, full: bool = False,
                           read_out: list[int] | None = None) -> dict[str, torch.Tensor]:
    """{attn_out (L, C), q (L, H, Dh), scores (L, H, S), logits (V,)} at the last of `ids` (one
    sequence, after the cached prefix if `cache` is given); with `full`, also x, q_all, k and v.
    With `read_out`, logits holds only those tokens' (len(read_out),)."""
    if lm.kind == "pipeline":
        acts = _pipeline(lm, torch.tensor([(cache or []) + list(ids)]), full)
        if full:  # new tokens only, as with a Hugging Face cache
            acts["q_all"], acts["x"] = acts["q_all"][:, :, -len(ids):], acts["x"][:, -len(ids):]
        if read_out is not None:
            acts["logits"] = acts["logits"][torch.tensor(read_out, dtype=torch.long)]
        return acts
    store: dict = {}
    n_bos = len(getattr(lm, "bos", []))
    ids_in = torch.tensor([list(ids)], dtype=torch.long)
    if cache is None and n_bos:  # the sequence starts here: BOS in front (as the tokenizer would put it)
        ids_in = lm.with_bos(ids_in)
    with _capture_hf(lm, store, full):
        logits = lm.next_logits(ids_in, cache, read_out)
    if cache is not None:
        cache.crop(-len(ids))  # back to the prefix, for the next query
    acts = {name: torch.stack([per_layer[i] for i in range(lm.n_layer)]) for name, per_layer in store.items()}
    if n_bos:  # positions as the caller counts them: BOS dropped (it stays attended to)
        for name in ("scores", "k", "v"):  # over every key position (cached BOS included)
            if name in acts:
                acts[name] = acts[name][..., n_bos:] if name == "scores" else acts[name][:, :, n_bos:]
        if cache is None:  # new positions include BOS only without a cache
            if "x" in acts:
                acts["x"] = acts["x"][:, n_bos:]
            if "q_all" in acts:
                acts["q_all"] = acts["q_all"][:, :, n_bos:]
    return acts | {"logits": logits}
