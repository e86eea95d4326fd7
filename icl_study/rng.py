"""Explicit random streams: every draw in the package comes from `generator(seed, stream, step)`.

A batch is then a pure function of (seed, step), so a resumed run sees exactly the batches an
uninterrupted run would have seen, and two streams (say, training data and evaluation data) never
share numbers.
"""

import hashlib

import torch

# Named streams keep training, evaluation and initialisation draws independent of each other.
STREAMS = ("init", "train", "eval", "pool", "probe", "bootstrap", "demo", "perturb", "misc")


def stream_seed(seed: int, stream: str, step: int = 0) -> int:
    """A 63-bit seed derived from (seed, stream, step) by hashing, so nearby inputs decorrelate."""
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; expected one of {STREAMS}")
    digest = hashlib.blake2b(f"{seed}/{stream}/{step}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def generator(seed: int, stream: str, step: int = 0, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch.Generator seeded from (seed, stream, step)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(stream_seed(seed, stream, step))
    return gen
