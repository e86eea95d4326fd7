"""Pins the model's contract: shapes, causality for every attention kind, and hooks that name
every activation and always go away again."""

import pytest
import torch

from icl_study.config import ConfigError, ModelConfig
from icl_study.hooks import hook_names, run_with_cache, run_with_hooks
from icl_study.model import ATTENTION_KINDS, GPT


def tiny(**overrides) -> ModelConfig:
    base = dict(n_layer=2, n_head=2, d_model=16, d_mlp=32, n_positions=12, n_dims_in=3, n_dims_out=1)
    return ModelConfig(**{**base, **overrides})


@pytest.mark.parametrize("attention", ATTENTION_KINDS)
def test_vector_and_token_shapes(attention):
    torch.manual_seed(0)
    vec = GPT(tiny(attention=attention))
    assert vec(torch.randn(4, 10, 3)).shape == (4, 10, 1)
    tok = GPT(tiny(attention=attention, n_dims_in=0, vocab_size=7))
    assert tok(torch.randint(7, (4, 10))).shape == (4, 10, 7)


@pytest.mark.parametrize("attention", ATTENTION_KINDS)
@pytest.mark.parametrize("d_mlp", [32, 0])
def test_causal_no_output_depends_on_a_later_token(attention, d_mlp):
    torch.manual_seed(0)
    model = GPT(tiny(attention=attention, d_mlp=d_mlp)).double()
    x = torch.randn(2, 10, 3, dtype=torch.float64)
    changed = x.clone()
    changed[:, 6:] += 1.0  # perturb tokens 6..9 only
    out, out_changed = model(x), model(changed)
    assert torch.equal(out[:, :6], out_changed[:, :6])
    assert not torch.allclose(out[:, 6:], out_changed[:, 6:])  # the perturbation does reach later positions


def test_fused_and_explicit_softmax_paths_agree():
    """Attaching a hook to the scores switches attention off the fused kernel; outputs must not change."""
    torch.manual_seed(0)
    model = GPT(tiny()).double()
    x = torch.randn(3, 10, 3, dtype=torch.float64)
    fused = model(x)
    explicit, cache = run_with_cache(model, x, names=lambda n: n.endswith("hook_pattern"))
    torch.testing.assert_close(fused, explicit)
    pattern = cache["blocks.0.attn.hook_pattern"]  # (B, H, T, T)
    torch.testing.assert_close(pattern.sum(-1), torch.ones(3, 2, 10, dtype=torch.float64))  # rows are distributions
    assert torch.all(pattern.triu(1) == 0)  # nothing attends to the future


def test_hook_names_cover_every_block_activation():
    names = set(hook_names(GPT(tiny())))
    for i in range(2):
        for suffix in ("hook_resid_pre", "attn.hook_scores", "attn.hook_pattern", "hook_attn_out",
                       "hook_resid_mid", "hook_mlp_out", "hook_resid_post"):
            assert f"blocks.{i}.{suffix}" in names


def test_hooks_are_removed_even_when_the_forward_pass_raises():
    model = GPT(tiny())

    def boom(x, name):
        raise RuntimeError("inside a hook")

    with pytest.raises(RuntimeError):
        run_with_hooks(model, torch.randn(1, 4, 3), fwd_hooks=[("blocks.0.hook_resid_post", boom)])
    assert all(not m._forward_hooks for m in model.modules())


def test_a_hook_can_replace_an_activation():
    """Zeroing the last residual stream leaves only the final LayerNorm's bias and the read-out bias."""
    torch.manual_seed(0)
    model = GPT(tiny())
    out = run_with_hooks(model, torch.randn(2, 5, 3), fwd_hooks=[("blocks.1.hook_resid_post", lambda x, n: torch.zeros_like(x))])
    assert torch.allclose(out, out[0, 0].expand_as(out))  # every position gives the same output


def test_cache_matches_residual_arithmetic():
    """resid_mid = resid_pre + attn_out, resid_post = resid_mid + mlp_out: the names mean what they say."""
    torch.manual_seed(0)
    model = GPT(tiny())
    _, cache = run_with_cache(model, torch.randn(2, 5, 3))
    b = "blocks.1."
    torch.testing.assert_close(cache[b + "hook_resid_mid"], cache[b + "hook_resid_pre"] + cache[b + "hook_attn_out"])
    torch.testing.assert_close(cache[b + "hook_resid_post"], cache[b + "hook_resid_mid"] + cache[b + "hook_mlp_out"])


@pytest.mark.parametrize("bad, key", [(dict(attention="cosine"), "model.attention"),
                                      (dict(d_model=15), "model.d_model"),
                                      (dict(vocab_size=5), "model.vocab_size")])
def test_bad_model_config_names_the_key(bad, key):
    with pytest.raises(ConfigError, match=key):
        GPT(tiny(**bad))


def test_too_long_sequence_is_refused():
    with pytest.raises(ValueError, match="n_positions"):
        GPT(tiny())(torch.randn(1, 13, 3))
