"""Pins "GPUs for training rules when the tier asks": in the paper tier's DAG every training job
(`train:train_rule`) requests `gpu=1` exactly when its run config sets `train.device: cuda`, which
the SLURM plugin turns into `--gpus=1`; the default tier requests no GPU at all."""

import json
import re

import pytest

from workflow_helpers import REPO, snakemake


def training_jobs(stdout: str) -> list[tuple[str, int, str]]:
    """(rule, requested gpus, train.device) of every training job in a `-n -p` dry run."""
    jobs = []
    for block in stdout.split("\n\n"):
        rule = re.search(r"^rule (\w+):", block, re.M)
        params = re.search(r"train:train_rule --params '(\{.*?\})' --out", block)
        if rule and params:
            gpus = re.search(r"resources: .*\bgpu=(\d+)", block)
            jobs.append((rule.group(1), int(gpus.group(1)) if gpus else 0,
                         json.loads(params.group(1))["train"]["device"]))
    return jobs


@pytest.mark.parametrize("tier, configfiles", [
    ("default", (REPO / "config.yaml",)),
    ("paper", (REPO / "config.yaml", REPO / "configs" / "paper.yaml")),
])
def test_training_jobs_request_a_gpu_exactly_when_the_tier_asks(tier, configfiles, tmp_path):
    jobs = training_jobs(snakemake(tmp_path, "-n", "-p", configfiles=configfiles).stdout)
    assert jobs, "no training jobs found in the dry run"
    for rule, gpus, device in jobs:
        assert gpus == (1 if device == "cuda" else 0), f"{rule}: gpu={gpus} with train.device {device}"
    if tier == "paper":
        assert any(gpus == 1 for _, gpus, _ in jobs)  # the paper tier does ask for GPUs
    else:
        assert all(gpus == 0 for _, gpus, _ in jobs)
