"""The LM accuracy tables on hand-made predictions: the paired ICL gain and its interval, and the
contextually calibrated predictor beside the plain one."""

import numpy as np
import pandas as pd
import torch

from icl_study.lm import icl
from icl_study.studies import lm


def _predictions(n=200, seeds=(0, 1, 2), cal_shift=0):
    """Zero-shot right on even examples only; at k = 8 every demonstration set gets every example right
    except set 2, which misses every fourth. Calibrated columns: plain shifted by `cal_shift`."""
    rows = []
    for k, demo_seeds in ((0, seeds[:1]), (8, seeds)):
        for seed in demo_seeds:
            for i in range(n):
                right = (i % 2 == 0) if k == 0 else not (seed == 2 and i % 4 == 0)
                label = i % 2
                pred = label if right else 1 - label
                cal = label if (right or cal_shift) else pred
                rows.append(("m", "t", k, seed, i, label, pred, int(right), 2, cal, int(cal == label)))
    return pd.DataFrame(rows, columns=lm.PREDICTION_COLUMNS + lm.CALIBRATED_COLUMNS)


def test_paired_gain_and_its_two_way_interval_on_a_hand_made_table(tmp_path):
    path = tmp_path / "icl.csv"
    _predictions().to_csv(path, index=False)
    gain = lm.icl_gain_table([str(path)], n_boot=2000)
    assert len(gain) == 1
    row = gain.iloc[0]
    # per example: k = 8 accuracy over the 3 sets minus zero-shot; zero-shot 0.5, k = 8: 1 - (1/3)(1/4)
    expected = (1 - 1 / 12) - 0.5
    assert np.isclose(row["gain"], expected)
    assert row["n_examples"] == 200 and row["n_demo_sets"] == 3 and row["k"] == 8
    assert "two-way" in row["interval"]
    assert 0.2 < row["low"] < expected < row["high"] < 0.6
    # the demonstration sets are a random draw too: with set 2 as good as the others the interval
    # around the (larger) gain is far narrower than with one set that differs
    same = _predictions()
    same.loc[same["k"] == 8, "correct"] = 1
    same.to_csv(path, index=False)
    tight = lm.icl_gain_table([str(path)], n_boot=2000).iloc[0]
    assert np.isclose(tight["gain"], 0.5) and tight["high"] - tight["low"] < row["high"] - row["low"]


def test_calibrated_predictor_sits_beside_the_plain_one_in_the_accuracy_tables(tmp_path):
    path = tmp_path / "icl.csv"
    _predictions(cal_shift=1).to_csv(path, index=False)
    acc = lm.accuracy_table([str(path)])
    assert set(acc["predictor"]) == {"model", "calibrated"}
    assert (acc[acc["predictor"] == "calibrated"]["accuracy"] == 1.0).all()
    ci = lm.accuracy_ci_table([str(path)], n_boot=200)
    plain = ci[(ci["predictor"] == "model") & (ci["k"] == 0)].iloc[0]
    assert np.isclose(plain["mean"], 0.5) and plain["n_examples"] == 200
    assert len(lm.icl_gain_table([str(path)], n_boot=200)) == 1  # gains: the plain predictor's only


def test_contextual_calibration_divides_out_the_content_free_bias():
    # label 0 is favoured by the prompt: every query's plain prediction is 0; the content-free query
    # says how much, and dividing it out recovers the queries whose relative preference is for 1
    logprobs = torch.log(torch.tensor([[0.9, 0.1], [0.7, 0.3], [0.95, 0.05]]))
    content_free = torch.log(torch.tensor([0.8, 0.2]))
    assert logprobs.argmax(-1).tolist() == [0, 0, 0]
    assert icl.calibrated(logprobs, content_free).tolist() == [0, 1, 0]
