"""Study 4 (Shen et al. 2023): the order (in)variance of GD and SGD on hand examples, and the
sparsity, perturbation, overlap and KL metrics on tiny tensors against hand values / closed forms."""

import math

import pytest
import torch

from icl_study.baselines import gradient_descent, online_sgd
from icl_study.gd_construction import one_step_gd_model
from icl_study.lm.finetune import minibatches
from icl_study.metrics import kl_divergence, order_spread, perturbed, sparsity, topk_overlap
from icl_study.measures.icl_vs_gd import distribution_metrics
from icl_study.measures.order import permuted_contexts
from icl_study.measures.perturbation import weight_sparsity
from icl_study.tasks.regression import predict_query

# Dyadic values: every sum and product below is exact in float64, so "equal" means bit-equal.
XS = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [0.5, -1.0]]], dtype=torch.float64)  # (1, 4, 2): 3 demos + query
YS = torch.tensor([[1.0, -2.0, 0.5, 0.0]], dtype=torch.float64)


def _reorder(order):
    idx = torch.tensor(list(order) + [3])  # the query stays last
    return XS[:, idx], YS[:, idx]


def test_batch_gd_is_exactly_order_invariant():
    """Full-batch GD sums the same gradient terms whatever the order: bit-identical predictions."""
    preds = {order: gradient_descent(*_reorder(order), lr=0.25, steps=3)[:, -1]
             for order in [(0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0)]}
    first = preds[(0, 1, 2)]
    assert all(torch.equal(p, first) for p in preds.values())
    assert first.abs().item() > 0  # not trivially zero


def test_online_sgd_depends_on_order_by_hand():
    """d = 1, pairs (x, y) = (1, 1), (2, 0), lr 1/2, query x = 1.
    Order A: w = 0 -> 0 + 1/2 * 1 * 1 = 1/2 -> 1/2 - 1/2 * (1/2 * 2 - 0) * 2 = -1/2.
    Order B: w = 0 -> 0 (residual 0) -> 0 + 1/2 * 1 = 1/2. Batch GD, one step: w = 1/2 * (1 + 0) / 2 = 1/4 both ways."""
    xs_a = torch.tensor([[[1.0], [2.0], [1.0]]], dtype=torch.float64)
    ys_a = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    xs_b, ys_b = xs_a[:, [1, 0, 2]], ys_a[:, [1, 0, 2]]
    assert online_sgd(xs_a, ys_a, lr=0.5)[0, -1].item() == -0.5
    assert online_sgd(xs_b, ys_b, lr=0.5)[0, -1].item() == 0.5
    assert gradient_descent(xs_a, ys_a, lr=0.5)[0, -1].item() == gradient_descent(xs_b, ys_b, lr=0.5)[0, -1].item() == 0.25


def test_online_sgd_order_dependence_on_the_regression_example():
    preds = [online_sgd(*_reorder(order), lr=0.25)[:, -1] for order in [(0, 1, 2), (2, 1, 0)]]
    assert (preds[0] - preds[1]).abs().item() > 0.01


def test_constructed_gd_transformer_is_order_invariant():
    """Linear attention without positions sums over the context: invariant up to float rounding."""
    model = one_step_gd_model(2, 4, lr=0.5, dtype=torch.float64)
    with torch.no_grad():
        preds = [predict_query(model, *_reorder(order)) for order in [(0, 1, 2), (2, 0, 1)]]
    assert torch.allclose(preds[0], preds[1], atol=1e-12, rtol=0)
    assert torch.allclose(preds[0], gradient_descent(XS, YS, lr=0.5)[:, -1], atol=1e-12, rtol=0)


def test_permuted_contexts_keep_query_and_first_order():
    gen = torch.Generator().manual_seed(0)
    xs_p, ys_p = permuted_contexts(XS, YS, 5, gen)
    assert xs_p.shape == (5, 1, 4, 2) and ys_p.shape == (5, 1, 4)
    assert torch.equal(xs_p[0], XS) and torch.equal(ys_p[:, :, -1], YS[:, -1].expand(5, 1))  # identity first; query fixed
    assert torch.equal(ys_p.sort(-1).values, YS.sort(-1).values.expand(5, 1, 4))  # a permutation of the same pairs


def test_order_spread_is_population_std():
    assert order_spread(torch.ones(4, 3)).eq(0).all()
    assert order_spread(torch.tensor([0.0, 2.0])).item() == 1.0  # std of {0, 2} over 2 orders (not sqrt(2))


def test_minibatch_schedule():
    """batch_size 0 (or >= n): one full batch in order, the same for every seed; else a shuffled epoch."""
    assert minibatches(5, 0, 0, 0) == minibatches(5, 0, 1, 0) == minibatches(5, 8, 3, 2) == [[0, 1, 2, 3, 4]]
    batches = minibatches(5, 2, 0, 0)
    assert [len(b) for b in batches] == [2, 2, 1] and sorted(sum(batches, [])) == list(range(5))


def test_sparsity_on_a_tiny_tensor():
    w = torch.tensor([[0.0, 0.0005], [0.5, -1.0]])  # max |w| = 1
    assert sparsity(w, 0.0).item() == 0.25  # the exact zero
    assert sparsity(w, 1e-3).item() == 0.5  # and 0.0005 <= 0.001
    assert sparsity(w, 0.6).item() == 0.75
    assert sparsity(torch.zeros(3), 0.0).item() == 1.0
    params = [("a", w), ("b", torch.tensor([[2.0, 0.0]])), ("bias", torch.zeros(7))]  # vectors are not matrices
    assert weight_sparsity(params, (0.0,)) == {0.0: (0.25 * 4 + 0.5 * 2) / 6}


def test_perturbation_has_the_defined_scale():
    """W + s ||W||_F / sqrt(n) Z: the noise norm is s times W's RMS entry times ||Z||."""
    w, z = torch.tensor([[3.0, 4.0], [0.0, 0.0]]), torch.tensor([[1.0, -1.0], [2.0, 0.5]])
    noise = perturbed(w, 0.1, z) - w
    assert torch.allclose(noise, 0.1 * 5.0 / 2.0 * z)  # ||W||_F = 5, n = 4


def test_topk_overlap_on_tiny_logits():
    a, b = torch.tensor([3.0, 2.0, 1.0, 0.0]), torch.tensor([0.0, 2.0, 1.0, 3.0])
    assert topk_overlap(a, b, 1).item() == 0.0  # argmax 0 vs 3
    assert topk_overlap(a, b, 2).item() == 0.5  # {0, 1} vs {3, 1}
    assert topk_overlap(a, b, 4).item() == 1.0
    assert topk_overlap(a, a, 3).item() == 1.0


def test_kl_against_closed_form():
    """Two Bernoullis: KL = p log(p/q) + (1-p) log((1-p)/(1-q)); zero-probability terms count 0."""
    p, q = 0.3, 0.6
    closed = p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))
    logp, logq = torch.tensor([p, 1 - p]).log(), torch.tensor([q, 1 - q]).log()
    assert math.isclose(kl_divergence(logp, logq).item(), closed, rel_tol=1e-6)
    assert kl_divergence(logp, logp).item() == 0.0
    point = torch.tensor([1.0, 0.0]).log()  # a point mass: KL(point || q) = -log q_0
    assert math.isclose(kl_divergence(point, logq).item(), -math.log(q), rel_tol=1e-6)


def test_distribution_metrics_of_identical_and_of_shifted_distributions():
    zs = torch.tensor([[0.4, 0.3, 0.2, 0.1]]).log()
    up = torch.tensor([[0.1, 0.6, 0.2, 0.1]]).log()  # mass moved from token 0 to token 1
    same = distribution_metrics(up, up, zs, [0, 1], top_k=2)
    assert same["top1_overlap"].item() == 1.0 and same["kl_vocab"].abs().item() < 1e-6
    assert math.isclose(same["cos_vocab"].item(), 1.0, rel_tol=1e-6)
    down = torch.tensor([[0.7, 0.0, 0.2, 0.1]]).log()  # the opposite shift: from token 1 to token 0
    opposite = distribution_metrics(up, down, zs, [0, 1], top_k=2)
    assert math.isclose(opposite["cos_vocab"].item(), -1.0, rel_tol=1e-6)
    assert math.isclose(opposite["cos_labels"].item(), -1.0, rel_tol=1e-6)  # also among the label words
    assert opposite["top1_overlap"].item() == 0.0


def test_perturbation_reaches_all_zero_tensors_with_one_scale_per_model():
    """Noise is scaled by ONE RMS over all of a model's parameters, so an all-zero
    bias (as in the hand-built GD constructions) is perturbed like a trained model's bias."""
    from icl_study.measures.perturbation import noisy_weights

    w0 = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    w, bias = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(torch.zeros(2))
    expected = torch.Generator().manual_seed(0)  # the same draws, in parameter order
    z_w, z_b = torch.randn(2, 2, generator=expected), torch.randn(2, generator=expected)
    rms = (25.0 / 6) ** 0.5  # ||(3, 4, 0, 0, 0, 0)|| / sqrt(6 entries in all)
    with noisy_weights([("w", w), ("b", bias)], 0.1, torch.Generator().manual_seed(0)):
        torch.testing.assert_close(bias.detach(), 0.1 * rms * z_b)  # the zero bias moved
        torch.testing.assert_close(w.detach(), w0 + 0.1 * rms * z_w)
    assert torch.all(bias == 0) and torch.equal(w.detach(), w0)  # restored on exit


def test_pick_gd_prefers_the_lowest_validation_nll_not_tied_accuracy(monkeypatch):
    """When every lr gives the same validation accuracy, the lr is picked by the label word's NLL,
    not by the tie-break towards the smallest lr."""
    from icl_study.episodes import Episode
    from icl_study.measures import icl_vs_gd
    from icl_study.studies import shen

    episode = Episode(demos=[], train=[], queries=[[0], [1]], candidates=[[0, 1], [0, 1]], targets=[0, 1])
    margin = {1e-5: 0.01, 1e-3: 2.0, 1e-2: 0.5}  # every lr is right on both queries; 1e-3 is the most confident

    def fake_logprobs(lm, ep, ft_cfg):
        m = margin[ft_cfg.lr]
        return torch.tensor([[m, 0.0], [0.0, m]]).log_softmax(-1)

    monkeypatch.setattr(icl_vs_gd, "finetuned_logprobs", fake_logprobs)
    cfg = shen.LMConfig(lr_grid=tuple(margin), steps_grid=(1,))
    assert icl_vs_gd.pick_gd(None, [episode], cfg, 0) == (1e-3, 1)


def test_the_lr_is_picked_by_the_label_nll_among_the_label_words_so_a_collapse_loses():
    """A run that pours probability onto one label word (every query answered with it) has a lower
    label NLL over the whole vocabulary than a run that ranks the label words right with little mass
    on them; the pick reads the NLL renormalised among the label words (what the accuracy reads too),
    so the collapse loses, in Shen's GD pick and in Dai's (text and concept) picks alike."""
    from icl_study.episodes import Episode
    from icl_study.measures import icl_vs_gd
    from icl_study.metrics import label_word_nll

    episode = Episode(demos=[], train=[], queries=[[0], [1]], candidates=[[0, 1], [0, 1]], targets=[0, 1])
    # vocabulary of 4: label words 0 and 1, other words 2 and 3
    collapsed = torch.tensor([[6.0, 3.0, 0.0, 0.0], [6.0, 3.0, 0.0, 0.0]])  # word 0 for every query
    ranked = torch.tensor([[1.0, 0.0, 3.0, 3.0], [0.0, 1.0, 3.0, 3.0]])  # right word first, little mass
    nll = {name: icl_vs_gd.label_nll(logits.log_softmax(-1), episode).mean().item()
           for name, logits in (("collapsed", collapsed), ("ranked", ranked))}
    assert nll["ranked"] < nll["collapsed"]
    # Dai's picks read one query's logits at a time (metrics.label_word_nll on a (V,) row)
    dai_nll = {name: sum(float(label_word_nll(row, [0, 1], torch.tensor(t))) for row, t in zip(logits, (0, 1))) / 2
               for name, logits in (("collapsed", collapsed), ("ranked", ranked))}
    assert dai_nll == pytest.approx(nll)


@pytest.mark.model
def test_shen_lm_table_on_a_tiny_gpt2(gpt2_dir):
    """The text path end to end: per-query rows of balanced queries, ICL and GD each compared with
    zero-shot, GD's own demonstration loss before and after."""
    import pandas as pd

    from icl_study.studies import shen

    params = {"spec": f"hf:{gpt2_dir}", "model_name": "tiny", "task_name": "mr", "task": {"source": "mr"},
              "eval": {"n_eval": 8, "n_val": 4, "eval_seed": 0}, "n_demos": 2,
              "shen": {"demo_seeds": [0], "n_orders": 2, "lr_grid": [0.01, 0.1], "steps_grid": [1], "last_layers": [0],
                       "batch_size": 0, "gd_seeds": [0, 1], "n_queries": 4, "n_val_queries": 2}}
    table = shen.lm_table([], params)
    assert list(table.columns) == shen.LM_COLUMNS
    comparisons = set(table["comparison"])
    assert {"icl_vs_zs", "gd_vs_zs", "icl_vs_gd", "gd_vs_gd", "gd_loss"} <= comparisons
    acc = table[(table["comparison"] == "accuracy") & (table["metric"] == "zs")]
    assert sorted(acc["example"]) == [0, 1, 2, 3]  # one row per query
    loss = table[table["comparison"] == "gd_loss"].set_index("metric")["value"]
    assert loss["loss_after"] < loss["loss_before"]  # GD fitted its own demonstrations
    kl = table[(table["comparison"] == "gd_vs_zs") & (table["metric"] == "kl_vocab")]["value"]
    assert (kl > 0).all()
    assert isinstance(table, pd.DataFrame)


def _fake_lm_rows(gd_shift: float, floor: float, n_queries: int = 30):
    """LM_COLUMNS rows of one model/task/N with two demo seeds: KL(GD || ZS) = gd_shift per query,
    the GD-GD floor `floor`, ICL moved by 0.5."""
    rows = []
    for seed in (0, 1):
        for i in range(n_queries):
            rows += [("m", "mr", 4, seed, i, "gd_all", "gd_vs_zs", "kl_vocab", gd_shift + 0.01 * (i % 3)),
                     ("m", "mr", 4, seed, i, "gd_all", "gd_vs_gd", "kl_vocab", floor),
                     ("m", "mr", 4, seed, i, "gd_all", "icl_vs_gd", "kl_vocab", 0.6 + 0.01 * (i % 5)),
                     ("m", "mr", 4, seed, i, "-", "icl_vs_icl", "kl_vocab", 0.1),
                     ("m", "mr", 4, seed, i, "-", "icl_vs_zs", "kl_vocab", 0.5),
                     ("m", "mr", 4, seed, i, "-", "accuracy", "zs", float(i % 2)),
                     ("m", "mr", 4, seed, i, "-", "accuracy", "icl0", 1.0),
                     ("m", "mr", 4, seed, i, "gd_all", "accuracy", "gd_all_s0", float(i % 2))]
    from icl_study.studies.shen import LM_COLUMNS

    import pandas as pd
    return pd.DataFrame(rows, columns=LM_COLUMNS)


def test_icl_vs_gd_verdict_says_when_gd_did_not_move_the_model():
    """An ICL-vs-GD difference is reported only where KL(GD || ZS) is above the GD-GD floor;
    intervals resample unique queries and the rows say how many."""
    from icl_study.measures.icl_vs_gd import icl_vs_gd_verdicts

    still = icl_vs_gd_verdicts(_fake_lm_rows(gd_shift=0.0, floor=0.05), n_boot=200).iloc[0]
    assert still["verdict"] == "GD did not move the model"
    moved = icl_vs_gd_verdicts(_fake_lm_rows(gd_shift=0.3, floor=0.0), n_boot=200).iloc[0]
    assert moved["verdict"] == "ICL and GD differ beyond the noise floors"  # 0.6 vs floors 0.1 and 0, every query
    within = icl_vs_gd_verdicts(_fake_lm_rows(gd_shift=1.0, floor=0.62), n_boot=200).iloc[0]
    assert within["verdict"] == "ICL-GD within the noise floors"  # KL(ICL||GD) 0.60-0.64 around the GD floor 0.62
    assert moved["n_examples"] == 30 and moved["n_demo_sets"] == 2
    assert moved["acc_icl_minus_zs"] == 0.5 and moved["acc_icl_minus_zs_low"] > 0  # ICL right everywhere, ZS on half


def test_icl_vs_gd_figure_and_verdict_markdown(tmp_path):
    """The figure draws the new gd_vs_zs / icl_vs_zs rows; the Markdown verdict table has one row per setting."""
    from icl_study.plots import shen as plots
    from icl_study.measures.icl_vs_gd import icl_vs_gd_verdicts

    rows = _fake_lm_rows(gd_shift=0.3, floor=0.0)
    rows.to_csv(tmp_path / "lm.csv", index=False)
    plots.plot_icl_vs_gd(str(tmp_path / "lm.csv"), [str(tmp_path / "fig.png")])
    assert (tmp_path / "fig.png").stat().st_size > 0
    md = plots.verdicts_markdown(icl_vs_gd_verdicts(rows, n_boot=50))
    assert md.count("| m | mr | 4 | gd_all |") == 1 and "differ beyond" in md


def test_gd_moved_the_model_is_paired_per_query():
    """KL(GD || ZS) is 0.05 above the GD-GD floor on every query, but both vary widely across queries
    (0 to 0.95): the two separate intervals overlap (the old rule said 'GD did not move the model'),
    the per-query difference does not."""
    from icl_study.measures.icl_vs_gd import icl_vs_gd_verdicts

    rows = _fake_lm_rows(gd_shift=0.0, floor=0.0)
    floor = 0.1 * (rows["example"] % 10)
    rows.loc[rows["comparison"] == "gd_vs_gd", "value"] = floor
    rows.loc[rows["comparison"] == "gd_vs_zs", "value"] = floor + 0.05
    row = icl_vs_gd_verdicts(rows, n_boot=200).iloc[0]
    assert row["kl_gd_zs_low"] < row["kl_gd_gd_floor_high"]  # unpaired: the intervals overlap
    assert row["verdict"] != "GD did not move the model"
    assert row["kl_gd_zs_minus_floor"] == pytest.approx(0.05) and row["kl_gd_zs_minus_floor_low"] > 0


def test_icl_vs_gd_intervals_over_several_demonstration_sets_are_two_way():
    """KL(ICL‖GD) beyond the floors by 0.5 on every query under one demonstration set and by −0.3
    under the other: every query's mean is 0.1, so an interval over queries alone would call it a
    difference; the sets disagree, and the two-way bootstrap (queries x sets) does not decide."""
    from icl_study.measures.icl_vs_gd import icl_vs_gd_verdicts

    rows = _fake_lm_rows(gd_shift=0.3, floor=0.0)
    icl_gd = rows["comparison"] == "icl_vs_gd"
    rows.loc[icl_gd, "value"] = 0.1 + rows.loc[icl_gd, "demo_seed"].map({0: 0.5, 1: -0.3})  # floors: 0.1, 0
    row = icl_vs_gd_verdicts(rows, n_boot=200).iloc[0]
    assert row["kl_icl_gd_minus_floor"] == pytest.approx(0.1)
    assert row["kl_icl_gd_minus_floor_low"] < 0 < row["kl_icl_gd_minus_floor_high"]
    assert row["verdict"] == "ICL-GD within the noise floors" and row["n_demo_sets"] == 2


def test_dai_refuses_a_prompt_longer_than_the_models_sliding_window_in_one_line():
    """Gemma's local layers see the last 512 positions only: a Dai prompt longer than that (16 MR
    demonstrations) used to fail deep in the per-layer read (layers with different key counts
    cannot be stacked); it is refused before any work, naming the key, and a prompt that fits passes."""
    from types import SimpleNamespace

    from icl_study.config import ConfigError
    from icl_study.episodes import Episode
    from icl_study.measures.matched_finetuning import check_prompts_fit

    episode = Episode(demos=[[1] * 5, [2] * 5], train=[], queries=[[3] * 4, [4] * 6], candidates=[[0, 1]] * 2, targets=[0, 1])
    gemma_like = SimpleNamespace(sliding_window=16, bos=[9])  # 1 + 10 + 6 = 17 tokens
    with pytest.raises(ConfigError, match=r"^dai\.text\.k: a prompt of 17 tokens .* 16-token sliding window") as err:
        check_prompts_fit(gemma_like, episode, "dai.text.k")
    assert "\n" not in str(err.value)
    check_prompts_fit(SimpleNamespace(sliding_window=17, bos=[9]), episode, "dai.text.k")
    check_prompts_fit(SimpleNamespace(sliding_window=None, bos=[]), episode, "dai.text.k")  # every layer global
