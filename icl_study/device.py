"""The one place that chooses the compute device and the number of CPU threads.

Small models on a CPU are overhead-bound: with two torch threads a training step was 3-35x slower
than with one (measured on the 2-core machine, see benchmarks/threads.py), so the default is one
thread per job and several jobs side by side.

On CUDA it also decides the forward pass's precision (bf16 autocast when `train.precision` is auto
or bf16) and whether to wrap the model in `torch.compile` (`train.compile`), and it gives a cheap
estimate of training memory so a model that cannot fit is refused before any step. On the CPU the
defaults change nothing: fp32, no compile.
"""

import contextlib
import os

import torch


def pick_device(requested: str = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU; 'cpu' or 'cuda' force one (error if CUDA is absent)."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: 'cuda' was requested but no CUDA device is available")
    if requested not in ("cpu", "cuda"):
        raise ValueError(f"device: expected auto, cpu or cuda, got {requested!r}")
    return torch.device(requested)


def set_threads(threads: int) -> None:
    """Limit torch's intra-op (and inter-op) threads to the job's share of the cores."""
    threads = max(1, int(threads))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass  # can only be set once per process, before any parallel work


def autocast(device: torch.device, precision: str = "auto"):
    """Context for forward passes: bf16 autocast for 'bf16', or for 'auto' on a CUDA device with
    bf16 support; a no-op for 'fp32' and for 'auto' on the CPU (CPU results stay bit-identical)."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision: expected auto, fp32 or bf16, got {precision!r}")
    use_bf16 = precision == "bf16" or (
        precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported())
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def maybe_compile(model: torch.nn.Module, enabled: bool) -> torch.nn.Module:
    """`torch.compile(model)` when enabled (shapes may change with a curriculum: dynamic=None lets
    torch recompile once and then mark sizes dynamic), else the model itself. The caller keeps the
    uncompiled module for state dicts and hooks; both share the same parameters."""
    return torch.compile(model) if enabled else model


def training_memory_bytes(model, batch_size: int, n_tokens: int) -> int:
    """A rough lower estimate of one training step's memory in fp32 bytes, from a ModelConfig alone
    (no tensor is allocated).

    Weights, gradients and AdamW's two moments: 16 bytes per parameter, with the parameters counted
    as 4 d^2 (attention) + 2 d d_mlp (MLP) per layer plus positions, read-in and read-out.
    Activations kept for the backward pass, per layer and token: about 12 d + 2 d_mlp floats
    (LayerNorms, q/k/v, attention and MLP outputs, residuals) plus 2 n_head T for scores and pattern.
    """
    d, width_io = model.d_model, model.vocab_size or model.n_dims_in
    n_params = model.n_layer * (4 * d * d + 2 * d * model.d_mlp) + d * (model.n_positions + width_io)
    n_params += d * (model.vocab_size or model.n_dims_out)
    per_token_layer = 12 * d + 2 * model.d_mlp + 2 * model.n_head * n_tokens
    activations = batch_size * n_tokens * model.n_layer * per_token_layer * 4
    return 16 * n_params + activations


def device_memory_bytes(device: torch.device) -> int:
    """Total memory of the device: the GPU's, or the machine's RAM for the CPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
