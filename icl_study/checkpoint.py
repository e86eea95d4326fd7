"""Checkpoints written atomically and read back with a clear error for corrupt or foreign files.

A checkpoint is a dict {format, step, run_config, model, optimizer, metrics}. It is written to a
temporary file in the same directory and renamed into place, so a kill during a save leaves either
the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from icl_study.config import StudyError

FORMAT = "icl_study/checkpoint-v1"
REQUIRED_KEYS = ("format", "step", "run_config", "model")


class CheckpointError(StudyError, RuntimeError):
    """A checkpoint file that cannot be used; the message names the file."""

    kind = "checkpoint error"


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write `state` (plus the format tag) to `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a plain open() would honour the umask
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX within one filesystem
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask (reading it means setting it; set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by `save_checkpoint`, or raise CheckpointError naming the file."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint file does not exist") from None
    except Exception as err:  # torch raises many types for truncated or non-torch files
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}); delete it to retrain") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an icl_study checkpoint (format tag missing or different)")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {missing[0]!r}")
    return state


def load_model(path: str | Path, map_location: str | torch.device = "cpu"):
    """The trained model stored in a checkpoint, in eval mode, plus its run config."""
    from icl_study.config import run_config
    from icl_study.model import GPT

    state = load_checkpoint(path, map_location)
    cfg = run_config(state["run_config"])
    model = GPT(cfg.model)
    model.load_state_dict(state["model"])
    return model.eval().to(map_location), cfg
