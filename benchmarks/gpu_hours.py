"""Expected GPU hours of a tier's training jobs, from the workflow's own dry run.

    python benchmarks/gpu_hours.py                      # the paper tier: config.yaml + configs/paper.yaml
    python benchmarks/gpu_hours.py --configfile config.yaml configs/paper.yaml --peak-tflops 989
    python benchmarks/gpu_hours.py --measured docs/measurements/gpu_step.json

It dry-runs the workflow with `-p` and reads every training run's config: each `train:train_rule`
job, and each seed of a `train:train_seeds_rule` job (ren's seed groups). A run's step time is

- *measured* when `--measured` (default docs/measurements/gpu_step.json, written on a GPU by
  benchmarks/gpu_step.py) holds a paper-tier case of the same shape (layers, width, MLP, heads,
  input/vocabulary width, batch, tokens): the fastest mode of the solo step; with stacked members,
  the member-step time of the largest measured group no larger than the runs of that shape;
- *scaled* from a measured shape that differs only in depth, in proportion to the layers
  (e.g. the Akyurek sweep's shallower cells from its 16-layer measurement);
- else an *estimate*: the slower of compute, (6N + 12 L d T) FLOPs per token (PaLM's MFU formula)
  at `--mfu` of `--peak-tflops` (bf16 dense), and launch overhead, `--floor-ms` plus `--layer-ms`
  per layer per step. These defaults are assumptions, not measurements.
The table says how many runs of each study are measured, scaled or estimated. "stacked" assumes
the runs of one shape train as groups (icl_study/stacked.py), which the workflow does only for
ren's seeds (`train.members_per_job`); non-training jobs (evaluation, probes, LM inference) are
not counted.
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
    """(rule, run config) of every training run a fresh run of the tier would start."""
    with tempfile.TemporaryDirectory() as workdir:  # an empty directory: every job would run
        cmd = [sys.executable, "-m", "snakemake", "-n", "-p", "--snakefile", str(REPO / "Snakefile"),
               "--directory", workdir, "--configfile", *(str(REPO / f) for f in configfiles)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO).stdout
    return parse_training_jobs(out)


def parse_training_jobs(dry_run: str) -> list[tuple[str, dict]]:
    """(rule, run config) per training run in `snakemake -n -p` output: one per `train_rule` job,
    one per seed of a `train_seeds_rule` job."""
    jobs = []
    for block in dry_run.split("\n\n"):
        rule = re.search(r"^rule (\w+):", block, re.M)
        params = re.search(r"train:(train_rule|train_seeds_rule) --params '(\{.*?\})' --out", block)
        if not (rule and params):
            continue
        job = json.loads(params.group(2))
        if params.group(1) == "train_rule":
            jobs.append((rule.group(1), job))
        else:
            jobs += [(rule.group(1), {**job["run"], "train": {**job["run"]["train"], "seed": seed}})
                     for seed in job["seeds"]]
    return jobs


def n_params(model: dict) -> int:
    """Matrix parameters: attention 4 d^2 and MLP 2 d d_mlp per layer, plus embeddings and read-out."""
    d = model["d_model"]
    width_io = model["vocab_size"] or model["n_dims_in"]
    per_layer = 4 * d * d + 2 * d * model["d_mlp"]
    return model["n_layer"] * per_layer + d * (model["n_positions"] + width_io + (model["vocab_size"] or model["n_dims_out"]))


def flops_per_token(model: dict, n_tokens: int) -> float:
    """Training FLOPs per token: 6 N + 12 L d T (PaLM's MFU formula)."""
    return 6 * n_params(model) + 12 * model["n_layer"] * model["d_model"] * n_tokens


def step_seconds(run: dict, n_tokens: int, args) -> float:
    model, batch = run["model"], run["train"]["batch_size"]
    compute = flops_per_token(model, n_tokens) * batch * n_tokens / (args.peak_tflops * 1e12 * args.mfu)
    overhead = (args.floor_ms + args.layer_ms * model["n_layer"]) / 1e3
    return max(compute, overhead)


SHAPE_KEYS = ("n_layer", "n_head", "d_model", "d_mlp", "n_dims_in", "vocab_size")


def shape_key(model: dict, batch_size: int, n_tokens: int, depth: bool = True) -> tuple:
    """What sets a step's time (the attention kind aside); `depth=False` leaves out n_layer."""
    keys = SHAPE_KEYS if depth else SHAPE_KEYS[1:]
    return tuple(model.get(k, 0) for k in keys) + (batch_size, n_tokens)


def load_measurements(path: Path) -> dict | None:
    """gpu_step.py's JSON if it holds paper-tier cases, else None."""
    if not path.exists():
        return None
    measured = json.loads(path.read_text())
    return measured if measured.get("tier") == "paper" and measured.get("cases") else None


def measured_step(cases: list[dict], model: dict, batch: int, n_tokens: int, group: int) -> tuple[float, str] | None:
    """(seconds per member-step, how) from measured cases: same shape, else same shape but depth."""
    for depth in (True, False):
        key = shape_key(model, batch, n_tokens, depth)
        same = [c for c in cases if shape_key(c["model"], c["batch_size"], c["n_tokens"], depth) == key]
        usable = [c for c in same if c["kind"] == "solo" or c["members"] <= group]
        if not usable:
            continue
        best = max(usable, key=lambda c: c["member_steps_per_s"])
        scale = model["n_layer"] / best["model"]["n_layer"]
        return scale / best["member_steps_per_s"], "measured" if depth else "scaled"
    return None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", nargs="+", default=["config.yaml", "configs/paper.yaml"])
    parser.add_argument("--measured", type=Path, default=REPO / "docs" / "measurements" / "gpu_step.json",
                        help="gpu_step.py's JSON (paper tier, on a GPU)")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="H100 SXM bf16 dense peak")
    parser.add_argument("--mfu", type=float, default=0.3, help="assumed model FLOPs utilisation")
    parser.add_argument("--floor-ms", type=float, default=2.0, help="assumed fixed cost per step (ms)")
    parser.add_argument("--layer-ms", type=float, default=0.3, help="assumed launch cost per layer per step (ms)")
    args = parser.parse_args(argv)
    from icl_study.tasks import make_task  # the task gives the tokens per sequence

    measured = load_measurements(args.measured)
    runs = []
    for rule, run in training_jobs(args.configfile):
        n_tokens = make_task(run["task"], run["task_config"], 0).n_tokens
        runs.append((rule.split("_")[0], run, n_tokens))
    same_shape = collections.Counter(shape_key(r["model"], r["train"]["batch_size"], t) for _, r, t in runs)
    hours = {kind: collections.Counter() for kind in ("solo", "stacked")}
    counts, how = collections.Counter(), collections.defaultdict(collections.Counter)
    for study, run, n_tokens in runs:
        model, batch, steps = run["model"], run["train"]["batch_size"], run["train"]["steps"]
        group = same_shape[shape_key(model, batch, n_tokens)]
        for kind in ("stacked", "solo"):  # the solo step's source is the one counted
            found = measured and measured_step(measured["cases"], model, batch, n_tokens, 1 if kind == "solo" else group)
            seconds, source = found or (step_seconds(run, n_tokens, args), "estimate")
            hours[kind][study] += steps * seconds / 3600
        how[study][source] += 1
        counts[study] += 1
    if measured:
        print(f"step times measured on {measured['device']} (bf16 matmul {measured['matmul_tflops']:.0f} TFLOP/s), "
              f"from {args.measured}")
    else:
        print(f"no measurements ({args.measured} absent or not the paper tier): every number is an ESTIMATE")
    print(f"estimated runs assume peak {args.peak_tflops:g} TFLOP/s, MFU {args.mfu:g}, overhead {args.floor_ms:g} ms "
          f"+ {args.layer_ms:g} ms/layer per step; stacked = solo where no stacked group was measured")
    print(f"{'study':<12}{'runs':>6}{'measured':>10}{'scaled':>8}{'estimate':>10}{'GPU h solo':>12}{'GPU h stacked':>15}")
    for study in sorted(counts):
        h = how[study]
        print(f"{study:<12}{counts[study]:>6}{h['measured']:>10}{h['scaled']:>8}{h['estimate']:>10}"
              f"{hours['solo'][study]:>12.1f}{hours['stacked'][study]:>15.1f}")
    print(f"{'total':<12}{sum(counts.values()):>6}{'':>28}{sum(hours['solo'].values()):>12.1f}"
          f"{sum(hours['stacked'].values()):>15.1f}")
    return {"hours": {k: dict(v) for k, v in hours.items()}, "runs": dict(counts), "sources": {k: dict(v) for k, v in how.items()},
            "measured": bool(measured)}


if __name__ == "__main__":
    main()
