"""Pins the LM substrate's loading, prompting, caching, hooks and finetuning on a tiny random GPT-2
saved to a temporary directory and read back offline (HF_HUB_OFFLINE), in seconds."""

import logging
import os
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from icl_study.lm import data, icl
from icl_study.lm.activations import last_token_activations
from icl_study.lm.finetune import FinetuneConfig, finetuned, pick_lr, trainable
from icl_study.lm.models import layer_of, load_lm
from icl_study.studies import lm as lm_study

MR = data.TextTaskConfig(source="mr")


@pytest.fixture(scope="module")
def gpt2(gpt2_dir):
    return load_lm(f"hf:{gpt2_dir}")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A 3-step pipeline-gpt (2 layers, width 16) on a tiny concepts task, loaded as the studies load it."""
    from icl_study.train import train

    run = {"task": "concepts", "task_config": {"n_classes": 16, "n_labels": 4, "context_len": 4, "bursty_shots": 1},
           "model": {"n_layer": 2, "n_head": 2, "d_model": 16, "d_mlp": 32, "n_positions": 10, "vocab_size": 20},
           "train": {"steps": 3, "batch_size": 4, "warmup_steps": 1, "log_every": 3, "checkpoint_every": 3}}
    return load_lm("pipeline-gpt", train(run, tmp_path_factory.mktemp("pipeline")))


@pytest.fixture(scope="module")
def mr_splits():
    return data.split(data.load_examples(MR), n_eval=6, n_val=4, seed=0)


def test_loading_is_offline(gpt2):
    """Loading a model switches the hub off for the whole process."""
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert gpt2.n_layer == 2


def test_cached_prefix_gives_the_same_logprobs_as_recomputing(gpt2, mr_splits):
    """Reusing (and cropping) the demonstration prefix's KV cache changes no number."""
    eval_set, _, pool = mr_splits
    demos = data.sample_demos(pool, 4, seed=1)
    _, cached = icl.predict(gpt2, MR, demos, eval_set, use_cache=True)
    _, recomputed = icl.predict(gpt2, MR, demos, eval_set, use_cache=False)
    assert cached.shape == (len(eval_set), 2)
    torch.testing.assert_close(cached, recomputed, atol=1e-5, rtol=1e-5)


def test_lm_forwards_use_the_cache_api_without_deprecation_warnings(gpt2, mr_splits):
    """Every cached forward (prefix, one query, a batch of queries, hooked activations) passes the
    Cache as `cache`, the name transformers >= 5.24 takes: no FutureWarning for `past_key_values`
    (removed in 5.40), nothing deprecated in transformers' log."""
    eval_set, _, pool = mr_splits
    demos = data.sample_demos(pool, 4, seed=1)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            prefix_ids, query_ids = icl.encode_prompts(gpt2, MR, demos, eval_set)
            for batch_size in (1, 4):
                icl.next_token_logprobs(gpt2, prefix_ids, query_ids, use_cache=True, batch_size=batch_size)
            prefix = gpt2.encode("Review: a fine film\nSentiment: positive\n")
            cache = gpt2.prefix_cache(prefix)
            last_token_activations(gpt2, gpt2.encode("Review: dull\nSentiment:"), cache=cache)
    finally:
        logger.removeHandler(handler)
    assert not [r.getMessage() for r in records if "deprecat" in r.getMessage().lower()]


def test_icl_text_table_runs_end_to_end(gpt2_dir):
    """The rule's whole path (load, split, demos, prompts, cache, scoring) gives one row per example."""
    params = {"spec": f"hf:{gpt2_dir}", "model_name": "tiny", "task_name": "mr",
              "task": {"source": "mr"}, "eval": {"ks": [0, 2], "demo_seeds": [0, 1], "n_eval": 6, "n_val": 4}}
    table = lm_study.icl_text_table(params, None)
    assert len(table) == 6 * (1 + 2)  # k = 0 once, k = 2 for each of 2 seeds
    assert set(table["pred"]) <= {0, 1} and table["n_classes"].eq(2).all()
    summary = lm_study.accuracy_table_from(table)
    assert set(summary["k"]) == {0, 2} and summary["chance"].eq(0.5).all()


def test_splits_are_disjoint_balanced_and_demos_deterministic(mr_splits):
    eval_set, val_set, pool = mr_splits
    assert sorted(e.label for e in eval_set) == [0, 0, 0, 1, 1, 1]
    assert sorted(e.label for e in val_set) == [0, 0, 1, 1]
    assert not {e.text for e in eval_set} & {e.text for e in pool}
    demos = data.sample_demos(pool, 8, seed=3)
    assert demos == data.sample_demos(pool, 8, seed=3)  # a pure function of (seed, k)
    assert sum(d.label for d in demos) == 4  # balanced over the 2 classes


def test_vader_tasks_bin_the_crowd_ratings():
    """10,605 snippets; the binary task drops exactly the middle (neutral) bin."""
    five = data.load_examples(data.TextTaskConfig(source="vader5", label_words=tuple("abcde")))
    two = data.load_examples(data.TextTaskConfig(source="vader2"))
    assert len(five) == 10605
    assert len(two) == len(five) - sum(e.label == 2 for e in five)


def test_hf_scores_are_the_pre_softmax_attention(gpt2, gpt2_dir):
    """softmax of the captured last-token scores equals the eager model's attention pattern."""
    from transformers import AutoModelForCausalLM

    ids = gpt2.encode("Review: a fine film\nSentiment:")
    acts = last_token_activations(gpt2, ids)
    assert acts["attn_out"].shape == (2, 32) and acts["q"].shape == (2, 2, 16)
    eager = AutoModelForCausalLM.from_pretrained(gpt2_dir, attn_implementation="eager").eval()
    with torch.no_grad():
        attentions = eager(torch.tensor([ids]), output_attentions=True).attentions
    for layer in range(2):
        torch.testing.assert_close(acts["scores"][layer].softmax(-1), attentions[layer][0, :, -1], atol=1e-5, rtol=1e-4)


def test_pipeline_gpt_goes_through_the_same_interface(pipeline):
    """pipeline-gpt: hooks give (L, ...) activations and the prefix path equals one full forward."""
    lm = pipeline
    ids = [1, 17, 2, 18, 1]
    acts = last_token_activations(lm, ids)
    assert acts["scores"].shape == (2, 2, 5) and acts["q"].shape == (2, 2, 8) and acts["attn_out"].shape == (2, 16)
    with torch.no_grad():
        full = lm.logits(torch.tensor([ids]))[0, -1]
        torch.testing.assert_close(lm.logits_after(lm.prefix_cache(ids[:3]), 3, ids[3:]), full)
    assert set(lm.kv_masks()) == {f"blocks.{i}.attn.qkv.{p}" for i in range(2) for p in ("weight", "bias")}


def _snapshot(lm):
    return {n: p.detach().clone() for n, p in lm.named_parameters()}


def test_dai_finetuning_moves_only_keys_and_values_and_restores(gpt2, mr_splits):
    """Dai's setting changes the K/V columns of GPT-2's fused c_attn and nothing else; exit restores all."""
    _, _, pool = mr_splits
    label_ids = icl.label_token_ids(gpt2, MR.label_words)
    examples = [(gpt2.encode(data.format_example(MR, d, False)), label_ids[d.label]) for d in data.sample_demos(pool, 4, 0)]
    before = _snapshot(gpt2)
    with finetuned(gpt2, examples, FinetuneConfig("dai", lr=0.5)):
        after = _snapshot(gpt2)
    for name, value in after.items():
        if name.endswith("attn.c_attn.weight") or name.endswith("attn.c_attn.bias"):
            width = value.shape[-1] // 3
            assert torch.equal(value[..., :width], before[name][..., :width])  # queries frozen
            assert not torch.equal(value[..., width:], before[name][..., width:])  # keys and values moved
        else:
            assert torch.equal(value, before[name]), name
    assert all(torch.equal(p, before[n]) for n, p in _snapshot(gpt2).items())


def test_shen_finetuning_last_layer_and_gd_lowers_the_loss(gpt2, mr_splits):
    """Shen's setting with last_layers=1 touches only block 1; full-batch GD lowers the demo loss."""
    from icl_study.lm.finetune import example_loss

    _, _, pool = mr_splits
    label_ids = icl.label_token_ids(gpt2, MR.label_words)
    examples = [(gpt2.encode(data.format_example(MR, d, False)), label_ids[d.label]) for d in data.sample_demos(pool, 4, 0)]
    cfg = FinetuneConfig("shen", lr=0.05, steps=3, last_layers=1)
    assert {layer_of(n) for n in trainable(gpt2, cfg)} == {1}
    mean_loss = lambda: sum(example_loss(gpt2, p, t).item() for p, t in examples) / len(examples)  # noqa: E731
    start = mean_loss()
    with finetuned(gpt2, examples, cfg):
        assert mean_loss() < start  # small lr, smooth loss: descent by construction
    assert mean_loss() == pytest.approx(start, abs=1e-6)


def test_pick_lr_takes_the_best_validation_score(gpt2):
    """The chosen lr is the argmax of the validation score (ties to the smaller lr)."""
    scores = iter([0.5, 0.9, 0.9])
    lr, table = pick_lr(gpt2, [], (0.1, 0.01, 1.0), FinetuneConfig("dai"), lambda m: next(scores))
    assert lr == 0.1 and table == {0.01: 0.5, 0.1: 0.9, 1.0: 0.9}


@pytest.mark.parametrize("source,n_eval,n_val", [("mr", 40, 32), ("vader5", 23, 12)])
def test_every_prefix_of_a_split_is_balanced_within_one(source, n_eval, n_val):
    """Studies take the first n of a split (Shen's n_queries): every prefix must be balanced to
    within one example per class, so no prefix is all one class."""
    task = data.TextTaskConfig(source=source, label_words=MR.label_words if source == "mr" else
                               (" terrible", " bad", " okay", " good", " great"))
    examples = data.load_examples(task)
    eval_set, val_set, _ = data.split(examples, n_eval, n_val, seed=0)
    n_classes = len(task.label_words)
    for subset in (eval_set, val_set):
        for n in range(1, len(subset) + 1):
            counts = [sum(e.label == c for e in subset[:n]) for c in range(n_classes)]
            assert max(counts) - min(counts) <= 1, (n, counts)  # balanced within one at this prefix


def test_accuracy_intervals_cluster_by_test_example(tmp_path):
    """The LM accuracy table with intervals: per (model, task, predictor, k) over demonstration
    sets, resampling unique test examples; concept episodes each count once."""
    from icl_study import metrics
    from icl_study.rng import stream_seed

    rng = np.random.default_rng(0)
    rows = [("m", "mr", k, s, i, i % 2, int(c), int(c == i % 2), 2)
            for k, seeds in ((0, [0]), (4, [0, 1, 2])) for s in seeds for i in range(30) for c in [rng.integers(0, 2)]]
    predictions = pd.DataFrame(rows, columns=lm_study.PREDICTION_COLUMNS)
    predictions.to_csv(tmp_path / "icl.csv", index=False)
    concepts = pd.DataFrame([("pipeline-gpt", "concepts-fresh", "model", 2, s, 0.75, 8, 0.5) for s in (0, 1)],
                            columns=lm_study.ACCURACY_COLUMNS)
    concepts.to_csv(tmp_path / "concepts.csv", index=False)
    table = lm_study.accuracy_ci_table([str(tmp_path / "icl.csv"), str(tmp_path / "concepts.csv")], n_boot=300)
    row = table[(table["task"] == "mr") & (table["k"] == 4)].iloc[0]
    sub = predictions[predictions["k"] == 4]
    expected = metrics.cluster_bootstrap_ci(sub["correct"].to_numpy(float), sub["example"].to_numpy(), 300,
                                            seed=stream_seed(0, "bootstrap"))
    assert (row["mean"], row["low"], row["high"]) == pytest.approx(expected[:3])
    assert row["n_examples"] == 30 and row["n_demo_sets"] == 3
    concept = table[table["task"] == "concepts-fresh"].iloc[0]
    assert concept["n_examples"] == 16 and concept["mean"] == 0.75  # 2 seeds x 8 episodes, 12 right


def test_finetune_table_scores_zero_shot_once_per_example(gpt2_dir):
    """Finetuning vs ICL: per-example rows; zero-shot once (demo_seed -1), ICL and FT per seed."""
    params = {"spec": f"hf:{gpt2_dir}", "model_name": "tiny", "task_name": "mr", "task": {"source": "mr"},
              "eval": {"n_eval": 4, "n_val": 2},
              "finetune": {"setting": "dai", "lr_grid": [0.01], "steps": 1, "last_layers": 0, "k": 2, "demo_seeds": [0, 1]}}
    table = lm_study.finetune_table(params, None)
    assert table.groupby("predictor").size().to_dict() == {"zero-shot": 4, "icl": 8, "finetune-dai": 8}
    assert set(lm_study.accuracy_table_from(table)["predictor"]) == {"zero-shot", "icl", "finetune-dai"}


def test_batched_queries_after_one_prefix_equal_one_at_a_time(gpt2, mr_splits, pipeline):
    """Scoring many queries of different lengths in one padded batch after the shared prefix's
    cache gives the log-probs of one-at-a-time scoring (to 1e-4), leaves the cache reusable, and
    works without a prefix and for pipeline-gpt."""
    eval_set, _, pool = mr_splits
    demos = data.sample_demos(pool, 4, seed=1)
    prefix, queries = icl.encode_prompts(gpt2, MR, demos, eval_set)
    assert len({len(q) for q in queries}) > 1  # really padded
    for p in (prefix, []):
        one = icl.next_token_logprobs(gpt2, p, queries, batch_size=1)
        batched = icl.next_token_logprobs(gpt2, p, queries, batch_size=4)  # two batches, the last short
        torch.testing.assert_close(batched, one, atol=1e-4, rtol=0)
    args = (pipeline, [1, 17, 2, 18], [[3], [1, 17, 5]])
    torch.testing.assert_close(icl.next_token_logprobs(*args, batch_size=8), icl.next_token_logprobs(*args, batch_size=1),
                               atol=1e-4, rtol=0)


@pytest.mark.parametrize("batch_size", [0, 2])
def test_shen_gd_on_every_weight_is_dense_gd_with_a_sparse_embedding_gradient(gpt2, mr_splits, batch_size):
    """GD on every weight (GPT-2: the embedding tied to the read-out) takes the embedding's gradient
    sparse, over the prompts' token rows only, instead of allocating, zeroing and adding the whole
    table per example: the step is the dense one (autograd.grad on the mean loss), and the
    embedding is dense again after."""
    from icl_study.lm.finetune import example_loss, minibatches

    _, _, pool = mr_splits
    label_ids = icl.label_token_ids(gpt2, MR.label_words)
    examples = [(gpt2.encode(data.format_example(MR, d, False)), label_ids[d.label]) for d in data.sample_demos(pool, 4, 0)]
    cfg, params = FinetuneConfig("shen", lr=0.1, steps=1, batch_size=batch_size, seed=3), dict(gpt2.named_parameters())
    expected = {n: p.detach().clone() for n, p in params.items()}
    for batch in minibatches(len(examples), batch_size, cfg.seed, 0):  # the reference: dense gradients, by hand
        weights = {n: p.clone().requires_grad_() for n, p in expected.items()}
        with torch.nn.utils.stateless._reparametrize_module(gpt2.model, weights, tie_weights=True):
            loss = sum(example_loss(gpt2, *examples[i]) for i in batch) / len(batch)
            grads = torch.autograd.grad(loss, list(weights.values()), allow_unused=True)
        expected = {n: (w - cfg.lr * g if g is not None else w).detach() for (n, w), g in zip(weights.items(), grads)}
    embedding = gpt2.model.get_input_embeddings()
    with finetuned(gpt2, examples, cfg):
        for name, p in gpt2.named_parameters():
            torch.testing.assert_close(p.detach(), expected[name], rtol=1e-5, atol=1e-6)
    assert not embedding.sparse and all(p.grad is None for p in gpt2.model.parameters())


def test_a_minibatch_in_one_padded_forward_is_the_mean_of_its_examples_losses(gpt2_dir, mr_splits, pipeline):
    """`batch_loss` (GD's minibatch in one right-padded forward pass) has the value and the gradients
    of the mean of `example_loss` over its examples (prompts of different lengths), with a BOS token
    in front and for pipeline-gpt."""
    from icl_study.lm.finetune import batch_loss, example_loss

    lm = load_lm(f"hf:{gpt2_dir}")
    lm.bos = [0]  # as from a tokenizer that adds a BOS token (Gemma, Llama)
    _, _, pool = mr_splits
    label_ids = icl.label_token_ids(lm, MR.label_words)
    examples = [(lm.encode(data.format_example(MR, d, False)), label_ids[d.label]) for d in data.sample_demos(pool, 4, 0)]
    for model, batch in ((lm, examples), (pipeline, [([1, 17, 2], 18), ([3], 19), ([1, 17, 5, 18, 2], 17)])):
        assert len({len(prompt) for prompt, _ in batch}) > 1  # really padded
        params = [p for _, p in model.named_parameters()]
        one_by_one = sum(example_loss(model, *ex) for ex in batch) / len(batch)
        expected = torch.autograd.grad(one_by_one, params, allow_unused=True)
        batched = batch_loss(model, batch)
        torch.testing.assert_close(batched, one_by_one, rtol=1e-5, atol=1e-6)
        for got, want in zip(torch.autograd.grad(batched, params, allow_unused=True), expected):
            assert (got is None) == (want is None)
            if want is not None:
                torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_activations_can_read_out_only_the_label_tokens(gpt2):
    """`read_out=ids` gives the logits of those tokens alone (in that order), equal to the whole
    vocabulary's read-out at them, with and without a cached prefix, and the same activations;
    `read_out=[]` skips the read-out (Dai reads the prefix and the finetuning records for states only)."""
    prefix, query = gpt2.encode("Review: a fine film\nSentiment: positive\n\n"), gpt2.encode("Review: dull\nSentiment:")
    labels = icl.label_token_ids(gpt2, MR.label_words)[::-1]
    for cache in (None, gpt2.prefix_cache(prefix)):
        ids = query if cache is not None else prefix + query
        whole = last_token_activations(gpt2, ids, cache=cache, full=True)
        some = last_token_activations(gpt2, ids, cache=cache, full=True, read_out=labels)
        assert some["logits"].shape == (2,)
        torch.testing.assert_close(some["logits"], whole["logits"][labels])
        for name in ("attn_out", "q", "scores", "x", "k", "v"):
            torch.testing.assert_close(some[name], whole[name])
        assert last_token_activations(gpt2, ids, cache=cache, read_out=[])["logits"].shape == (0,)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_label_logits_are_the_vocabulary_read_out_at_the_label_words(gpt2, mr_splits, batch_size):
    """ICL scoring reads out the label words alone: their logits equal the whole vocabulary's at them
    (one query at a time or batched after the cached prefix), and `predict`'s label log-probs are the
    full log-probs renormalised over the labels, so predictions and calibration are unchanged."""
    eval_set, _, pool = mr_splits
    demos = data.sample_demos(pool, 2, 0)
    prefix, queries = icl.encode_prompts(gpt2, MR, demos, eval_set)
    labels = icl.label_token_ids(gpt2, MR.label_words)
    full = icl.next_token_logprobs(gpt2, prefix, queries, batch_size=batch_size)  # (N, V)
    scores = icl.label_logits(gpt2, prefix, queries, labels, batch_size=batch_size)  # (N, C)
    torch.testing.assert_close(scores.log_softmax(-1), full[:, labels].log_softmax(-1))
    preds, logprobs = icl.predict(gpt2, MR, demos, eval_set)
    assert torch.equal(preds, full[:, labels].argmax(-1))
    torch.testing.assert_close(logprobs, full[:, labels].log_softmax(-1))


def tiny_gemma3(gpt2_dir, out_dir, **config):
    """A random 2-layer Gemma-3 (one sliding-window layer, one global) with the tiny GPT-2's
    tokenizer, saved to out_dir and loaded as the studies load a model."""
    import shutil

    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (gpt2_dir / name).exists():
            shutil.copy(gpt2_dir / name, out_dir / name)
    torch.manual_seed(0)
    vocab = len(load_lm(f"hf:{gpt2_dir}").tokenizer)
    Gemma3ForCausalLM(Gemma3TextConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, layer_types=["sliding_attention", "full_attention"],
        max_position_embeddings=256, **config)).save_pretrained(out_dir)
    return load_lm(f"hf:{out_dir}")


def test_batched_read_outs_apply_the_models_final_logit_softcapping(gpt2_dir, tmp_path, mr_splits):
    """A model whose forward soft-caps its logits (Gemma 2's final_logit_softcapping) gets the same
    cap in the batched paths that read out by hand: batched queries after a prefix (the whole
    vocabulary) and finetuning's batched loss equal the model's own forward."""
    lm = tiny_gemma3(gpt2_dir, tmp_path, final_logit_softcapping=0.05)  # a cap that binds at random init
    eval_set, _, pool = mr_splits
    prefix, queries = icl.encode_prompts(lm, MR, data.sample_demos(pool, 2, seed=1), eval_set)
    one = icl.next_token_logprobs(lm, prefix, queries, batch_size=1)
    assert one.exp().max() < 1.0 / one.shape[-1] * 1.2  # the cap really binds (near-uniform)
    torch.testing.assert_close(icl.next_token_logprobs(lm, prefix, queries, batch_size=4), one, atol=1e-5, rtol=0)
    with torch.no_grad():
        for prompt in queries[:3]:
            torch.testing.assert_close(lm.last_logits_batch([prompt])[0], lm.last_logits(torch.tensor([prompt]))[0],
                                       atol=1e-5, rtol=0)


def test_a_prefix_longer_than_a_sliding_window_is_reused_like_a_recomputed_prompt(gpt2_dir, tmp_path):
    """Gemma's sliding-window layers keep only the window's last keys: a demonstration prefix longer
    than the window (Shen's N = 16 on Gemma) must still be reusable query after query, each scored as
    the whole prompt recomputed (the cache rolled back to the prefix each time, not refused)."""
    lm = tiny_gemma3(gpt2_dir, tmp_path, sliding_window=8)
    prefix = lm.encode("Review: a fine film with a long and winding plot\nSentiment: positive\n\n")
    assert len(prefix) > 8
    queries = [lm.encode("Review: dull\nSentiment:"), lm.encode("Review: a joy\nSentiment:")]
    cached = icl.next_token_logprobs(lm, prefix, queries)
    recomputed = icl.next_token_logprobs(lm, prefix, queries, use_cache=False)
    torch.testing.assert_close(cached, recomputed, atol=1e-5, rtol=1e-5)
