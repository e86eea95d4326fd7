"""Which optimizer step does a layer match? (Fu et al. 2024) The matching rule, its control, and
the scaling form over depth.

`studies/diversity.py` reads each layer out linearly and measures, for every step s of iterative
Newton and of gradient descent, the SPD between the read-out and the algorithm's calibrated step-s
prediction (`match_layers`, with its linear read-out `fit_linear`, here). Three things besides:

* `matched_step(spds, tolerance)`: the first step whose SPD is at most (1 + `tolerance`) × the
  curve's minimum. Near convergence consecutive steps of GD (and Newton) give
  nearly the same prediction, so the plain argmin wanders over a flat floor and rewards
  noise; the first step on that floor is the number of steps the layer needs.
* `control_rows`: the matcher run on pseudo-layers whose features ARE k-step GD or k-step Newton
  predictions (on the same fit/test sequences). A matcher that works recovers k for the same
  algorithm (rows `recovered == k`); the ledger's gate reads these rows before any claim on trained
  layers is decided.
* `scaling_rows`: per member (seed) and condition, the least-squares slope over layers of matched
  Newton steps and of matched GD steps, the Newton fit's R² (Newton steps linear in depth: a
  roughly constant number of Newton steps per layer) and the ratio of the slopes (GD steps grow
  faster).

Torch is imported only inside the functions that need it.
"""

from __future__ import annotations

import math

ALGORITHMS = ("newton", "gd")


def matched_step(spds, tolerance: float = 0.0) -> int:
    """First index s with spds[s] <= (1 + tolerance) * min(spds); tolerance 0 is the argmin (the
    first one on ties). Relative to the minimum, not to the curve's range: an exact match (SPD 0)
    is found at its own step whatever the tolerance, while a layer sitting on a floor above 0 gets
    the first step of that floor. (A tolerance of 1 % of the range put 128-step GD at step 34.)"""
    values = [float(v) for v in spds]
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0
    bound = min(finite) * (1.0 + tolerance)
    return next(s for s, v in enumerate(values) if math.isfinite(v) and v <= bound)


def control_rows(fit: dict, test: dict, paths: dict, ks: dict, ridge: float, tolerance: float,
                 condition: str = "isotropic") -> list[dict]:
    """Feed each algorithm's k-step predictions (k in ks[name]) as a one-feature pseudo-layer to
    `match_layers` and record the step each algorithm matches. `paths[name] = (fit path, test
    path)`, each (S+1, B). One row per (source algorithm, k, matched algorithm)."""
    rows = []
    for source, source_ks in ks.items():
        fit_path, test_path = paths[source]
        for k in source_ks:
            if k >= len(fit_path):
                raise ValueError(f"control: {source} k={k} beyond the {len(fit_path) - 1} steps compared")
            spd, _ = match_layers([fit_path[k][:, None]], [test_path[k][:, None]], fit, test, paths, ridge)
            for name in paths:
                curve = [r["spd"] for r in sorted((r for r in spd if r["algorithm"] == name), key=lambda r: r["steps"])]
                rows.append({"condition": condition, "source": source, "k": k, "algorithm": name,
                             "recovered": matched_step(curve, tolerance), "spd_at_k": curve[k] if k < len(curve) else math.nan,
                             "own": name == source, "recovered_exactly": matched_step(curve, tolerance) == k})
    return rows


def control_recovery(control) -> float:
    """Fraction of (source, k) control rows whose own algorithm recovers k exactly."""
    own = control[control["source"] == control["algorithm"]]
    return float((own["recovered"] == own["k"]).mean()) if len(own) else math.nan


def _slope_and_r2(layers, steps) -> tuple[float, float]:
    import numpy as np

    x, y = np.asarray(layers, dtype=float), np.asarray(steps, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        return math.nan, math.nan
    slope, intercept = np.polyfit(x, y, 1)
    residual = ((y - (slope * x + intercept)) ** 2).sum()
    total = ((y - y.mean()) ** 2).sum()
    return float(slope), float(1.0 - residual / total) if total > 0 else math.nan


def scaling_rows(layers) -> list[dict]:
    """Per (member, condition): over layers 1..L (layer 0, the embedding, predicts nothing), the
    slope of matched Newton and GD steps, the Newton fit's R², the GD/Newton slope ratio, and how
    many layers' matches sit at the largest step compared (lower bounds)."""
    rows = []
    for (member, condition), group in layers.groupby(["member", "condition"], sort=True):
        group = group[group["layer"] >= 1].sort_values("layer")
        newton_slope, newton_r2 = _slope_and_r2(group["layer"], group["newton_steps"])
        gd_slope, gd_r2 = _slope_and_r2(group["layer"], group["gd_steps"])
        ratio = gd_slope / newton_slope if newton_slope and newton_slope > 0 else math.nan
        rows.append({"member": member, "condition": condition, "n_layers": len(group),
                     "newton_slope": newton_slope, "newton_r2": newton_r2, "gd_slope": gd_slope, "gd_r2": gd_r2,
                     "gd_over_newton_slope": ratio,
                     "at_max": sum(int(group[column].sum()) for column in ("newton_at_max", "gd_at_max")
                                   if column in group)})
    return rows


def fit_linear(features, target, ridge: float = 1e-6):
    """Least squares with bias: returns `predict(features (B, C)) -> (B,)`. `ridge` is relative to
    the mean feature power, so the fit is scale-free and never singular."""
    import torch

    def design(f):
        return torch.cat([f, torch.ones_like(f[:, :1])], dim=1)  # (B, C + 1)

    A = design(features.double())
    gram = A.T @ A
    gram = gram + ridge * gram.diagonal().mean() * torch.eye(A.shape[1], dtype=A.dtype)
    coef = torch.linalg.solve(gram, A.T @ target.double())

    def predict(f):
        return (design(f.double()) @ coef).to(f.dtype)

    return predict


def match_layers(fit_layers: list, test_layers: list, fit: dict, test: dict, paths: dict, ridge: float):
    """For each layer: its read-out (fitted to y on `fit`) vs each algorithm's calibrated step-s
    prediction on `test`. `paths[name] = (fit path (S+1, B), test path (S+1, B))`. Returns rows
    (layer, algorithm, steps, spd) and per layer the read-out's normalized error."""
    rows, errors = [], []
    d = fit["xs"].shape[-1]
    calibrated = {}
    for name, (fit_path, test_path) in paths.items():
        calibrated[name] = [fit_linear(fit_path[s][:, None], fit["ys"][:, -1], ridge)(test_path[s][:, None])
                            for s in range(len(fit_path))]
    for layer, (f_fit, f_test) in enumerate(zip(fit_layers, test_layers)):
        readout = fit_linear(f_fit, fit["ys"][:, -1], ridge)(f_test)  # (B,)
        errors.append(((readout - test["ys"][:, -1]) ** 2).mean().item() / d)
        for name, preds in calibrated.items():
            rows += [{"layer": layer, "algorithm": name, "steps": s, "spd": ((readout - p) ** 2).mean().item() / d}
                     for s, p in enumerate(preds)]
    return rows, errors
