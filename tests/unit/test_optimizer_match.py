"""The per-layer matcher (Fu et al. 2024): its tolerance rule, its control (k-step GD and Newton fed
as pseudo-layers must be matched to k) and the scaling form over depth."""

import math

import pandas as pd
import pytest

from icl_study.measures.optimizer_match import control_recovery, control_rows, matched_step, scaling_rows
from icl_study.studies import diversity as dv
from icl_study.studies import diversity_claims as dc


def test_matched_step_is_the_first_step_on_the_minimum_floor():
    assert matched_step([5.0, 2.0, 1.0, 1.02, 1.0]) == 2  # argmin, the first on ties
    assert matched_step([5.0, 2.0, 1.04, 1.02, 1.0], tolerance=0.05) == 2
    assert matched_step([5.0, 2.0, 1.04, 1.02, 1.0], tolerance=0.0) == 4
    assert matched_step([3.0, 0.0, 0.0001], tolerance=0.5) == 1  # an exact match stays exact


@pytest.mark.parametrize("spread", [1.0, 100.0])
def test_control_recovers_known_k_step_algorithms(spread):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    lcfg = dv.layers_settings({"max_newton_steps": 10, "max_gd_steps": 64})
    data = {split: dv.sample_sequences(n, 8, 3, 0.0, 1.0, 7, i, spread)
            for i, (split, n) in enumerate((("fit", 512), ("test", 256)))}
    lr = dv.choose_gd_lr(data["fit"], lcfg.gd_lr_grid, lcfg.max_gd_steps)
    paths = {"newton": tuple(dv.newton_path(data[s]["xs"], data[s]["ys"], 10) for s in ("fit", "test")),
             "gd": tuple(dv.gd_path(data[s]["xs"], data[s]["ys"], lr, 64) for s in ("fit", "test"))}
    ks = {"newton": (1, 2, 3, 4, 6, 8), "gd": (1, 2, 4, 8, 16, 32)}
    rows = pd.DataFrame(control_rows(data["fit"], data["test"], paths, ks, 1e-6, lcfg.match_tolerance))
    own = rows[rows["source"] == rows["algorithm"]]
    assert list(own["recovered"]) == list(own["k"])
    assert control_recovery(rows) == 1.0
    # the other algorithm needs more GD steps than Newton steps for the same prediction
    newton_as_gd = rows[(rows["source"] == "newton") & (rows["algorithm"] == "gd")].set_index("k")["recovered"]
    assert newton_as_gd.loc[8] > 8


def test_control_recovery_counts_misses():
    control = pd.DataFrame({"source": ["gd", "gd", "newton"], "algorithm": ["gd", "gd", "gd"], "k": [1, 2, 3],
                            "recovered": [1, 3, 9]})
    assert control_recovery(control) == 0.5
    assert math.isnan(control_recovery(control.iloc[2:]))


def test_scaling_rows_read_the_slopes_over_layers():
    layers = pd.DataFrame([{"member": "m", "condition": "isotropic", "layer": layer, "newton_steps": 2 * layer,
                            "gd_steps": 2 ** layer, "newton_at_max": False, "gd_at_max": False} for layer in range(5)])
    (row,) = scaling_rows(layers)
    assert row["n_layers"] == 4 and row["newton_slope"] == pytest.approx(2.0) and row["newton_r2"] == pytest.approx(1.0)
    assert row["gd_slope"] > row["newton_slope"] and row["gd_over_newton_slope"] > 1


def test_active_layers_stop_at_the_first_settled_layer():
    rows = pd.DataFrame({"layer": range(6), "readout_error": [1.0, 0.9, 0.5, 0.105, 0.101, 0.1]})
    assert list(dc.active_layers(rows)["layer"]) == [1, 2, 3]
