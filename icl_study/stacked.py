"""Stacked members: a group of runs that share a model shape, trained as one model.

Small models cannot fill a GPU one at a time: a transience step is a few GFLOP and kernel-launch
overhead sets its time. A group of E runs ("members") with the same model config, task and
batch size is therefore trained as one model whose parameters carry a leading member dimension:
`torch.vmap` over `torch.func.functional_call` of the real `GPT`, so every layer becomes one
batched kernel for all members and the model code is not duplicated. Members stay independent:
own weights and initialisation, own data stream (each member's batch is exactly the one its solo
run draws: `task.train_batch(step)` of the member's own task and seed), own learning-rate
schedule, gradient clipping (by the member's own gradient norm) and weight decay.

The parameters of all members live in one (E, N) tensor, in `make_optimizer`'s order (matrices
first, so weight decay is one slice), and AdamW is written out here on that tensor in the order
torch's foreach AdamW applies it: a step is then ~10 elementwise kernels whatever the depth, and
each member equals its solo run up to float rounding (tests/model/test_stacked.py: 1e-5 relative after
50 steps, fp32, CPU).

Between stretches of stacked training every member's state lives in its own solo `GPT` and
`AdamW`, and checkpoints, metric rows and progress lines go through train.py's own functions:
a member's `model.pt`, `checkpoints/last.pt` and `train_metrics.csv` are those of its solo run
(a solo rerun resumes a member's checkpoint and the other way round). Resume is per group: each
member resumes from its own checkpoint through `run_state.resume`; members that are behind (a kill
between two members' saves, a member whose config changed) are first trained up to the others.

`train.members_per_job` caps E; it is how runs are scheduled, not what they are, so checkpoints
store it as 1 and a member's stored config equals its solo run's. A chunk of one run is sent
to the solo trainer (`train.train`) by `train.train_group_rule`: today's path, bit for bit.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call

from icl_study.config import ConfigError, RunConfig, run_config
from icl_study.device import autocast, device_memory_bytes, pick_device, training_memory_bytes
from icl_study.model import GPT
from icl_study.tasks import make_task
from icl_study.run_state import (TrainingDiverged, build_model, check_loss, check_run_config, log_progress, lr_at,
                                 make_optimizer, resume, save, write_metrics, write_state)

log = logging.getLogger("icl_study.stacked")
BETAS, EPS = (0.9, 0.999), 1e-8  # make_optimizer's AdamW (torch's default eps)
# Settings every member of a group must share (the rest of `train` may differ per member).
SHARED_TRAIN_KEYS = ("steps", "batch_size", "device", "precision", "compile")
READ_EVERY = 50  # CUDA: steps between reads of the losses (each read waits for the GPU)


@dataclass
class Member:
    """One run of a group: its config, task, solo model and optimizer, and progress so far."""

    index: int
    cfg: RunConfig
    out_dir: Path
    task: object
    model: GPT
    optimizer: torch.optim.AdamW
    step: int
    rows: list
    window: list
    loss_start: float | None  # the run's first loss, the divergence check's reference

    @property
    def name(self) -> str:
        return f"member {self.index} ({self.out_dir}, seed {self.cfg.train.seed})"


def solo_config(cfg: RunConfig | dict) -> RunConfig:
    """The run config a member stores: its own, with members_per_job 1 (scheduling, not identity)."""
    cfg = cfg if isinstance(cfg, RunConfig) else run_config(cfg)
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, members_per_job=1))


def check_group(cfgs: list[RunConfig]) -> None:
    """Members must share the task kind, the model config and the loop's shape (one line naming the key)."""
    first = cfgs[0]
    for cfg in cfgs[1:]:
        if cfg.task != first.task:
            raise ConfigError(f"task: stacked members must share the task, got {first.task!r} and {cfg.task!r}")
        if cfg.model != first.model:
            key = next(f.name for f in dataclasses.fields(first.model)
                       if getattr(cfg.model, f.name) != getattr(first.model, f.name))
            raise ConfigError(f"model.{key}: stacked members must share the model config")
        for key in SHARED_TRAIN_KEYS:
            if getattr(cfg.train, key) != getattr(first.train, key):
                raise ConfigError(f"train.{key}: stacked members must share it, got "
                                  f"{getattr(first.train, key)!r} and {getattr(cfg.train, key)!r}")


def train_group(cfgs: list[RunConfig | dict], out_dirs: list[str | Path]) -> list[Path]:
    """Train (or resume) a group of runs as one stacked model; returns each member's model.pt."""
    cfgs = [solo_config(c) for c in cfgs]
    if len(cfgs) != len(out_dirs):
        raise ConfigError(f"{len(cfgs)} run configs but {len(out_dirs)} output folders: one per member")
    if len(cfgs) == 1:  # E = 1 is the solo trainer's job (train.train_group_rule sends it there)
        raise ValueError("one run is trained by icl_study.train.train, not as a stacked group")
    check_group(cfgs)
    device = pick_device(cfgs[0].train.device)
    members = [_load_member(i, cfg, Path(d), device) for i, (cfg, d) in enumerate(zip(cfgs, out_dirs))]
    _check_group_memory(members, device)
    log.info("stacked group of %d members: %d parameters each, %s; %s on %s; at steps %s of %d",
             len(members), members[0].model.n_params(), cfgs[0].model.attention, cfgs[0].task, device,
             sorted({m.step for m in members}), cfgs[0].train.steps)
    while len({m.step for m in members}) > 1:  # members behind the others catch up first
        steps = sorted({m.step for m in members})
        behind = [m for m in members if m.step == steps[0]]
        log.info("members %s are at step %d: training them to step %d first",
                 [m.index for m in behind], steps[0], steps[1])
        train_stretch(behind, steps[1], device)
    train_stretch(members, cfgs[0].train.steps, device)
    finals = []
    for m in members:
        final = m.out_dir / "model.pt"
        write_state(final, m.cfg, m.model, m.optimizer, m.step, m.rows)
        write_metrics(m.out_dir / "train_metrics.csv", m.rows)
        finals.append(final)
    return finals


def _load_member(index: int, cfg: RunConfig, out_dir: Path, device: torch.device) -> Member:
    task = make_task(cfg.task, cfg.task_config, cfg.train.seed)
    check_run_config(cfg, task)
    if device.type == "cuda" and hasattr(task, "to"):  # lay batches out on the GPU (same values)
        task.to(device)
    model = build_model(cfg).to(device)
    optimizer = make_optimizer(model, cfg.train)
    step, rows, window, loss_start = resume(out_dir / "checkpoints" / "last.pt", cfg, model, optimizer)
    return Member(index, cfg, out_dir, task, model, optimizer, step, rows, window, loss_start)


def _check_group_memory(members: list[Member], device: torch.device) -> None:
    cfg, task = members[0].cfg, members[0].task
    needed = len(members) * training_memory_bytes(cfg.model, cfg.train.batch_size, task.n_tokens)
    available = device_memory_bytes(device)
    if needed > available:
        raise ConfigError(f"train.members_per_job: {len(members)} stacked members need at least "
                          f"{needed / 2**30:.1f} GiB, more than the {available / 2**30:.1f} GiB of {device}")


def train_stretch(members: list[Member], until: int, device: torch.device) -> None:
    """Train members (all at the same step) to step `until`, logging and saving each as its solo run would."""
    stack = Stack(members, device, compile_mode="default" if members[0].cfg.train.compile else None)
    step, started = members[0].step, time.perf_counter()
    # Reading losses waits for the GPU; on CUDA they are read every READ_EVERY steps (and before any
    # log line or checkpoint), so the CPU prepares the next batches while the GPU computes.
    read_every, pending = (READ_EVERY if device.type == "cuda" else 1), []
    while step < until:
        pending.append(stack.train_step(step, stack.batch(step), sync=False))
        step += 1
        due = [_due(m, step, until) for m in members]
        if len(pending) >= read_every or step == until or any(logs or saves for logs, saves in due):
            _read_losses(members, pending, step - len(pending))
            pending = []
        for i, (m, (logs, saves)) in enumerate(zip(members, due)):
            m.step = step
            if logs or saves:
                stack.write_member(i)
            if logs:
                with _named(m):
                    m.rows += log_progress(m.model, m.task, step, m.window, m.cfg.train, started, device)
                m.window = []
            if saves:
                save(m.out_dir, m.cfg, m.model, m.optimizer, step, m.rows, m.window, m.loss_start)
    for i in range(len(members)):
        stack.write_member(i)


@contextlib.contextmanager
def _named(member: Member):
    """Prefix train.py's progress lines with the member they belong to."""
    def prefix(record: logging.LogRecord) -> bool:
        record.msg = f"{member.name}: {record.msg}"
        return True

    train_log = logging.getLogger("icl_study.train")
    train_log.addFilter(prefix)
    try:
        yield
    finally:
        train_log.removeFilter(prefix)


def _due(m: Member, step: int, until: int) -> tuple[bool, bool]:
    """(log a progress line, save a checkpoint) after `step` steps, as the solo loop decides."""
    c = m.cfg.train
    logs = step % c.log_every == 0 or step == c.steps or step in getattr(m.task, "eval_steps", ())
    saves = step % c.checkpoint_every == 0 or step in c.keep_steps or step == c.steps or step == until
    return logs, saves


def _read_losses(members: list[Member], pending: list[torch.Tensor], first_step: int) -> None:
    """Append the (E,) losses of steps first_step, ... to each member's window; stop the group (every
    later step would be wasted) at a loss that diverged, as the solo loop does, naming the member."""
    for k, losses in enumerate(torch.stack(pending).tolist()):  # (K, E)
        for m, loss in zip(members, losses):
            m.loss_start = loss if m.loss_start is None else m.loss_start
            try:
                check_loss(loss, m.loss_start, first_step + k, m.cfg)
            except TrainingDiverged as err:
                raise TrainingDiverged(f"{m.name}: {err}") from None
            m.window.append(loss)


class FlatLinear(torch.nn.Linear):
    """nn.Linear that folds leading dims to 2D itself: under vmap with batched weights the matmul
    is then one bmm over members, not one small matmul per member and sequence (3x slower on CPU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.reshape(-1, x.shape[-1]), self.weight, self.bias).view(*x.shape[:-1], -1)


def stacking_skeleton(model: GPT) -> GPT:
    """A copy of `model` (same parameter names) whose Linear layers are FlatLinear."""
    skeleton = copy.deepcopy(model)
    for module in skeleton.modules():
        if type(module) is torch.nn.Linear:
            module.__class__ = FlatLinear
    return skeleton


class Stack:
    """The stacked training state of a group: parameters and AdamW moments as (E, N) tensors.

    Columns follow `make_optimizer`'s order, weight matrices first ([:, :n_decay] decays).
    `params` holds (E, *shape) leaf tensors that alias slices of `flat`, so the model reads the
    weights the optimizer writes without copies. `compile_mode` (CUDA): None (eager), "default"
    or "reduce-overhead" (CUDA graphs) for torch.compile of the stacked forward pass.
    """

    def __init__(self, members: list[Member], device: torch.device, compile_mode: str | None = None):
        self.members, self.device = members, device
        self.skeleton = stacking_skeleton(members[0].model)  # runs every member's weights
        named = list(self.skeleton.named_parameters())
        self.names = [n for n, p in named if p.dim() >= 2] + [n for n, p in named if p.dim() < 2]
        shapes = dict((n, p.shape) for n, p in named)
        self.n_decay = sum(shapes[n].numel() for n in self.names if len(shapes[n]) >= 2)
        self.slices, offset = {}, 0
        for n in self.names:
            self.slices[n] = (offset, offset + shapes[n].numel(), shapes[n])
            offset += shapes[n].numel()
        E = len(members)
        self.flat = torch.empty(E, offset, device=device)
        self.exp_avg, self.exp_avg_sq = torch.zeros_like(self.flat), torch.zeros_like(self.flat)
        for i in range(E):
            self.read_member(i)
        # (E, *shape) leaves sharing memory with `flat` (nn.Parameter: static addresses for CUDA graphs)
        self.params = {n: torch.nn.Parameter(self.flat[:, a:b].view(E, *shape)) for n, (a, b, shape) in self.slices.items()}
        c = [m.cfg.train for m in members]
        self.weight_decay = torch.tensor([x.weight_decay for x in c], dtype=torch.float64)
        self.max_norm = torch.tensor([[x.grad_clip] for x in c], device=device)  # (E, 1)
        self.clips = any(x.grad_clip > 0 for x in c)
        self.precision = c[0].precision
        loss_fn = members[0].task.loss  # a task's loss depends on the batch only, not the task's seed

        def member_loss(params: dict, batch: dict) -> torch.Tensor:
            return loss_fn(lambda x: functional_call(self.skeleton, params, (x,)), batch)

        self.losses = torch.vmap(member_loss)  # ({name: (E, *shape)}, {key: (E, B, ...)}) -> (E,)
        self.cuda_graphs = compile_mode == "reduce-overhead"
        if compile_mode is not None:
            self.losses = torch.compile(self.losses, mode=compile_mode)

    def read_member(self, i: int) -> None:
        """Copy member i's solo model and AdamW moments into row i."""
        m = self.members[i]
        params = dict(m.model.named_parameters())
        with torch.no_grad():
            for n, (a, b, _) in self.slices.items():
                self.flat[i, a:b] = params[n].detach().flatten()
                state = m.optimizer.state.get(params[n], {})
                for key, row in (("exp_avg", self.exp_avg), ("exp_avg_sq", self.exp_avg_sq)):
                    row[i, a:b] = state[key].flatten() if key in state else 0.0

    def write_member(self, i: int) -> None:
        """Copy row i back into member i's solo model and AdamW state (what checkpoints store)."""
        m = self.members[i]
        params = dict(m.model.named_parameters())
        with torch.no_grad():
            for n, (a, b, shape) in self.slices.items():
                params[n].copy_(self.flat[i, a:b].view(shape))
                if m.step > 0:  # AdamW's own state layout, so the solo trainer can resume it
                    m.optimizer.state[params[n]] = {
                        "step": torch.tensor(float(m.step)),
                        "exp_avg": self.exp_avg[i, a:b].view(shape).clone(),
                        "exp_avg_sq": self.exp_avg_sq[i, a:b].view(shape).clone()}
        for group in m.optimizer.param_groups:  # as the solo loop leaves it after its last step
            group["lr"] = lr_at(m.step - 1, m.cfg.train) if m.step > 0 else m.cfg.train.lr

    def _to_device(self, values: torch.Tensor) -> torch.Tensor:
        """(2, E) float64 on the CPU -> (2, E, 1) fp32 on the device, without waiting for the GPU."""
        values = values.float()[:, :, None]
        return values.pin_memory().to(self.device, non_blocking=True) if self.device.type == "cuda" else values

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        """Every member's own training batch at `step`, stacked: {key: (E, B, ...)}."""
        batches = [m.task.train_batch(step, m.cfg.train.batch_size) for m in self.members]
        try:
            stacked = {k: torch.stack([b[k] for b in batches]) for k in batches[0]}
        except RuntimeError:
            raise ConfigError("task: stacked members' batches differ in shape; group only runs whose "
                              "task configs give the same sequence sizes") from None
        if self.device.type == "cuda":  # CPU tensors through pinned memory: no wait for the GPU
            return {k: v if v.device == self.device else v.pin_memory().to(self.device, non_blocking=True)
                    for k, v in stacked.items()}
        return stacked

    def train_step(self, step: int, batch: dict[str, torch.Tensor], sync: bool = True) -> list[float] | torch.Tensor:
        """One AdamW step of every member; the members' losses (a list, or the (E,) tensor if not `sync`)."""
        E = len(self.members)
        if self.cuda_graphs:  # a new training iteration: the previous replay's outputs may be reused
            torch.compiler.cudagraph_mark_step_begin()
        with autocast(self.device, self.precision):  # bf16 on CUDA by default; a no-op on the CPU
            losses = self.losses(self.params, batch)  # (E,)
        for p in self.params.values():
            p.grad = None
        losses.float().sum().backward()  # members are independent: d(sum)/d(member i) = member i's gradient
        grad = torch.cat([p.grad.reshape(E, -1) for p in self.params.values()], dim=1)  # (E, N), flat's order
        with torch.no_grad():
            if self.clips:  # clip_grad_norm_ per member: its own norm, its own max_norm (0 = off)
                norm = torch.linalg.vector_norm(grad, dim=1, keepdim=True)  # (E, 1)
                coef = (self.max_norm / (norm + 1e-6)).clamp(max=1.0)
                grad.mul_(torch.where(self.max_norm > 0, coef, torch.ones_like(coef)))
            self._adamw(step, grad)
        # a copy: a CUDA graph's next replay overwrites its outputs, and unsynced losses are read later
        return losses.detach().tolist() if sync else losses.detach().clone()

    def _adamw(self, step: int, grad: torch.Tensor) -> None:
        """torch's foreach AdamW on (E, N) rows, per-member lr and weight decay (Python floats -> fp32 as torch does)."""
        lrs = torch.tensor([lr_at(step, m.cfg.train) for m in self.members], dtype=torch.float64)
        beta1, beta2 = BETAS
        t = step + 1  # AdamW's step count: one optimizer step per training step
        decay, step_size = self._to_device(torch.stack([1 - lrs * self.weight_decay, -lrs / (1 - beta1**t)]))
        self.flat[:, :self.n_decay].mul_(decay)
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = (self.exp_avg_sq.sqrt() / (1 - beta2**t) ** 0.5).add_(EPS)
        self.flat.add_(step_size * self.exp_avg / denom)  # addcdiv's order: (value * m) / denom


def group_runs(params: dict) -> list[dict]:
    """The run configs of a group job: {"runs": [run, ...]}, or {"run": run, "seeds": [s, ...]} (one per seed)."""
    if "runs" in params:
        return list(params["runs"])
    return [{**params["run"], "train": {**params["run"]["train"], "seed": seed}} for seed in params["seeds"]]
