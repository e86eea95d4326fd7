"""Scoring test queries after the demonstration prefix: batched vs one at a time vs recomputed.

k-shot ICL evaluation runs the same prefix (the k demonstrations) before every test example.
`icl_study.lm.icl.label_logprobs` runs it once and reuses its KV cache: `batched` scores
`--batch-size` queries per forward pass after it (the default), `one at a time` one query per pass
(the cache cropped back after each); `--recompute` also times recomputing prefix + query each time.
All are timed in the same process, on the same model, demonstrations and queries (wall and
process CPU seconds; CPU is the fair number on a shared machine), and must give the same
predictions. Prints seconds per query, the speed-up ratio and the largest log-prob difference.

    python benchmarks/kv_cache.py [--model resources/lm/smollm2-135m] [--k 16] [--queries 200] [--threads 1]

`--model` takes the converted SmolLM2 directory (`snakemake resources/lm/smollm2-135m --cores 1`)
or any local Hugging Face causal LM directory.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resources/lm/smollm2-135m", help="local HF model directory")
    parser.add_argument("--k", type=int, default=16, help="demonstrations in the prefix")
    parser.add_argument("--queries", type=int, default=200, help="test examples timed")
    parser.add_argument("--batch-size", type=int, default=32, help="queries per forward pass when batched")
    parser.add_argument("--recompute", action="store_true", help="also time recomputing the prefix per query")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    from icl_study.lm import data, icl
    from icl_study.lm.models import load_lm

    torch.set_num_threads(args.threads)
    lm = load_lm(f"hf:{args.model}")
    cfg = data.TextTaskConfig(source="mr")
    eval_set, _, pool = data.split(data.load_examples(cfg), args.queries, 0, seed=0)
    prefix, queries = icl.encode_prompts(lm, cfg, data.sample_demos(pool, args.k, seed=0), eval_set)
    label_ids = icl.label_token_ids(lm, cfg.label_words)
    icl.label_logprobs(lm, prefix, queries[:2], label_ids)  # warm-up
    modes = {"batched": (True, args.batch_size), "one at a time": (True, 1)}
    if args.recompute:
        modes["recomputed"] = (False, 1)
    wall, cpu, results = {}, {}, {}
    for name, (use_cache, batch_size) in modes.items():
        start, start_cpu = time.perf_counter(), time.process_time()
        results[name] = icl.label_logprobs(lm, prefix, queries, label_ids, use_cache=use_cache, batch_size=batch_size)
        wall[name] = (time.perf_counter() - start) / len(queries)
        cpu[name] = (time.process_time() - start_cpu) / len(queries)
    print(f"model {args.model}: k={args.k}, prefix {len(prefix)} tokens, {len(queries)} queries of "
          f"{sum(map(len, queries)) / len(queries):.0f} tokens on average, {args.threads} thread(s)")
    for name in modes:
        diff = (results[name] - results["one at a time"]).abs().max().item()
        same = bool((results[name].argmax(-1) == results["one at a time"].argmax(-1)).all())
        print(f"{name:>13}: {wall[name]:.4f} s/query wall, {cpu[name]:.4f} s/query CPU; "
              f"max |log-prob difference| {diff:.2e}; identical predictions: {same}")
    print(f"speed-up batched vs one at a time: {cpu['one at a time'] / cpu['batched']:.2f}x CPU, "
          f"{wall['one at a time'] / wall['batched']:.2f}x wall")


if __name__ == "__main__":
    main()
