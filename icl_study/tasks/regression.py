"""In-context linear regression (Garg et al. 2022; Akyurek et al. 2022).

x ~ N(0, I_d), w ~ N(0, tau^2 I_d), y = w.x + eps, eps ~ N(0, sigma^2). A sequence of n pairs is
laid out as 2n tokens x_1, y_1, ..., x_n, y_n (each of width d; a y-token is (y, 0, ..., 0)), and
the model predicts y_i at the position of x_i, i.e. from the i-1 pairs before it.
An optional finite pool of M weight vectors (Raventos et al. 2023) turns the task into one that
can also be memorised.
"""

from __future__ import annotations

import torch

from icl_study.config import ConfigError, Curriculum, RegressionTaskConfig, from_dict, to_dict
from icl_study.rng import generator
from icl_study.tasks.io import model_io


def interleave_xy(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """(B, n, d) inputs and (B, n) targets -> (B, 2n, d) tokens x_1, y_1, x_2, y_2, ..."""
    B, n, d = xs.shape
    y_tokens = torch.zeros_like(xs)
    y_tokens[:, :, 0] = ys  # a y-token carries y in its first coordinate, zeros elsewhere
    return torch.stack((xs, y_tokens), dim=2).view(B, 2 * n, d)  # (B, n, 2, d) -> (B, 2n, d)


def deinterleave_xy(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of `interleave_xy`: (B, 2n, d) tokens -> (B, n, d) inputs and (B, n) targets."""
    B, two_n, d = tokens.shape
    pairs = tokens.view(B, two_n // 2, 2, d)  # (B, 2n, d) -> (B, n, 2, d)
    return pairs[:, :, 0], pairs[:, :, 1, 0]


def predict(model: torch.nn.Module, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """The model as a predictor with the baselines' signature: (B, n, d), (B, n) -> (B, n)."""
    out = model(interleave_xy(xs, ys))  # (B, 2n, 1)
    return out[:, ::2, 0]  # read the prediction at each x-token


def pair_tokens(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """von Oswald et al.'s layout: (B, n, d), (B, n) -> (B, n, d + 1) tokens e_j = (x_j, y_j).

    The last pair is the query: its token is (x_n, 0), so y_n is never shown to the model.
    """
    query_mask = torch.ones_like(ys)
    query_mask[:, -1] = 0.0  # hide the query's target
    return torch.cat((xs, (ys * query_mask).unsqueeze(-1)), dim=-1)  # (B, n, d) ++ (B, n, 1)


def unpair_tokens(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of `pair_tokens`: (B, n, d + 1) -> xs (B, n, d) and context targets (B, n - 1)."""
    return tokens[:, :, :-1], tokens[:, :-1, -1]


def predict_query(model: torch.nn.Module, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """A model on `pair_tokens`: the prediction (B,) for y_n from the n - 1 pairs before it."""
    return model(pair_tokens(xs, ys))[:, -1, 0]  # (B, n, 1) -> read at the query token


def curriculum_size(curriculum: Curriculum | None, n_dims: int, n_points: int, step: int) -> tuple[int, int]:
    """Active (d, n) at a training step: grows by a fixed increment every `interval` steps."""
    if curriculum is None:
        return n_dims, n_points
    stage = step // curriculum.interval
    dims = min(n_dims, curriculum.dims_start + curriculum.dims_step * stage)
    points = min(n_points, curriculum.points_start + curriculum.points_step * stage)
    return dims, points


class RegressionTask:
    """Samples batches as a pure function of (seed, stream, step); computes the training loss."""

    def __init__(self, cfg: RegressionTaskConfig | dict, seed: int):
        self.cfg = cfg if isinstance(cfg, RegressionTaskConfig) else from_dict(RegressionTaskConfig, cfg, "task")
        self.seed = seed
        if self.cfg.n_dims < 1 or self.cfg.n_points < 1:
            raise ConfigError("task.n_dims / task.n_points: must be at least 1")
        self.pool = None
        if self.cfg.pool_size > 0:
            gen = generator(seed, "pool")
            self.pool = self.cfg.w_scale * torch.randn(self.cfg.pool_size, self.cfg.n_dims, generator=gen)

    def model_io(self) -> dict[str, int]:
        """The model widths and sequence length this task needs (icl_study/tasks/io.py)."""
        return model_io("regression", to_dict(self.cfg))

    @property
    def n_tokens(self) -> int:
        return 2 * self.cfg.n_points

    def sample(self, step: int, batch_size: int, stream: str = "train", n_dims: int | None = None,
               n_points: int | None = None, fresh_w: bool = False) -> dict[str, torch.Tensor]:
        """A batch {xs (B, n, d), ys (B, n), ws (B, d)}; coordinates beyond n_dims are zero.

        `fresh_w` draws w from N(0, tau^2 I) even when a finite pool is configured (to test
        generalisation beyond the pool).
        """
        d, n = self.cfg.n_dims, n_points or self.cfg.n_points
        active = n_dims or d
        gen = generator(self.seed, stream, step)
        xs = torch.randn(batch_size, n, d, generator=gen)
        if self.pool is None or fresh_w:
            ws = self.cfg.w_scale * torch.randn(batch_size, d, generator=gen)
        else:
            ws = self.pool[torch.randint(len(self.pool), (batch_size,), generator=gen)]
        if active < d:  # curriculum: the last d - active coordinates are switched off
            xs[:, :, active:] = 0.0
            ws = ws.clone()
            ws[:, active:] = 0.0
        noise = self.cfg.noise_std * torch.randn(batch_size, n, generator=gen)
        ys = torch.einsum("bnd,bd->bn", xs, ws) + noise
        return {"xs": xs, "ys": ys, "ws": ws}

    def train_batch(self, step: int, batch_size: int) -> dict[str, torch.Tensor]:
        dims, points = curriculum_size(self.cfg.curriculum, self.cfg.n_dims, self.cfg.n_points, step)
        return self.sample(step, batch_size, "train", n_dims=dims, n_points=points)

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean squared error over every position of every sequence."""
        return (predict(model, batch["xs"], batch["ys"]) - batch["ys"]).pow(2).mean()

    def eval_metrics(self, model: torch.nn.Module, device: torch.device, batch_size: int = 256) -> dict[str, float]:
        """Normalized error (squared error / d) on a fixed held-out batch: mean, and at k = n - 1."""
        batch = self.sample(0, batch_size, "eval")
        xs, ys = batch["xs"].to(device), batch["ys"].to(device)
        err = (predict(model, xs, ys) - ys).pow(2) / self.cfg.n_dims  # (B, n)
        return {"normalized_error": err.mean().item(), "normalized_error_last": err[:, -1].mean().item()}


class PairedRegressionTask(RegressionTask):
    """The same regression data in `pair_tokens` layout; the loss is the query's squared error only.

    This is the setting of von Oswald et al.'s one-layer linear self-attention (fixed context of
    n - 1 pairs, one query), used by the hand-built gradient-descent comparison.
    """

    def model_io(self) -> dict[str, int]:
        """The model widths and sequence length this task needs (icl_study/tasks/io.py)."""
        return model_io("regression_pairs", to_dict(self.cfg))

    @property
    def n_tokens(self) -> int:
        return self.cfg.n_points

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return (predict_query(model, batch["xs"], batch["ys"]) - batch["ys"][:, -1]).pow(2).mean()

    def eval_metrics(self, model: torch.nn.Module, device: torch.device, batch_size: int = 256) -> dict[str, float]:
        """Normalized error (squared error / d) at the query on a fixed held-out batch."""
        batch = self.sample(0, batch_size, "eval")
        xs, ys = batch["xs"].to(device), batch["ys"].to(device)
        err = (predict_query(model, xs, ys) - ys[:, -1]).pow(2) / self.cfg.n_dims  # (B,)
        return {"normalized_error_query": err.mean().item()}
