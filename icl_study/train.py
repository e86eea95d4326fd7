"""The one training loop: `train(run_config, out_dir)`, importable and resumable.

AdamW with linear warmup and cosine decay, gradient clipping, weight decay on matrices only. Every
`checkpoint_every` steps it saves weights, optimizer, step, config and the metric rows so far to
`out_dir/checkpoints/last.pt` (atomically); a rerun of an interrupted run resumes from there, but
never across a config or package-code change and never from a finished run (a forced rerun
retrains). Because each batch is a pure function of (seed, step) and the model has no dropout, a
resumed run ends with the same weights as an uninterrupted one. A loss that is not finite or grows
far above its first value stops the run with one line saying which setting to change. Steps listed
in `train.keep_steps` are also kept as `step_XXXXXXX.pt` for analyses over training time.

On CUDA the forward pass runs under bf16 autocast (`train.precision: auto`) and, if asked, through
`torch.compile` (`train.compile`); on the CPU both are off, so CPU results do not change. A model
whose estimated training memory exceeds the device's is refused before the first step.

Outputs: `model.pt` (final checkpoint) and `train_metrics.csv` (step, split, metric, value).
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import torch

from icl_study.config import ConfigError, RunConfig, TrainConfig, run_config
from icl_study.device import autocast, maybe_compile, pick_device
from icl_study.run_state import (TrainingDiverged, build_model, check_loss, check_memory, check_run_config,  # noqa: F401
                                 log_progress, lr_at, make_optimizer, resume, save, write_metrics, write_state)
from icl_study.stacked import group_runs, solo_config, train_group
from icl_study.tasks import make_task

log = logging.getLogger("icl_study.train")


def train(cfg: RunConfig | dict, out_dir: str | Path) -> Path:
    """Train (or resume training) one model; returns the path of the final checkpoint."""
    cfg = cfg if isinstance(cfg, RunConfig) else run_config(cfg)
    out_dir = Path(out_dir)
    task = make_task(cfg.task, cfg.task_config, cfg.train.seed)
    device = pick_device(cfg.train.device)
    check_run_config(cfg, task)
    check_memory(cfg, task, device)
    model = build_model(cfg).to(device)
    fast_model = maybe_compile(model, cfg.train.compile)  # same parameters; `model` is what is saved
    optimizer = make_optimizer(model, cfg.train)
    step, rows, window, loss_start = resume(out_dir / "checkpoints" / "last.pt", cfg, model, optimizer)
    log.info("model: %d parameters, %s; %s on %s; starting at step %d of %d",
             model.n_params(), cfg.model.attention, cfg.task, device, step, cfg.train.steps)
    started = time.perf_counter()
    while step < cfg.train.steps:
        loss = train_step(fast_model, optimizer, task, step, cfg.train, device)
        loss_start = loss if loss_start is None else loss_start
        check_loss(loss, loss_start, step, cfg)
        window.append(loss)
        step += 1
        # A task may list extra `eval_steps` (e.g. log-spaced) at which its evaluators are logged.
        if step % cfg.train.log_every == 0 or step == cfg.train.steps or step in getattr(task, "eval_steps", ()):
            rows += log_progress(model, task, step, window, cfg.train, started, device)
            window = []
        if step % cfg.train.checkpoint_every == 0 or step in cfg.train.keep_steps or step == cfg.train.steps:
            save(out_dir, cfg, model, optimizer, step, rows, window, loss_start)
    final = out_dir / "model.pt"
    write_state(final, cfg, model, optimizer, step, rows)
    write_metrics(out_dir / "train_metrics.csv", rows)
    return final


def train_step(model, optimizer, task, step: int, cfg: TrainConfig, device) -> float:
    for group in optimizer.param_groups:
        group["lr"] = lr_at(step, cfg)
    batch = {k: v.to(device) for k, v in task.train_batch(step, cfg.batch_size).items()}
    with autocast(device, cfg.precision):  # bf16 on CUDA by default; a no-op on the CPU
        loss = task.loss(model, batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    return loss.item()


def train_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: train the run described by `params`; outputs[0] is its model.pt."""
    try:
        final = train(params, Path(outputs[0]).parent)
    except TrainingDiverged as err:
        raise in_study(err, outputs[0]) from None
    if outputs and final != Path(outputs[0]):
        raise RuntimeError(f"train wrote {final}, but the rule expects {outputs[0]}")


def in_study(err: TrainingDiverged, output: str) -> TrainingDiverged:
    """The divergence advice with its keys named as the config names them: `train.lr` of the run
    written to results/linreg/main/ is `linreg.train.lr` (or the run's own override)."""
    parts = Path(output).parts
    if "results" not in parts or len(parts) - parts.index("results") < 4:
        return err
    at = parts.index("results")
    study, run = parts[at + 1], "/".join(parts[at + 2:-1])
    message = re.sub(r"(?<![\w.])(train|task|model)\.(\w+)", rf"{study}.\1.\2", str(err))
    return TrainingDiverged(f"{message} (run {run}: change the key where that run sets it, e.g. its own overrides)")


def train_seeds_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: train one run config once per seed in `params["seeds"]`, in order, in this one
    process (pays for importing torch once, ~5 s a job on a small CPU); outputs[i] is seed i's
    model.pt. Each seed is the same run `train_rule` would make, with its own resumable checkpoint.
    With `train.members_per_job` > 1 the seeds train as stacked members instead (same results to
    float rounding; see icl_study/stacked.py)."""
    if params["run"]["train"].get("members_per_job", 1) > 1:  # stacked members: icl_study/stacked.py
        return train_group_rule(inputs, params, outputs)
    seeds = params["seeds"]
    if len(seeds) != len(outputs):
        raise ConfigError(f"{len(seeds)} seeds but {len(outputs)} outputs: one model.pt per seed")
    for seed, output in zip(seeds, outputs):
        run = {**params["run"], "train": {**params["run"]["train"], "seed": seed}}
        log.info("seed %d -> %s", seed, output)
        train_rule(inputs, run, [output])


def train_group_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: train a job's runs (params as `train_seeds_rule`'s, or {"runs": [...]}) in
    stacked groups of at most `train.members_per_job` (icl_study/stacked.py); a group of one run
    is the solo trainer's. outputs[i] is run i's model.pt."""
    runs = group_runs(params)
    if len(runs) != len(outputs):
        raise ConfigError(f"{len(runs)} runs but {len(outputs)} outputs: one model.pt per run")
    cap = run_config(runs[0]).train.members_per_job
    if cap < 1:
        raise ConfigError(f"train.members_per_job: {cap} must be at least 1")
    for start in range(0, len(runs), cap):
        chunk, paths = runs[start:start + cap], outputs[start:start + cap]
        log.info("runs %d-%d of %d -> %s", start, start + len(chunk) - 1, len(runs), paths)
        out_dirs = [Path(p).parent for p in paths]
        # a chunk of one is a solo run: stored with members_per_job 1, as a stacked member is
        finals = [train(solo_config(chunk[0]), out_dirs[0])] if len(chunk) == 1 else train_group(chunk, out_dirs)
        for final, path in zip(finals, paths):
            if final != Path(path):
                raise RuntimeError(f"train wrote {final}, but the rule expects {path}")
