"""Pins the regression task: the token layout round-trips, and batches are pure functions of
(seed, step) — the property that makes a resumed run equal an uninterrupted one."""

import torch

from icl_study.config import Curriculum
from icl_study.tasks.regression import RegressionTask, curriculum_size, deinterleave_xy, interleave_xy


def test_interleave_round_trip_and_layout():
    xs, ys = torch.randn(3, 4, 5), torch.randn(3, 4)
    tokens = interleave_xy(xs, ys)
    assert tokens.shape == (3, 8, 5)
    assert torch.equal(tokens[:, 0], xs[:, 0]) and torch.equal(tokens[:, 2], xs[:, 1])  # x-tokens at even positions
    assert torch.equal(tokens[:, 1, 0], ys[:, 0]) and torch.all(tokens[:, 1::2, 1:] == 0)  # y-token = (y, 0, ..., 0)
    back_x, back_y = deinterleave_xy(tokens)
    assert torch.equal(back_x, xs) and torch.equal(back_y, ys)


def test_same_seed_and_step_give_the_same_batch():
    task = RegressionTask({"n_dims": 3, "n_points": 5, "noise_std": 0.1}, seed=7)
    a, b = task.sample(42, 8), task.sample(42, 8)
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = task.sample(43, 8)
    assert not torch.equal(a["xs"], c["xs"])  # another step is another batch
    other = RegressionTask({"n_dims": 3, "n_points": 5, "noise_std": 0.1}, seed=8).sample(42, 8)
    assert not torch.equal(a["xs"], other["xs"])  # another seed is another stream


def test_train_and_eval_streams_differ():
    task = RegressionTask({"n_dims": 3, "n_points": 5}, seed=0)
    assert not torch.equal(task.sample(0, 4, "train")["xs"], task.sample(0, 4, "eval")["xs"])


def test_noiseless_targets_are_linear():
    batch = RegressionTask({"n_dims": 4, "n_points": 6}, seed=0).sample(0, 5)
    torch.testing.assert_close(batch["ys"], torch.einsum("bnd,bd->bn", batch["xs"], batch["ws"]))


def test_pool_draws_only_pool_vectors_and_fresh_w_escapes_it():
    task = RegressionTask({"n_dims": 3, "n_points": 4, "pool_size": 2}, seed=0)
    ws = task.sample(0, 64)["ws"]
    assert all(any(torch.equal(w, p) for p in task.pool) for w in ws)
    fresh = task.sample(0, 64, fresh_w=True)["ws"]
    assert not any(torch.equal(w, p) for w in fresh for p in task.pool)


def test_curriculum_grows_and_switches_off_dimensions():
    cur = Curriculum(dims_start=2, dims_step=1, points_start=3, points_step=2, interval=10)
    assert curriculum_size(cur, 5, 9, 0) == (2, 3)
    assert curriculum_size(cur, 5, 9, 25) == (4, 7)
    assert curriculum_size(cur, 5, 9, 10_000) == (5, 9)  # capped at the full size
    task = RegressionTask({"n_dims": 5, "n_points": 9, "curriculum": {"dims_start": 2, "dims_step": 1,
                           "points_start": 3, "points_step": 2, "interval": 10}}, seed=0)
    batch = task.train_batch(0, 4)
    assert batch["xs"].shape == (4, 3, 5) and torch.all(batch["xs"][:, :, 2:] == 0)
