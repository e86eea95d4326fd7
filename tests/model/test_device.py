"""Pins device handling and the config checks made before training: on the CPU the default
precision changes nothing (bit-identical to fp32), bf16 autocast really engages when asked, and a
model too large for the device or a sequence longer than n_positions stops with one line naming
the key, before any weight is allocated."""

import contextlib
import copy
import json
import os
import subprocess
import sys

import pytest
import torch

from icl_study.checkpoint import load_checkpoint
from icl_study.config import ConfigError, ModelConfig
from icl_study.device import autocast, training_memory_bytes
from icl_study.model import GPT
from icl_study.train import train

TINY = {"task": "regression", "task_config": {"n_dims": 2, "n_points": 4},
        "model": {"n_layer": 1, "n_head": 2, "d_model": 16, "d_mlp": 16, "n_positions": 8, "n_dims_in": 2},
        "train": {"steps": 8, "batch_size": 8, "warmup_steps": 2, "checkpoint_every": 4, "log_every": 4,
                  "device": "cpu"}}
HUGE = {"model": {"n_layer": 96, "d_model": 65536, "d_mlp": 262144}}  # ~5e12 parameters


def config(**sections):
    cfg = copy.deepcopy(TINY)
    for name, values in sections.items():
        cfg[name].update(values)
    return cfg


def test_default_precision_is_a_no_op_on_cpu():
    assert isinstance(autocast(torch.device("cpu"), "auto"), contextlib.nullcontext)
    assert isinstance(autocast(torch.device("cpu"), "bf16"), torch.autocast)


def test_cpu_results_unchanged_by_default_and_changed_by_bf16(tmp_path):
    fp32 = load_checkpoint(train(config(train={"precision": "fp32"}), tmp_path / "fp32"))["model"]
    auto = load_checkpoint(train(config(train={"precision": "auto"}), tmp_path / "auto"))["model"]
    bf16 = load_checkpoint(train(config(train={"precision": "bf16"}), tmp_path / "bf16"))["model"]
    assert all(torch.equal(fp32[k], auto[k]) for k in fp32)  # 'auto' on the CPU is plain fp32
    assert any(not torch.equal(fp32[k], bf16[k]) for k in fp32)  # bf16 autocast really ran
    assert all(torch.isfinite(v).all() for v in bf16.values())


def test_memory_estimate_is_a_lower_bound_of_the_parameters():
    cfg = ModelConfig(n_layer=3, n_head=4, d_model=64, d_mlp=256, n_positions=32, n_dims_in=5)
    n_params = GPT(cfg).n_params()
    estimate = training_memory_bytes(cfg, batch_size=1, n_tokens=1)
    # weights + grads + two AdamW moments, 4 bytes each; the estimate skips biases and norms
    assert 0.9 * 16 * n_params < estimate < 16 * n_params + 10_000


def test_model_too_large_for_device_is_refused_before_allocation(tmp_path):
    with pytest.raises(ConfigError, match=r"^model\.n_layer x model\.d_model: training needs at least"):
        train(config(**HUGE), tmp_path)  # would need terabytes: the error comes before GPT() is built
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("overrides, key", [
    (HUGE, "model.n_layer x model.d_model"),
    ({"model": {"n_positions": 4}}, "model.n_positions"),  # 4 pairs are 8 tokens
])
def test_cli_bad_input_is_one_line_naming_the_key(tmp_path, overrides, key):
    cmd = [sys.executable, "-m", "icl_study", "train:train_rule", "--params", json.dumps(config(**overrides)),
           "--out", str(tmp_path / "model.pt")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"icl_study: config error: {key}:")
