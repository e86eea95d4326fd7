"""Pilot: does ICL emerge in the paper tier's transience model? As many steps as the
time allows, with ICL accuracy over steps.

    python benchmarks/transience_pilot.py --minutes 5 --out docs/measurements/pilot   # on a GPU
    python benchmarks/transience_pilot.py --tiny --steps 20 --out /tmp/pilot           # CPU check

Trains the paper tier's transience base model (configs/paper.yaml over config.yaml: 12 layers,
width 64, 8 heads, MLP 256) on its bursty data (1600 classes, one label per class, exemplar noise
eps = 0.1, every sequence bursty) with its optimiser settings (AdamW lr 3e-4, 4000 warm-up steps,
then constant; weight decay 0), exactly as `transience_train` would, but stopped by the clock.
The audit of that arm found it is the setting in which small CPU probes learned in-weights, not
in-context (docs/design/transience.md, design 0), so the same stacked group (icl_study/stacked.py: one
model shape, independent members) also trains two same-shape alternatives, as evidence for a
change if the paper setting shows no ICL:

- `paper_s0`, `paper_s1`: the paper setting, seeds 0 and 1;
- `noise0.5_s0`, `noise1.0_s0`: within_class_noise 0.5 and 1.0 (more variation within a class,
  Chan et al.'s lever towards ICL), seed 0.

Every member is evaluated at log-spaced early steps and then every `--eval-every-s` seconds, on
the fixed evaluation batches its training run would log (icl, icl_flip, iwl, ciwl, train_acc;
`eval_size` sequences each, fp32), plus its mean training loss since the last point. Writes
`curve.csv` (member, step, seconds, metric, value) and `summary.json` under `--out`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
# (name, task_config overrides, seed): every member shares the paper model's shape.
MEMBERS = [("paper_s0", {}, 0), ("paper_s1", {}, 1),
           ("noise0.5_s0", {"within_class_noise": 0.5}, 0), ("noise1.0_s0", {"within_class_noise": 1.0}, 0)]
EARLY_STEPS = (50, 100, 200, 500, 1000, 2000, 3000, 5000)


def member_runs(tiny: bool) -> list[tuple[str, dict]]:
    from gpu_step import tier_config

    from icl_study.config import deep_merge
    from icl_study.studies.transience import run_params

    section = tier_config(tiny)["transience"]
    base = run_params(section, "bursty", section["base_size"], 0.0, 0)
    runs = []
    for name, task, seed in MEMBERS:
        run = deep_merge(base, {"task_config": task, "train": {"seed": seed, "device": "auto"}})
        runs.append((name, run))
    return runs


class Evaluator:
    """A member's fixed evaluation batches, drawn once and kept on the device."""

    def __init__(self, task, device):
        from icl_study.rng import generator

        self.task, self.device, self.batches = task, device, {}
        for i, (name, closed) in enumerate(task.EVALUATORS.items()):  # the streams task.evaluate uses
            batch = task.eval_batch(name, generator(task.seed, "eval", i), task.cfg.eval_size)
            labels = {k: batch[k] for k in ("ctx_labels", "query_label")}
            self.batches[name] = (batch["tokens"].to(device), labels, closed)

    def __call__(self, model) -> dict[str, float]:
        import torch

        from icl_study.tasks.bursty import accuracy

        model.eval()
        with torch.no_grad():
            out = {name: accuracy(model(tokens)[:, -1].float().cpu(), labels, closed)
                   for name, (tokens, labels, closed) in self.batches.items()}
        model.train()
        return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="training time (evaluations included)")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps too")
    parser.add_argument("--eval-every-s", type=float, default=15.0, help="seconds between evaluations after the early steps")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny tier (CPU check)")
    parser.add_argument("--eval-size", type=int, default=None, help="sequences per evaluator (default: the tier's)")
    parser.add_argument("--out", type=Path, required=True, help="folder for curve.csv and summary.json")
    args = parser.parse_args(argv)
    import warnings

    import torch

    from icl_study.config import run_config
    from icl_study.device import pick_device
    from icl_study.stacked import Stack, _load_member

    warnings.filterwarnings("ignore", message="There is a performance drop")  # CPU fused attention under vmap
    device = pick_device("auto")
    if device.type == "cpu":  # small models on a shared CPU: one thread (benchmarks/threads.py)
        torch.set_num_threads(1)
    runs = member_runs(args.tiny)
    if args.eval_size:  # a smaller evaluation set, e.g. for a CPU check of the paper shapes
        runs = [(name, {**run, "task_config": {**run["task_config"], "eval_size": args.eval_size}}) for name, run in runs]
    with tempfile.TemporaryDirectory() as empty:  # a fresh start: no checkpoints are read or written
        members = [_load_member(i, run_config(run), Path(empty) / name, device) for i, (name, run) in enumerate(runs)]
    stack = Stack(members, device)
    evaluators = [Evaluator(m.task, device) for m in members]
    names = [name for name, _ in runs]
    cfg = members[0].cfg
    print(f"pilot on {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}: "
          f"{len(members)} stacked members {names}, model {cfg.model.n_layer} x {cfg.model.d_model}, "
          f"{members[0].model.n_params()} parameters each; {cfg.task_config['n_classes']} classes, "
          f"{cfg.task_config['n_labels']} labels; lr {cfg.train.lr:g}, warm-up {cfg.train.warmup_steps}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, pending, windows = [], [], [[] for _ in members]
    budget, step, started = 60.0 * args.minutes, 0, time.perf_counter()
    last_eval, last_eval_step = started, -1

    def read_losses() -> None:
        if pending:
            values = torch.stack(pending).float().tolist()  # (K, E)
            pending.clear()
            for losses in values:
                for window, loss in zip(windows, losses):
                    window.append(loss)

    def evaluate() -> None:
        nonlocal last_eval, last_eval_step
        read_losses()
        last_eval, last_eval_step = time.perf_counter(), step
        seconds = time.perf_counter() - started
        shown = []
        for i, (name, evaluator) in enumerate(zip(names, evaluators)):
            stack.members[i].step = step
            stack.write_member(i)
            metrics = {"train_loss": sum(windows[i]) / len(windows[i])} if windows[i] else {}
            metrics.update(evaluator(members[i].model))
            windows[i] = []
            rows.extend((name, step, round(seconds, 2), key, value) for key, value in metrics.items())
            shown.append(f"{name} icl {metrics['icl']:.3f} iwl {metrics['iwl']:.3f} loss {metrics.get('train_loss', math.nan):.3f}")
        print(f"step {step} ({seconds:.0f} s): " + " | ".join(shown), flush=True)
        with open(args.out / "curve.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(("member", "step", "seconds", "metric", "value"))
            writer.writerows(rows)

    while time.perf_counter() - started < budget and (args.steps is None or step < args.steps):
        pending.append(stack.train_step(step, stack.batch(step), sync=False))
        step += 1
        if len(pending) >= 200:
            read_losses()
            if not all(torch.isfinite(torch.tensor(w[-1:])).all() for w in windows):
                raise FloatingPointError(f"a member's training loss became non-finite by step {step}")
        if step in EARLY_STEPS or time.perf_counter() - last_eval >= args.eval_every_s:
            evaluate()
    if last_eval_step != step:
        evaluate()
    elapsed = time.perf_counter() - started
    summary = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
               "tier": "tiny" if args.tiny else "paper", "members": {n: r["task_config"] for n, r in runs},
               "steps": step, "seconds": elapsed, "steps_per_s": step / elapsed, "per_member": {}}
    for name in names:
        icl = [(s, v) for n, s, _, k, v in rows if n == name and k == "icl"]
        iwl = [(s, v) for n, s, _, k, v in rows if n == name and k == "iwl"]
        peak = max(icl, key=lambda sv: sv[1])
        summary["per_member"][name] = {"peak_icl": peak[1], "peak_icl_step": peak[0], "final_icl": icl[-1][1],
                                       "final_iwl": iwl[-1][1]}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary["per_member"], indent=1), flush=True)
    print(f"{step} steps in {elapsed:.0f} s ({step / elapsed:.1f} steps/s, {len(members)} members)", flush=True)
    return summary


if __name__ == "__main__":
    main()
