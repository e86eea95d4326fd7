"""The one place that chooses the compute device and the number of CPU threads.

Small models on a CPU are overhead-bound: with two torch threads a training step was 3-35x slower
than with one (measured on the 2-core machine, see benchmarks/threads.py), so the default is one
thread per job and several jobs side by side.
"""

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
