"""Test-wide settings: one torch thread (tiny models are overhead-bound; two threads are slower)."""

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
# Rules run `python -m icl_study ...`: make that `python` this interpreter, so the workflow tests
# use the environment under test even when its venv is not activated (e.g. `.venv/bin/python -m pytest`).
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

import torch  # noqa: E402

torch.set_num_threads(1)
