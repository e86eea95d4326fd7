"""Pins the bursty few-shot generator (icl_study/tasks/bursty.py) on a tiny fixed-seed config.

What is pinned: bursty sequences contain the query class `bursty_shots` times among `bursty_ways`
classes, and the bursty fraction equals p_bursty; query classes follow the Zipf law; holdout
classes appear only in the ICL evaluator and training classes never there; the token layout;
every batch is a pure function of (seed, step); each evaluator is at chance on an untrained model
and at 1.0 for the oracle it measures (and IWL's oracle scores 0 on the relabelled "flip" ICL).
"""

import torch

from icl_study.config import run_config
from icl_study.rng import generator
from icl_study.tasks.bursty import (
    BurstyTask,
    accuracy,
    model_logits,
    oracle_icl,
    oracle_iwl,
    sample_bursty,
    zipf_probs,
)
from icl_study.train import build_model

TINY = {"n_classes": 64, "n_holdout": 8, "n_exemplars": 5, "emb_dim": 8, "within_class_noise": 0.1,
        "n_labels": 8, "zipf_exponent": 1.0, "p_bursty": 1.0, "context_len": 8, "bursty_shots": 3,
        "bursty_ways": 2, "eval_shots": 4, "eval_ways": 2, "eval_size": 2048}


def task(**overrides) -> BurstyTask:
    return BurstyTask({**TINY, **overrides}, seed=0)


def test_bursty_sequences_have_the_requested_shots_and_ways():
    """Every bursty context holds the query class >= shots times and >= `ways` classes that often."""
    t = task()
    batch = t.train_batch(step=0, batch_size=512)
    assert batch["bursty"].all()
    ctx, query = batch["ctx_classes"], batch["query_class"]
    assert ((ctx == query[:, None]).sum(1) >= 3).all()
    counts = torch.stack([torch.bincount(row, minlength=64) for row in ctx])  # (B, K)
    assert ((counts >= 3).sum(1) >= 2).all()


def test_bursty_fraction_equals_p_bursty():
    """With p_bursty = 0.3 the bursty fraction of 4096 sequences is 0.3 +- 0.03 (> 4 SD)."""
    batch = task(p_bursty=0.3).train_batch(step=1, batch_size=4096)
    assert abs(batch["bursty"].float().mean().item() - 0.3) < 0.03


def test_sample_bursty_is_a_pure_function_of_the_generator():
    """Same generator seed, same contexts and queries."""
    probs = zipf_probs(16, 0.0)
    a = sample_bursty(torch.Generator().manual_seed(3), probs, 4, 8, 3, 2)
    b = sample_bursty(torch.Generator().manual_seed(3), probs, 4, 8, 3, 2)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_query_classes_follow_zipf():
    """Non-bursty queries: empirical class frequencies match p(k) ~ 1/(k+1) within 0.01 (20k draws)."""
    batch = task(p_bursty=0.0).train_batch(step=2, batch_size=20000)
    freq = torch.bincount(batch["query_class"], minlength=64).float() / 20000
    expected = zipf_probs(64, 1.0)
    assert torch.allclose(expected[0] / expected[1], torch.tensor(2.0))
    assert (freq - expected).abs().max() < 0.01


def test_holdout_classes_only_in_icl_evaluator():
    """Training and IWL batches use classes < K; the ICL evaluator uses only holdout classes >= K."""
    t = task()
    train = t.train_batch(0, 256)
    assert (train["ctx_classes"] < 64).all() and (train["query_class"] < 64).all()
    icl = t.eval_batch("icl", generator(0, "eval"), 256)
    assert (icl["ctx_classes"] >= 64).all() and (icl["query_class"] >= 64).all()
    for name in ("icl_flip", "iwl", "ciwl"):
        b = t.eval_batch(name, generator(0, "eval"), 256)
        assert (b["ctx_classes"] < 64).all() and (b["query_class"] < 64).all()


def test_token_layout_and_determinism():
    """Exemplar tokens are [x, 0], label tokens [0, onehot]; the batch is a function of (seed, step)."""
    t = task()
    a, b = t.train_batch(5, 4), t.train_batch(5, 4)
    assert torch.equal(a["tokens"], b["tokens"])
    tokens = a["tokens"]  # (B, 17, D + L)
    assert tokens.shape == (4, 17, 16)
    assert (tokens[:, 0::2, 8:] == 0).all()  # exemplars (and the query) carry no label
    assert torch.equal(tokens[:, 1::2, 8:].argmax(-1), a["ctx_labels"])
    assert (tokens[:, 1::2, :8] == 0).all()


def test_oracles_score_one_on_what_they_measure():
    """oracle_icl: 1.0 on icl, icl_flip, train; oracle_iwl: 1.0 on iwl, ciwl, train and 0.0 on flip."""
    t = task()
    icl = t.evaluate(lambda batch: oracle_icl(batch, 8))
    iwl = t.evaluate(lambda batch: oracle_iwl(batch, t.class_labels))
    assert icl["icl"] == icl["icl_flip"] == icl["train_acc"] == 1.0
    assert iwl["iwl"] == iwl["ciwl"] == iwl["train_acc"] == 1.0
    assert iwl["icl_flip"] == 0.0
    assert icl["iwl"] < 0.3  # the query's class is absent: copying cannot find its label


def test_untrained_model_is_at_chance():
    """At initialisation: ICL and flip accuracy 0.5 +- 0.06 (2-way), IWL below 2/L."""
    t = task(zipf_exponent=0.0)
    model = build_model(run_config({"task": "bursty", "model": {
        "n_layer": 1, "n_head": 2, "d_model": 16, "d_mlp": 0, "n_positions": 17, "n_dims_in": 16, "n_dims_out": 8}}))
    with torch.no_grad():
        acc = t.evaluate(lambda batch: model_logits(model, batch))
    assert abs(acc["icl"] - 0.5) < 0.06 and abs(acc["icl_flip"] - 0.5) < 0.06
    assert acc["iwl"] < 2 / 8


def test_closed_accuracy_restricts_to_context_labels():
    """A model preferring a label absent from the context still scores by the context's labels."""
    logits = torch.tensor([[0.0, 1.0, 9.0], [2.0, 1.0, 9.0]])
    batch = {"ctx_labels": torch.tensor([[0, 1], [0, 1]]), "query_label": torch.tensor([1, 0])}
    assert accuracy(logits, batch, closed=True) == 1.0
    assert accuracy(logits, batch, closed=False) == 0.0
