"""Reusing the demonstration prefix's KV cache vs recomputing it for every test example.

k-shot ICL evaluation runs the same prefix (the k demonstrations) before every test example.
`icl_study.lm.icl.label_logprobs` runs it once and reuses its KV cache (cropped back after each
query); `use_cache=False` recomputes prefix + query each time. Both are timed in the same process,
on the same model, demonstrations and queries, and must give the same log-probabilities.
Prints seconds per query for each and the speed-up ratio.

    python benchmarks/kv_cache.py [--model resources/lm/smollm2-135m] [--k 8] [--queries 10] [--threads 1]

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
    parser.add_argument("--k", type=int, default=8, help="demonstrations in the prefix")
    parser.add_argument("--queries", type=int, default=10, help="test examples timed")
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
    icl.label_logprobs(lm, prefix, queries[:1], label_ids, use_cache=True)  # warm-up
    timings, results = {}, {}
    for use_cache in (True, False):
        start = time.perf_counter()
        results[use_cache] = icl.label_logprobs(lm, prefix, queries, label_ids, use_cache=use_cache)
        timings[use_cache] = (time.perf_counter() - start) / len(queries)
    max_diff = (results[True] - results[False]).abs().max().item()
    print(f"model {args.model}: k={args.k}, prefix {len(prefix)} tokens, "
          f"queries {sum(map(len, queries)) / len(queries):.0f} tokens on average, {args.threads} thread(s)")
    print(f"cached prefix: {timings[True]:.3f} s/query (the prefix's own pass included)")
    print(f"recomputed:    {timings[False]:.3f} s/query")
    print(f"speed-up (recomputed / cached): {timings[False] / timings[True]:.2f}x; "
          f"max |log-prob difference| {max_diff:.2e}")


if __name__ == "__main__":
    main()
