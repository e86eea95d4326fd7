"""Training speed of the paper tier's model shapes on this machine's device, measured.

    python benchmarks/gpu_step.py --out docs/measurements/gpu_step.json   # on a GPU machine
    python benchmarks/gpu_step.py --tiny                                  # tiny shapes (tests; automatic without CUDA)
    python benchmarks/gpu_step.py --cpu-ratio   # stacked E = 3 vs 3 solo runs, default tier's sweep size, CPU seconds

1. The device's own matrix rate: a bf16 8192^3 matmul on CUDA (fp32 1024^3 on the CPU), the
   denominator of every MFU below.
2. For each paper-tier shape (configs/paper.yaml over config.yaml; `--tiny`: tests/configs/tiny.yaml):
   Akyurek's 16 x 512 sweep model at d = 8, Garg's 12 x 256 model at d = 20, the transience 12 x 64
   model, and pipeline-gpt's full model (ren/dai corpus runs, 4 x 128): steps/s, tokens/s and MFU of
   - `solo`: train.py's own step (GPT, AdamW, clipping, bf16 autocast on CUDA, `loss.item()` each
     step), eager / compiled (`torch.compile`) / compiled + CUDA graphs (`mode="reduce-overhead"`);
   - `stacked`: icl_study/stacked.py groups of E members (seeds 0..E-1), eager and compiled modes;
     `data live` draws every member's batch as training does (bursty tokens laid out on the GPU),
     `data cached` reuses one batch (the model alone: shows whether drawing batches on the CPU is
     the bottleneck). The solo step lays its batches out on the CPU, as train.py does today.
   MFU counts (6 N + 12 L d T) FLOPs per token (gpu_hours.py's formula) against step 1's rate.
Cases run in priority order (the issue's goals first) within `--budget-s`; the rest are listed as
skipped, with the reason. Compiled modes are skipped without CUDA (compiling took ~70 s on the
2-core CPU) unless `--cpu-compile`. `--out` writes JSON after every case (gpu_hours.py reads it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
SHAPES = ("akyurek", "garg", "transience", "pipeline_gpt")
MODES = ("eager", "compiled", "compiled+cudagraphs")
COMPILE_MODE = {"eager": None, "compiled": "default", "compiled+cudagraphs": "reduce-overhead"}
GOAL_MFU, GOAL_STACK_SPEEDUP = 0.25, 10.0  # goals: Akyurek's MFU; E = 36 transience vs one member


def tier_config(tiny: bool) -> dict:
    """config.yaml with the paper tier (or the tests' tiny tier) merged over it."""
    from icl_study.settings import load_config

    tier = REPO / ("tests/configs/tiny.yaml" if tiny else "configs/paper.yaml")
    return load_config([REPO / "config.yaml", tier])


def shape_runs(config: dict) -> dict[str, dict]:
    """One run config per shape, built from the tier the way the workflow builds the jobs."""
    from icl_study.config import deep_merge
    from icl_study.plan import make_run_config  # fills the model widths the task needs, as the plan does
    from icl_study.studies.transience import run_params

    lin = config["linreg"]
    base = {key: lin[key] for key in ("task", "model", "train")}
    sweep = lin["sweep"]
    deepest = deep_merge(base, deep_merge(sweep["overrides"], {"model": {"n_layer": max(sweep["n_layer"])}}))
    garg = deep_merge(base, next(iter(lin["runs"].values())))
    corpus = config["ren"]["corpus"]
    tr = config["transience"]
    runs = {"akyurek": make_run_config("regression", deepest["task"], deepest["model"], deepest["train"]),
            "garg": make_run_config("regression", garg["task"], garg["model"], garg["train"]),
            "transience": run_params(tr, "bursty", tr["base_size"], 0.0, 0),
            "pipeline_gpt": make_run_config("concepts", corpus["task"], corpus["model"], corpus["train"])}
    for run in runs.values():  # the machine's device, whatever the tier asks for
        run["train"] = {**run["train"], "device": "auto"}
    return runs


def matmul_tflops(device) -> float:
    """Measured dense matmul rate: bf16 8192^3 on CUDA, fp32 1024^3 on the CPU (TFLOP/s)."""
    import torch

    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (1024, torch.float32)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    reps, start = 10 if device.type == "cuda" else 3, time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e12


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def flops_per_step(run: dict, n_tokens: int) -> float:
    from gpu_hours import flops_per_token

    return flops_per_token(run["model"], n_tokens) * run["train"]["batch_size"] * n_tokens


def time_loop(step_fn, device, min_seconds: float, min_steps: int) -> tuple[float, int]:
    """(seconds per step, steps timed) of `step_fn(step)` after it has been warmed up."""
    _sync(device)
    n, start, step = 0, time.perf_counter(), 1000
    while True:
        step_fn(step + n)
        n += 1
        if n >= min_steps and n & (n - 1) == 0:  # check the clock at powers of two (each check syncs)
            _sync(device)
            if time.perf_counter() - start >= min_seconds:
                return (time.perf_counter() - start) / n, n


def solo_case(run: dict, mode: str, device, min_seconds: float, min_steps: int) -> dict:
    """train.py's own training step on one model."""
    import torch

    from icl_study.config import run_config
    from icl_study.tasks import make_task
    from icl_study.train import build_model, make_optimizer, train_step

    cfg = run_config(run)
    task = make_task(cfg.task, cfg.task_config, cfg.train.seed)
    model = build_model(cfg).to(device)
    fast = model if mode == "eager" else torch.compile(model, mode=COMPILE_MODE[mode])
    optimizer = make_optimizer(model, cfg.train)
    started = time.perf_counter()
    for step in range(3):  # warm-up (and compilation)
        train_step(fast, optimizer, task, step, cfg.train, device)
    warmup_s = time.perf_counter() - started
    seconds, n = time_loop(lambda s: train_step(fast, optimizer, task, s, cfg.train, device), device, min_seconds, min_steps)
    return {"step_s": seconds, "steps": n, "warmup_s": warmup_s, "n_tokens": task.n_tokens}


def stacked_case(run: dict, members: int, mode: str, data: str, device, min_seconds: float, min_steps: int) -> dict:
    """A stacked group of `members` runs (seeds 0..E-1) of one shape."""
    from icl_study.config import run_config
    from icl_study.stacked import Stack, _load_member

    with tempfile.TemporaryDirectory() as empty:  # no checkpoints: every member starts at step 0
        group = [_load_member(i, run_config({**run, "train": {**run["train"], "seed": i}}), Path(empty) / str(i), device)
                 for i in range(members)]
    stack = Stack(group, device, compile_mode=COMPILE_MODE[mode])
    cached = stack.batch(0)
    batch = (lambda s: cached) if data == "cached" else stack.batch
    pending = []

    def step_fn(s: int) -> None:
        pending.append(stack.train_step(s, batch(s), sync=False))
        if len(pending) >= 50:
            _check_losses(pending)

    started = time.perf_counter()
    for step in range(3):
        step_fn(step)
    _check_losses(pending)
    warmup_s = time.perf_counter() - started
    seconds, n = time_loop(step_fn, device, min_seconds, min_steps)
    _check_losses(pending)
    return {"step_s": seconds, "steps": n, "warmup_s": warmup_s, "n_tokens": group[0].task.n_tokens}


def _check_losses(pending: list) -> None:
    import torch

    if pending:
        values = torch.stack(pending).float()
        pending.clear()
        if not bool(torch.isfinite(values).all()):
            raise FloatingPointError("a member's loss became non-finite during the benchmark")


def case_list(members: list[int]) -> list[tuple]:
    """(shape, kind, E, mode, data) in priority order: the issue's two goals first."""
    top = max(members)
    cases = [("transience", "solo", 1, "eager", "live")]
    cases += [("transience", "stacked", e, "eager", "live") for e in members]
    cases += [("transience", "stacked", top, "eager", "cached")]
    cases += [(shape, "solo", 1, "eager", "live") for shape in ("akyurek", "garg", "pipeline_gpt")]
    cases += [("akyurek", "solo", 1, "compiled+cudagraphs", "live"),
              ("transience", "stacked", top, "compiled+cudagraphs", "live"),
              ("transience", "solo", 1, "compiled+cudagraphs", "live"),
              ("akyurek", "solo", 1, "compiled", "live"),
              ("garg", "solo", 1, "compiled+cudagraphs", "live"), ("pipeline_gpt", "solo", 1, "compiled+cudagraphs", "live")]
    cases += [(shape, "stacked", e, "eager", "live") for shape in ("pipeline_gpt", "garg", "akyurek") for e in members if e > 1]
    cases += [(shape, "solo", 1, "compiled", "live") for shape in ("transience", "garg", "pipeline_gpt")]
    cases += [("transience", "stacked", top, "compiled", "live")]
    cases += [(shape, "stacked", e, "compiled+cudagraphs", "live") for shape in ("pipeline_gpt", "garg") for e in members if e > 1]
    return cases


def estimated_seconds(mode: str, min_seconds: float, on_cuda: bool) -> float:
    """A case's rough cost, to stay inside the budget: compilation dominates compiled modes."""
    return min_seconds + (5.0 if mode == "eager" else 90.0 if on_cuda else 120.0)


def run_cases(args, device, runs: dict, rate: float, result: dict, out: Path | None) -> None:
    import torch

    on_cuda, started = device.type == "cuda", time.perf_counter()
    for shape, kind, members, mode, data in case_list(args.members):
        if shape not in args.shapes or mode not in args.modes:
            continue
        row = {"shape": shape, "kind": kind, "members": members, "mode": mode, "data": data}
        if mode != "eager" and not on_cuda and not args.cpu_compile:
            row["skipped"] = "no CUDA device: compiled modes are measured on a GPU (--cpu-compile forces them)"
        elif mode == "compiled+cudagraphs" and not on_cuda:
            row["skipped"] = "CUDA graphs need a CUDA device"
        elif time.perf_counter() - started + estimated_seconds(mode, args.min_seconds, on_cuda) > args.budget_s:
            row["skipped"] = f"time budget ({args.budget_s:g} s) spent"
        if "skipped" in row:
            result["skipped"].append(row)
            print(f"{shape:<13}{kind:<8}E={members:<4}{mode:<21}{data:<7}skipped: {row['skipped']}", flush=True)
            continue
        run = runs[shape]
        try:
            if kind == "solo":
                measured = solo_case(run, mode, device, args.min_seconds, args.min_steps)
            else:
                measured = stacked_case(run, members, mode, data, device, args.min_seconds, args.min_steps)
        except Exception as err:  # one failing mode must not lose the others' numbers
            row["error"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300]
            result["failed"].append(row)
            print(f"{shape:<13}{kind:<8}E={members:<4}{mode:<21}{data:<7}FAILED: {row['error']}", flush=True)
        else:
            steps_s = 1.0 / measured["step_s"]
            flops = flops_per_step(run, measured["n_tokens"]) * members
            row.update(measured, steps_per_s=steps_s, member_steps_per_s=steps_s * members,
                       tokens_per_s=steps_s * members * run["train"]["batch_size"] * measured["n_tokens"],
                       mfu=flops * steps_s / (rate * 1e12), batch_size=run["train"]["batch_size"], model=run["model"])
            result["cases"].append(row)
            print(f"{shape:<13}{kind:<8}E={members:<4}{mode:<21}{data:<7}{steps_s:>9.1f} steps/s "
                  f"{row['member_steps_per_s']:>9.1f} member-steps/s {row['tokens_per_s']:>12.3g} tokens/s "
                  f"MFU {100 * row['mfu']:5.1f} % (warm-up {measured['warmup_s']:.1f} s)", flush=True)
        finally:
            if on_cuda:
                torch._dynamo.reset()
                torch.cuda.empty_cache()
        if out:
            out.write_text(json.dumps(result, indent=1))


def goals(result: dict) -> list[str]:
    """The issue's two goals, as measured (or why they cannot be judged)."""
    cases = result["cases"]

    def best(pred):
        found = [c for c in cases if pred(c)]
        return max(found, key=lambda c: c["member_steps_per_s"]) if found else None

    lines = []
    akyurek = best(lambda c: c["shape"] == "akyurek" and c["kind"] == "solo")
    lines.append(f"Akyurek 16 x 512 MFU: {100 * akyurek['mfu']:.1f} % ({akyurek['mode']}), goal >= {100 * GOAL_MFU:g} %: "
                 f"{'met' if akyurek['mfu'] >= GOAL_MFU else 'NOT met'}" if akyurek else "Akyurek MFU: not measured")
    top = max(result["members"])
    solo = best(lambda c: c["shape"] == "transience" and c["kind"] == "solo")
    group = best(lambda c: c["shape"] == "transience" and c["kind"] == "stacked" and c["members"] == top and c["data"] == "live")
    one = best(lambda c: c["shape"] == "transience" and c["kind"] == "stacked" and c["members"] == 1 and c["data"] == "live")
    if solo and group:
        ratio = group["member_steps_per_s"] / solo["member_steps_per_s"]
        lines.append(f"transience E = {top} ({group['mode']}) vs best solo ({solo['mode']}, train.py's step): "
                     f"{ratio:.1f}x member-steps/s, goal >= {GOAL_STACK_SPEEDUP:g}x: "
                     f"{'met' if ratio >= GOAL_STACK_SPEEDUP else 'NOT met'}")
        if one:
            lines.append(f"transience E = {top} vs a stacked group of 1 ({one['mode']}): "
                         f"{group['member_steps_per_s'] / one['member_steps_per_s']:.1f}x member-steps/s")
    else:
        lines.append(f"transience E = {top} vs solo: not measured")
    return lines


def cpu_ratio(args) -> dict:
    """CPU seconds per member-step: stacked E = 3 vs 3 solo runs at the default tier's sweep size
    (config.yaml's linreg sweep, every depth), one thread, interleaved twice (best of two)."""
    import torch

    from icl_study.config import deep_merge, run_config
    from icl_study.stacked import Stack, _load_member
    from icl_study.tasks import make_task
    from icl_study.train import build_model, make_optimizer, train_step

    torch.set_num_threads(1)
    from icl_study.plan import make_run_config as plan_run_config  # the model widths from the task
    from icl_study.settings import load_config

    config = load_config([REPO / "config.yaml"])
    lin = config["linreg"]
    base = {key: lin[key] for key in ("task", "model", "train")}
    device, rows = torch.device("cpu"), []
    for n_layer in lin["sweep"]["n_layer"]:
        merged = deep_merge(base, deep_merge(lin["sweep"]["overrides"], {"model": {"n_layer": n_layer}}))
        cfgs = [run_config(plan_run_config("regression", merged["task"], merged["model"],
                                           {**merged["train"], "seed": seed, "device": "cpu"})) for seed in range(3)]
        stacked_s, solo_s = [], []
        for _ in range(2):
            with tempfile.TemporaryDirectory() as empty:
                members = [_load_member(i, c, Path(empty) / str(i), device) for i, c in enumerate(cfgs)]
            stack = Stack(members, device)
            stack.train_step(0, stack.batch(0))
            start = time.process_time()
            for s in range(1, args.ratio_steps + 1):
                stack.train_step(s, stack.batch(s))
            stacked_s.append(time.process_time() - start)
            total = 0.0
            for c in cfgs:
                task = make_task(c.task, c.task_config, c.train.seed)
                model = build_model(c)
                optimizer = make_optimizer(model, c.train)
                train_step(model, optimizer, task, 0, c.train, device)
                start = time.process_time()
                for s in range(1, args.ratio_steps + 1):
                    train_step(model, optimizer, task, s, c.train, device)
                total += time.process_time() - start
            solo_s.append(total)
        row = {"n_layer": n_layer, "stacked_ms_per_step": 1e3 * min(stacked_s) / args.ratio_steps,
               "solo_ms_per_3_steps": 1e3 * min(solo_s) / args.ratio_steps, "speed_ratio": min(solo_s) / min(stacked_s)}
        rows.append(row)
        print(f"default sweep L={n_layer}: stacked E=3 {row['stacked_ms_per_step']:.1f} ms CPU per step, 3 solo runs "
              f"{row['solo_ms_per_3_steps']:.1f} ms; stacked speed ratio {row['speed_ratio']:.2f}x", flush=True)
    return {"steps": args.ratio_steps, "threads": 1, "rows": rows}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes (automatic without CUDA)")
    parser.add_argument("--paper", action="store_true", help="paper shapes even without CUDA (a CPU smoke check)")
    parser.add_argument("--members", type=int, nargs="+", default=None, help="stacked group sizes (default 1 4 16 36; tiny: 1 2)")
    parser.add_argument("--budget-s", type=float, default=200.0, help="stop starting new cases after this many seconds")
    parser.add_argument("--min-seconds", type=float, default=None, help="timed seconds per case (default 2; tiny 0.2)")
    parser.add_argument("--min-steps", type=int, default=None, help="timed steps per case at least (default 20; tiny 2)")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=SHAPES, help="shapes to time")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES, help="modes to time")
    parser.add_argument("--cpu-compile", action="store_true", help="also time compiled modes on the CPU (slow)")
    parser.add_argument("--cpu-ratio", action="store_true", help="only the CPU stacked-vs-solo ratio (default tier)")
    parser.add_argument("--ratio-steps", type=int, default=20, help="steps per timing in --cpu-ratio")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    import warnings

    import torch

    from icl_study.device import pick_device

    warnings.filterwarnings("ignore", message="There is a performance drop")  # CPU fused attention under vmap
    if args.cpu_ratio:
        result = {"cpu_ratio": cpu_ratio(args)}
        if args.out:
            args.out.write_text(json.dumps(result, indent=1))
        return result
    device = pick_device("auto")
    if device.type == "cpu":  # small models on a shared CPU: one thread (benchmarks/threads.py)
        torch.set_num_threads(1)
    tiny = args.tiny or (device.type != "cuda" and not args.paper)
    args.members = args.members or ([1, 2] if tiny else [1, 4, 16, 36])
    args.min_seconds = args.min_seconds if args.min_seconds is not None else (0.2 if tiny else 2.0)
    args.min_steps = args.min_steps or (2 if tiny else 20)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    rate = matmul_tflops(device)
    print(f"device: {name}; torch {torch.__version__}; tier: {'tiny' if tiny else 'paper'}", flush=True)
    print(f"matmul rate: {rate:.4g} TFLOP/s ({'bf16 8192^3' if device.type == 'cuda' else 'fp32 1024^3'})", flush=True)
    result = {"device": name, "torch": torch.__version__, "tier": "tiny" if tiny else "paper",
              "matmul_tflops": rate, "members": args.members, "cases": [], "skipped": [], "failed": []}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    run_cases(args, device, shape_runs(tier_config(tiny)), rate, result, args.out)
    result["goals"] = goals(result) if not tiny else ["tiny shapes: the issue's goals are judged on the paper shapes only"]
    for line in result["goals"]:
        print(line, flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
