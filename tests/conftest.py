"""Test-wide settings: one torch thread (tiny models are overhead-bound; two threads are slower)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
