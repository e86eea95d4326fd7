"""Named hook points and hook-scoped runs, in the spirit of TransformerLens (in ~60 lines).

A `HookPoint` is an identity module placed at every activation worth reading or editing; its
module path (e.g. `blocks.3.hook_resid_post`) is its name. Probes, attention-map comparisons and
perturbations use these names only, never the model's internals. `run_with_cache` and
`run_with_hooks` always remove the hooks they added, even when the forward pass raises.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator

import torch
from torch import nn

# A hook function gets (activation, hook name) and returns None (read only) or a replacement.
HookFn = Callable[[torch.Tensor, str], torch.Tensor | None]


class HookPoint(nn.Module):
    """Identity; exists so that an activation has a stable name to hook."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @property
    def active(self) -> bool:
        """True while a hook is attached (lets attention skip its fused fast path)."""
        return bool(self._forward_hooks)


def hook_names(model: nn.Module) -> list[str]:
    """Every hook point's name, in forward order."""
    return [name for name, module in model.named_modules() if isinstance(module, HookPoint)]


def _select(model: nn.Module, names: Iterable[str] | Callable[[str], bool] | None) -> dict[str, HookPoint]:
    points = {n: m for n, m in model.named_modules() if isinstance(m, HookPoint)}
    if names is None:
        return points
    if callable(names):
        return {n: m for n, m in points.items() if names(n)}
    missing = [n for n in names if n not in points]
    if missing:
        raise KeyError(f"no hook point named {missing[0]!r}; see icl_study.hooks.hook_names(model)")
    return {n: points[n] for n in names}


@contextlib.contextmanager
def hooks(model: nn.Module, fwd_hooks: list[tuple[str | Callable[[str], bool], HookFn]]) -> Iterator[None]:
    """Attach `(name or predicate, fn)` hooks for the duration of a `with` block."""
    handles = []
    try:
        for names, fn in fwd_hooks:
            selected = _select(model, [names] if isinstance(names, str) else names)
            for name, point in selected.items():
                handles.append(point.register_forward_hook(lambda _m, _i, out, fn=fn, name=name: fn(out, name)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def run_with_hooks(model: nn.Module, *args, fwd_hooks: list, **kwargs):
    """Run the model with hooks attached, then remove them."""
    with hooks(model, fwd_hooks):
        return model(*args, **kwargs)


def run_with_cache(model: nn.Module, *args, names: Iterable[str] | Callable[[str], bool] | None = None,
                   detach: bool = True, **kwargs) -> tuple[object, dict[str, torch.Tensor]]:
    """Run the model and return (output, {hook name: activation}) for the selected hook points."""
    cache: dict[str, torch.Tensor] = {}

    def store(x: torch.Tensor, name: str) -> None:
        cache[name] = x.detach() if detach else x

    selected = list(_select(model, names))
    with hooks(model, [(n, store) for n in selected]):
        out = model(*args, **kwargs)
    return out, cache


def stack_blocks(cache: dict[str, torch.Tensor], name: str, layers: Iterable[int],
                 select: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """(L, ...) the cached `blocks.{i}.{name}` of each block i in `layers`, each passed through
    `select` first (e.g. `lambda t: t[:, -1]` keeps the last position)."""
    return torch.stack([cache[f"blocks.{i}.{name}"] if select is None else select(cache[f"blocks.{i}.{name}"])
                        for i in layers])
