"""Pins the hand-built gradient descent of icl_study.gd_construction (von Oswald et al. 2023).

What is pinned: the pair-token layout round-trips and hides the query's y; the 1-layer linear
self-attention equals one GD step from w = 0 and a stack of L GD layers equals L steps (max abs
difference <= 1e-5 in float64, for several d, n and learning rates); the prediction ignores the
query's own y; the closed-form optimal step size beats every other step size on the same tasks.
"""

import pytest
import torch

from icl_study.baselines import gradient_descent
from icl_study.gd_construction import (lsa_config, multi_step_gd_model, one_step_gd_model,
                                       optimal_one_step_lr, predict_stack, stack_tokens)
from icl_study.tasks.regression import pair_tokens, predict_query, unpair_tokens


def _tasks(n_dims: int, n_points: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    xs = torch.randn(32, n_points, n_dims, generator=gen, dtype=torch.float64)
    ys = torch.randn(32, n_points, generator=gen, dtype=torch.float64)  # arbitrary y: exactness is algebraic
    return xs, ys


def test_pair_tokens_round_trip_and_hide_query_target():
    xs, ys = _tasks(3, 5)
    tokens = pair_tokens(xs, ys)
    assert tokens.shape == (32, 5, 4)  # e_j = (x_j, y_j): d + 1 wide
    assert torch.all(tokens[:, -1, -1] == 0)  # the query token is (x_q, 0)
    back_x, back_y = unpair_tokens(tokens)
    assert torch.equal(back_x, xs) and torch.equal(back_y, ys[:, :-1])


def test_stack_tokens_move_query_x_to_its_own_slots():
    xs, ys = _tasks(2, 4)
    tokens = stack_tokens(xs, ys)  # (B, n, 2d + 1)
    assert torch.equal(tokens[:, :-1, :2], xs[:, :-1]) and torch.all(tokens[:, :-1, 3:] == 0)
    assert torch.all(tokens[:, -1, :3] == 0) and torch.equal(tokens[:, -1, 3:], xs[:, -1])


@pytest.mark.parametrize("n_dims,n_points,lr", [(1, 4, 0.5), (3, 8, 0.3), (5, 16, 1.2)])
def test_one_layer_lsa_is_one_gd_step(n_dims, n_points, lr):
    xs, ys = _tasks(n_dims, n_points)
    model = one_step_gd_model(n_dims, n_points, lr, torch.float64)
    assert model.cfg == lsa_config(n_dims, n_points) and len(model.blocks) == 1
    diff = (predict_query(model, xs, ys) - gradient_descent(xs, ys, lr, steps=1)[:, -1]).abs().max()
    assert diff <= 1e-5, diff  # exact up to float64 rounding (~1e-15 in practice)


@pytest.mark.parametrize("steps", [1, 2, 3, 4])
@pytest.mark.parametrize("n_dims,n_points,lr", [(2, 6, 0.4), (4, 11, 0.9)])
def test_stack_of_l_layers_is_l_gd_steps(steps, n_dims, n_points, lr):
    xs, ys = _tasks(n_dims, n_points, seed=steps)
    model = multi_step_gd_model(n_dims, n_points, lr, steps, torch.float64)
    diff = (predict_stack(model, xs, ys) - gradient_descent(xs, ys, lr, steps=steps)[:, -1]).abs().max()
    assert diff <= 1e-5, diff


def test_constructions_ignore_the_query_target():
    xs, ys = _tasks(3, 6)
    changed = ys.clone()
    changed[:, -1] += 10.0  # only the query's own y differs
    for model, fn in ((one_step_gd_model(3, 6, 0.5, torch.float64), predict_query),
                      (multi_step_gd_model(3, 6, 0.5, 2, torch.float64), predict_stack)):
        assert torch.equal(fn(model, xs, ys), fn(model, xs, changed))


def test_optimal_one_step_lr_beats_neighbours():
    gen = torch.Generator().manual_seed(3)
    xs = torch.randn(512, 9, 3, generator=gen, dtype=torch.float64)
    ys = torch.einsum("bnd,bd->bn", xs, torch.randn(512, 3, generator=gen, dtype=torch.float64))
    best = optimal_one_step_lr(xs, ys)

    def loss(lr):
        return (gradient_descent(xs, ys, lr, 1)[:, -1] - ys[:, -1]).pow(2).mean().item()

    assert all(loss(best) <= loss(best * factor) for factor in (0.5, 0.9, 1.1, 2.0))  # a quadratic's minimum
