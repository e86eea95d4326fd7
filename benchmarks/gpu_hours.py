"""Expected GPU hours of a tier's training jobs, from the workflow's own dry run (an estimate).

    python benchmarks/gpu_hours.py                      # the paper tier: config.yaml + configs/paper.yaml
    python benchmarks/gpu_hours.py --configfile config.yaml configs/paper.yaml --peak-tflops 989

It dry-runs the workflow with `-p`, reads every `train:train_rule` job's run config (its --params),
and models one training step as the slower of two bounds:
- compute: (6 N + 12 n_layer d_model T) FLOPs per token (PaLM's MFU formula) times batch x T
  tokens, at `--mfu` of `--peak-tflops` (bf16 dense);
- overhead: small models are launch-bound, `--floor-ms` plus `--layer-ms` per layer per step.
The defaults are assumptions, not measurements (no GPU was available to calibrate them); replace
them with a measured step time from one paper-tier job (README, GPU section). Non-training jobs
(evaluation, probes, LM inference) are not counted.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def training_jobs(configfiles: list[str]) -> list[tuple[str, dict]]:
    """(rule, run config) of every training job a fresh run of the tier would start."""
    with tempfile.TemporaryDirectory() as workdir:  # an empty directory: every job would run
        cmd = [sys.executable, "-m", "snakemake", "-n", "-p", "--snakefile", str(REPO / "Snakefile"),
               "--directory", workdir, "--configfile", *(str(REPO / f) for f in configfiles)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO).stdout
    jobs = []
    for block in out.split("\n\n"):
        rule = re.search(r"^rule (\w+):", block, re.M)
        params = re.search(r"train:train_rule --params '(\{.*?\})' --out", block)
        if rule and params:
            jobs.append((rule.group(1), json.loads(params.group(1))))
    return jobs


def n_params(model: dict) -> int:
    """Matrix parameters: attention 4 d^2 and MLP 2 d d_mlp per layer, plus embeddings and read-out."""
    d = model["d_model"]
    width_io = model["vocab_size"] or model["n_dims_in"]
    per_layer = 4 * d * d + 2 * d * model["d_mlp"]
    return model["n_layer"] * per_layer + d * (model["n_positions"] + width_io + (model["vocab_size"] or model["n_dims_out"]))


def step_seconds(run: dict, n_tokens: int, args) -> float:
    model, batch = run["model"], run["train"]["batch_size"]
    flops_per_token = 6 * n_params(model) + 12 * model["n_layer"] * model["d_model"] * n_tokens
    compute = flops_per_token * batch * n_tokens / (args.peak_tflops * 1e12 * args.mfu)
    overhead = (args.floor_ms + args.layer_ms * model["n_layer"]) / 1e3
    return max(compute, overhead)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", nargs="+", default=["config.yaml", "configs/paper.yaml"])
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="H100 SXM bf16 dense peak")
    parser.add_argument("--mfu", type=float, default=0.3, help="assumed model FLOPs utilisation")
    parser.add_argument("--floor-ms", type=float, default=2.0, help="assumed fixed cost per step (ms)")
    parser.add_argument("--layer-ms", type=float, default=0.3, help="assumed launch cost per layer per step (ms)")
    args = parser.parse_args(argv)
    from icl_study.tasks import make_task  # the task gives the tokens per sequence

    hours, counts = collections.Counter(), collections.Counter()
    for rule, run in training_jobs(args.configfile):
        n_tokens = make_task(run["task"], run["task_config"], 0).n_tokens
        study = rule.split("_")[0]
        hours[study] += run["train"]["steps"] * step_seconds(run, n_tokens, args) / 3600
        counts[study] += 1
    print(f"assumptions: peak {args.peak_tflops:g} TFLOP/s, MFU {args.mfu:g}, "
          f"overhead {args.floor_ms:g} ms + {args.layer_ms:g} ms/layer per step")
    print(f"{'study':<12}{'training jobs':>14}{'GPU hours':>12}")
    for study in sorted(hours):
        print(f"{study:<12}{counts[study]:>14}{hours[study]:>12.1f}")
    print(f"{'total':<12}{sum(counts.values()):>14}{sum(hours.values()):>12.1f}")


if __name__ == "__main__":
    main()
