"""One torch thread vs two for the default model's training step (why rules use `threads: 1`).

Small models are overhead-bound on a CPU: splitting each tiny matrix product over two threads
costs more in synchronisation than it gains. Times the same training steps with 1 and with 2
threads, each in a fresh process (the thread pool is fixed at start), and prints the ratio.

    python benchmarks/threads.py [--steps 100]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = """
import os, time, torch
torch.set_num_threads({threads})
from icl_study.config import ModelConfig
from icl_study.model import GPT
from icl_study.tasks.regression import RegressionTask
task = RegressionTask({{"n_dims": 5, "n_points": 16}}, seed=0)
model = GPT(ModelConfig(n_layer=3, n_head=4, d_model=64, d_mlp=256, n_positions=32, n_dims_in=5))
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
for step in range({steps} + 10):
    if step == 10:
        start = time.perf_counter()
    loss = task.loss(model, task.sample(step, 64))
    opt.zero_grad(); loss.backward(); opt.step()
print({steps} / (time.perf_counter() - start))
"""


def steps_per_second(threads: int, steps: int) -> float:
    env_prefix = {"OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", CHILD.format(threads=threads, steps=steps)],
                         capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, **env_prefix})
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    one, two = steps_per_second(1, args.steps), steps_per_second(2, args.steps)
    print(f"1 thread: {one:.1f} steps/s   2 threads: {two:.1f} steps/s")
    print(f"ratio 1-thread/2-thread: {one / two:.2f}")


if __name__ == "__main__":
    main()
