"""CPU cost of each LM path per scored query, next to a lower bound from its FLOPs.

For each model: ICL scoring (`icl.label_logits`, the label words read out after the
demonstrations' KV cache, as `icl.predict` runs it; its bound has no vocabulary read-out), Dai's
activation reads (`last_token_activations(..., cache=..., full=True, read_out=label ids)` after the
same cache: the label words' logits only, so its bound has no vocabulary read-out), one
Dai finetuning step (SGD on K/V, batch 1) and one Shen GD step (every weight, Shen's minibatches, each
in one forward pass; beside it the baseline of one forward per example) per demonstration.
The bound of a path is its FLOPs over the 1-thread matmul rate measured in the same run at the
model's own shapes (the query's tokens times hidden -> MLP width, and one position times hidden ->
vocabulary): a forward costs 2 x non-embedding parameters x tokens plus 2 x hidden x vocabulary
per position read out; a finetuning step's backward is counted as one more forward (input
gradients) for Dai (K/V weights only) and two more for Shen (input and weight gradients). Attention
over the cached prefix is left out of the bound (it is a lower bound); ICL scoring runs the prefix
once per call, so its bound carries the prefix's forward shared over the queries. Prints CPU-s per query, the
bound and their ratio (the goal: within 2x).

    python benchmarks/lm_engine.py [--model resources/lm/gemma3-270m resources/lm/smollm2-135m] [--k 8] [--queries 20]
"""

from __future__ import annotations

import argparse
import os
import time


def matmul_rate(torch, rows: int, inner: int, outer: int, repeats: int = 5) -> float:
    """FLOP/s of (rows, inner) @ (inner, outer) in float32 on this thread, best of `repeats`."""
    a, b = torch.randn(rows, inner), torch.randn(inner, outer)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        a @ b
        best = min(best, time.process_time() - start)
    return 2 * rows * inner * outer / max(best, 1e-9)


def cpu_per(fn, n: int) -> float:
    start = time.process_time()
    fn()
    return (time.process_time() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["resources/lm/gemma3-270m", "resources/lm/smollm2-135m"])
    parser.add_argument("--k", type=int, default=8, help="demonstrations in the prefix")
    parser.add_argument("--queries", type=int, default=20, help="test examples timed per path")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    from icl_study.lm import data, icl
    from icl_study.lm.activations import last_token_activations
    from icl_study.lm.finetune import FinetuneConfig, example_loss, finetuned
    from icl_study.lm.models import load_lm
    from icl_study.settings.shen import LMConfig as ShenLM

    torch.set_num_threads(args.threads)
    cfg = data.TextTaskConfig(source="mr")
    eval_set, _, pool = data.split(data.load_examples(cfg), args.queries, 0, seed=0)
    demos = data.sample_demos(pool, args.k, seed=0)
    print(f"{args.threads} thread(s), MR, k={args.k}, {args.queries} queries; CPU-s per query (process time)")
    print("| model | path | CPU-s / query | bound (s) | ratio |")
    print("|---|---|---|---|---|")
    for path in args.model:
        lm = load_lm(f"hf:{path}")
        config = lm.model.config
        hidden, vocab = config.hidden_size, config.vocab_size
        width = getattr(config, "intermediate_size", 4 * hidden)
        embed = lm.model.get_input_embeddings().weight.numel()
        non_embedding = sum(p.numel() for p in lm.model.parameters()) - embed
        if lm.model.get_output_embeddings().weight.data_ptr() != lm.model.get_input_embeddings().weight.data_ptr():
            non_embedding -= lm.model.get_output_embeddings().weight.numel()  # an untied read-out is counted apart
        prefix, queries = icl.encode_prompts(lm, cfg, demos, eval_set)
        label_ids = icl.label_token_ids(lm, cfg.label_words)
        tokens = sum(map(len, queries)) / len(queries)
        rate = matmul_rate(torch, max(1, round(tokens)), hidden, width)
        readout_rate = matmul_rate(torch, 1, hidden, vocab, repeats=3)
        # one query's forward; ICL scoring and Dai's read read out the label words' rows only (no vocabulary)
        no_readout = 2 * non_embedding * tokens / rate

        icl.label_logits(lm, prefix, queries[:2], label_ids)  # warm-up
        score = cpu_per(lambda: icl.label_logits(lm, prefix, queries, label_ids), len(queries))
        cache = lm.prefix_cache(prefix)
        acts = cpu_per(lambda: [last_token_activations(lm, q, cache=cache, full=True, read_out=label_ids)
                                for q in queries], len(queries))
        examples = [(lm.encode(data.format_example(cfg, d, False)), label_ids[d.label]) for d in demos]
        demo_tokens = sum(len(p) for p, _ in examples) / len(examples)
        demo_forward = 2 * non_embedding * demo_tokens / rate + 2 * hidden * vocab / readout_rate

        def steps(setting, **kwargs):
            batch_size = ShenLM().batch_size if setting == "shen" else 0  # Shen's minibatches, as the study runs them
            with finetuned(lm, examples, FinetuneConfig(setting, 1e-5, 1, 0, batch_size), **kwargs):
                pass
        dai_step = cpu_per(lambda: steps("dai"), len(examples))
        shen_step = cpu_per(lambda: steps("shen"), len(examples))
        # the baseline: each example's own forward and backward (any loss other than example_loss)
        shen_each = cpu_per(lambda: steps("shen", loss=lambda *a: example_loss(*a)), len(examples))
        prefix_share = 2 * non_embedding * len(prefix) / rate / len(queries)  # the prefix runs once per call
        rows = [("ICL scoring (prefix once, then cached; label words read out)", score, no_readout + prefix_share),
                ("Dai activation read (cached prefix, full, label words read out)", acts, no_readout),
                ("Dai finetuning step (K/V, batch 1), per demonstration", dai_step, 2 * demo_forward),
                ("Shen GD step (all weights, minibatch in one forward), per demonstration", shen_step, 3 * demo_forward),
                ("Shen GD step, one forward per example (the baseline), per demonstration", shen_each, 3 * demo_forward)]
        name = os.path.basename(os.path.normpath(path))
        for label, cpu, bound in rows:
            print(f"| {name} | {label} | {cpu:.3f} | {bound:.3f} | {cpu / bound:.1f}x |")
        print(f"<!-- {name}: {non_embedding / 1e6:.0f}M non-embedding parameters, vocabulary {vocab}, query "
              f"{tokens:.0f} tokens, demonstration {demo_tokens:.0f}, prefix {len(prefix)}; matmul "
              f"{rate / 1e9:.1f} GFLOP/s (T x hidden x MLP), read-out {readout_rate / 1e9:.1f} GFLOP/s -->")


if __name__ == "__main__":
    main()
