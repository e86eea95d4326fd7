"""What one training run is made of and how its state is kept, shared by the solo loop (train.py)
and stacked members (stacked.py), so neither reaches into the other.

The parts: a model initialised from the run's seed, AdamW with weight decay on matrices only, the
warmup-cosine schedule, the checks made before the first step (widths, memory) and at every step
(divergence), the progress line. The state: `checkpoints/last.pt` (weights, optimizer, step,
config, metric rows so far, code version), written atomically and resumed only by a run of the
exact config and code that wrote it and not yet finished; `train_metrics.csv` (step, split,
metric, value).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import logging
import math
import time
from pathlib import Path

import torch

from icl_study.checkpoint import load_checkpoint, save_checkpoint
from icl_study.config import ConfigError, RunConfig, StudyError, TrainConfig, to_dict
from icl_study.device import device_memory_bytes, training_memory_bytes
from icl_study.model import GPT
from icl_study.rng import stream_seed

log = logging.getLogger("icl_study.train")
METRIC_COLUMNS = ("step", "split", "metric", "value")
PACKAGE = Path(__file__).resolve().parent
DIVERGENCE_FACTOR = 100.0  # a training loss this many times its first value has diverged


class TrainingDiverged(StudyError, FloatingPointError):
    """The training loss became non-finite or grew far above its first value."""

    kind = "training diverged"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the package's source (every icl_study/**/*.py): stored in each checkpoint, so a
    run interrupted under one version of the code is not resumed under another."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_model(cfg: RunConfig) -> GPT:
    """A freshly initialised model whose weights depend only on the run's seed."""
    with torch.random.fork_rng(devices=[]):  # torch's initialisers draw from the global RNG
        torch.manual_seed(stream_seed(cfg.train.seed, "init"))
        return GPT(cfg.model)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to `lr`, then cosine decay to `lr * min_lr_ratio` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * cosine)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay applies to weight matrices, not to biases, norms or embeddings' rows."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999))


def check_run_config(cfg: RunConfig, task) -> None:
    """Config errors the schema cannot express, found before any training step."""
    for key, needed in task.model_io().items():  # the widths the task's tokens and outputs need
        have = getattr(cfg.model, key)
        if key == "n_positions" and have < needed:
            raise ConfigError(f"model.n_positions: {have} is shorter than the task's {needed} tokens per sequence")
        if key != "n_positions" and have != needed:
            raise ConfigError(f"model.{key}: {have} does not match the task's {needed}")
    if cfg.train.steps < 1 or cfg.train.checkpoint_every < 1 or cfg.train.log_every < 1:
        raise ConfigError("train.steps / checkpoint_every / log_every: must be at least 1")


def check_memory(cfg: RunConfig, task, device: torch.device) -> None:
    """Refuse a model whose estimated training memory (a lower estimate) exceeds the device's."""
    needed = training_memory_bytes(cfg.model, cfg.train.batch_size, task.n_tokens)
    available = device_memory_bytes(device)
    if needed > available:
        raise ConfigError(f"model.n_layer x model.d_model: training needs at least {needed / 2**30:.1f} GiB "
                          f"(weights, AdamW state, activations at train.batch_size {cfg.train.batch_size}), "
                          f"more than the {available / 2**30:.1f} GiB of {device}")


def check_loss(loss: float, loss_start: float, step: int, cfg: RunConfig) -> None:
    """Stop at once (every later step would be wasted) when the loss is not finite or has grown
    over DIVERGENCE_FACTOR x its first value; the advice names only settings that can be the cause."""
    if math.isfinite(loss) and loss <= DIVERGENCE_FACTOR * max(loss_start, 1e-6):
        return
    if step == 0 or not math.isfinite(loss_start):  # before any update: the learning rate is not the cause
        large = [f"task.{key} ({value:g})" for key, value in sorted(cfg.task_config.items())
                 if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= 1e6]
        raise TrainingDiverged(f"task: the training loss is {loss:g} at step 0, before any update: "
                               + (f"check {', '.join(large)}" if large else "check the task's and the model's settings"))
    grown = "is not finite" if not math.isfinite(loss) else f"is over {DIVERGENCE_FACTOR:g}x its first value {loss_start:.3g}"
    advice = f"lower train.lr (now {cfg.train.lr:g})"
    advice += (", or set train.grad_clip (now 0: off), e.g. 1.0" if cfg.train.grad_clip <= 0
               else f" or train.grad_clip (now {cfg.train.grad_clip:g})")
    raise TrainingDiverged(f"train.lr: the training loss {loss:.3g} at step {step} {grown}: {advice}")


def log_progress(model, task, step, window, cfg: TrainConfig, started, device) -> list[tuple]:
    rows = [(step, "train", "loss", sum(window) / len(window))]
    if hasattr(task, "eval_metrics"):
        model.eval()
        with torch.no_grad():
            rows += [(step, "eval", name, value) for name, value in task.eval_metrics(model, device).items()]
        model.train()
    elapsed = time.perf_counter() - started
    shown = " | ".join(f"{split} {metric} {value:.4g}" for _, split, metric, value in rows)
    log.info("step %d/%d | %s | lr %.2e | %.1f s elapsed", step, cfg.steps, shown, lr_at(step - 1, cfg), elapsed)
    return rows


def resume(path: Path, cfg: RunConfig, model, optimizer) -> tuple[int, list[tuple], list[float], float | None]:
    """Load the last checkpoint of an *unfinished* run of this exact config and code; else step 0.

    A finished run's checkpoint (step = steps) is never resumed: the job is rerun only when it was
    forced or its outputs were deleted, e.g. after a code change, and must then really retrain.
    """
    if not path.exists():
        return 0, [], [], None
    state = load_checkpoint(path, map_location=next(model.parameters()).device)
    why_not = not_resumable(state, cfg)
    if why_not:
        log.warning("not resuming from %s: %s; starting from step 0", path, why_not)
        return 0, [], [], None
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    log.info("resuming from %s at step %d", path, state["step"])
    # The losses since the last progress line too, so the next logged mean equals an unbroken run's.
    rows = [tuple(r) for r in state.get("metrics", [])]
    return state["step"], rows, list(state.get("loss_window", [])), state.get("loss_start")


def not_resumable(state: dict, cfg: RunConfig) -> str | None:
    """Why a checkpoint must not be resumed by this run, or None."""
    if state["run_config"] != to_dict(cfg):
        return "it was written for a different config"
    if state.get("code") != code_version():
        return "it was written by a different version of the icl_study code"
    if state["step"] >= cfg.train.steps:
        return f"it is the end of a finished run (step {state['step']} of {cfg.train.steps}); a rerun retrains"
    return None


def save(out_dir: Path, cfg, model, optimizer, step: int, rows, window, loss_start) -> None:
    write_state(out_dir / "checkpoints" / "last.pt", cfg, model, optimizer, step, rows, window, loss_start)
    if step in cfg.train.keep_steps:
        write_state(out_dir / "checkpoints" / f"step_{step:07d}.pt", cfg, model, optimizer, step, rows)


def write_state(path: Path, cfg, model, optimizer, step: int, rows, window=(), loss_start=None) -> None:
    save_checkpoint(path, {"step": step, "run_config": to_dict(cfg), "code": code_version(),
                           "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "metrics": [list(r) for r in rows], "loss_window": list(window),
                           "loss_start": loss_start})


def write_metrics(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(METRIC_COLUMNS)
        writer.writerows(rows)
