"""Pins Ren & Liu's dual-model math (icl_study/dual.py) and the contrastive attention kinds.

Shape and causality of every attention kind are pinned in tests/model/test_model.py (parametrised over
ATTENTION_KINDS); here: the random-feature estimator, the exact dual identities, and what each
variant does to softmax attention.
"""

import math

import pandas as pd
import pytest
import torch

from icl_study import dual
from icl_study.config import ModelConfig
from icl_study.model import GPT
from icl_study.rng import generator
from icl_study.studies import ren


def test_positive_random_features_are_unbiased():
    """The mean of phi(q)^T phi(k) over many independent feature draws is exp(q^T k)."""
    gen = generator(0, "misc")
    q, k = 0.4 * torch.randn(2, 4, generator=gen, dtype=torch.float64)
    estimates = torch.stack([dual.positive_features(q, p) @ dual.positive_features(k, p)
                             for p in (dual.draw_features(16, 4, gen) for _ in range(4000))])
    exact = math.exp(float(q @ k))
    std_error = float(estimates.std() / math.sqrt(len(estimates)))
    assert abs(float(estimates.mean()) - exact) < 4 * std_error  # unbiased: within 4 standard errors
    assert abs(float(estimates.mean()) - exact) < 0.01 * exact  # and within 1 % (4000 draws x 16 features)
    assert torch.all(estimates > 0)  # positive features give positive kernel estimates


def test_more_features_give_smaller_error():
    """The estimator's error falls with m (Monte-Carlo: ~1/sqrt(m)); 16x the features, < 1/2 the error
    (expected 1/4) for moderate scores: the variance grows like exp(||q + k||^2)."""
    gen = generator(1, "misc")
    q, k = dual.scale_qk(*(0.5 * torch.randn(2, 3, 10, 8, generator=gen, dtype=torch.float64)))
    exact = dual.exact_kernel(q, k)
    err = {m: ren.rel_err(dual.approx_kernel(q, k, dual.draw_features(m, 8, gen)), exact) for m in (64, 1024)}
    assert err[1024] < 0.5 * err[64]


def _qkv(seed: int = 2, T: int = 9):
    gen = generator(seed, "misc")
    q, k = dual.scale_qk(*(0.5 * torch.randn(2, 2, 3, T, 8, generator=gen, dtype=torch.float64)))
    return q, k, torch.randn(2, 3, T, 5, generator=gen, dtype=torch.float64), dual.draw_features(64, 8, gen)


def test_dual_prediction_equals_unnormalised_kernel_attention():
    """W_t phi(q_t) with W_t = sum_{i<=t} v_i phi(k_i)^T is exactly sum_{i<=t} v_i phi(k_i)^T phi(q_t)."""
    q, k, v, proj = _qkv()
    attention = dual.approx_kernel(q, k, proj) @ v  # (B, H, T, Dv)
    predicted = dual.dual_predict(dual.dual_weights(k, v, proj), q, proj)
    torch.testing.assert_close(predicted, attention, rtol=1e-5, atol=1e-5)


def test_one_gd_step_on_the_alignment_loss_builds_the_dual_weights():
    """One GD step (lr 1) from W_0 = 0 on L(W) = -sum_i v_i^T W phi(k_i) gives sum_i v_i phi(k_i)^T;
    with the norm penalty alpha/2 ||W||^2 and W_0 != 0 it gives (1 - alpha) W_0 + sum_i v_i phi(k_i)^T."""
    q, k, v, proj = _qkv()
    zero = torch.zeros(2, 3, 5, 64, dtype=torch.float64)
    stepped = dual.gd_trajectory(zero, k, v, proj, steps=1, lr=1.0)[1]
    full = dual.dual_weights(k, v, proj)[..., -1, :, :]  # the last query sees every token
    torch.testing.assert_close(stepped, full, rtol=1e-5, atol=1e-5)
    w0 = torch.randn(zero.shape, generator=generator(3, "misc"), dtype=torch.float64)
    regularised = dual.gd_trajectory(w0, k, v, proj, steps=1, lr=1.0, reg_alpha=0.3)[1]
    torch.testing.assert_close(regularised, 0.7 * w0 + full, rtol=1e-5, atol=1e-5)


def test_alignment_grad_is_the_autograd_gradient_of_the_alignment_loss():
    """The closed-form gradient GD uses equals autograd's on L(W), with and without the penalty."""
    _, k, v, proj = _qkv()
    weight = torch.randn(2, 3, 5, 64, generator=generator(5, "misc"), dtype=torch.float64, requires_grad=True)
    for alpha in (0.0, 0.3):
        (expected,) = torch.autograd.grad(dual.alignment_loss(weight, k, v, proj, alpha), weight)
        got = dual.alignment_grad(weight.detach(), dual.dual_weight(k, v, proj), alpha)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_softmax_dual_converges_to_softmax_attention():
    """Value dual / normaliser dual approaches true softmax attention as m grows (small scores)."""
    q, k, v, _ = _qkv()
    exact = (dual.normalise(dual.exact_kernel(q, k)) @ v)[..., -1, :]  # the last query's output
    proj = dual.draw_features(16384, 8, generator(4, "misc"))
    assert ren.rel_err(dual.dual_softmax_output(q[..., -1, :], k, v, proj), exact) < 0.05


def test_fit_recovers_inverse_sqrt():
    """On exact c / sqrt(N) data the fit returns c, and the free power law p = 1/2."""
    n = torch.tensor([4.0, 16.0, 64.0, 256.0])
    c, a, p = dual.fit_inverse_sqrt(n, 3.0 / n.sqrt())
    assert abs(c - 3.0) < 1e-9 and abs(a - 3.0) < 1e-9 and abs(p - 0.5) < 1e-9


def test_generalisation_fit_is_the_correctly_rounded_least_squares_solution():
    """The power-law fit is exact rational least squares on the float inputs (Cramer's rule here),
    rounded once: the same in every process. LAPACK's lstsq, used before, gave
    results/ren/lens/generalisation_fit.csv differing in the last digits between reruns of one job."""
    import math
    from fractions import Fraction

    n = torch.tensor([8.0, 32.0, 128.0, 512.0, 2048.0])
    err = torch.tensor([0.9131, 0.4787, 0.2533, 0.1189, 0.0642], dtype=torch.float64)
    x = [Fraction(-math.log(v)) for v in n.double().tolist()]
    y = [Fraction(math.log(v)) for v in err.tolist()]
    sx, sy, sxx, sxy, m = sum(x), sum(y), sum(v * v for v in x), sum(a * b for a, b in zip(x, y)), len(x)
    det = m * sxx - sx * sx
    p, log_a = (m * sxy - sx * sy) / det, (sxx * sy - sx * sxy) / det
    _, a, fitted_p = dual.fit_inverse_sqrt(n, err)
    assert fitted_p == float(p) and a == math.exp(float(log_a))


def _tiny(attention: str, **extra) -> GPT:
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=2, n_head=2, d_model=16, d_mlp=32, n_positions=12, n_dims_in=3,
                      attention=attention, **extra)
    return GPT(cfg).double()


def test_variants_at_zero_strength_are_softmax():
    """regularized (alpha 0) and negative (beta 0) equal softmax with the same weights; augmented
    equals softmax when its transforms output zero. So each variant is softmax plus its one change."""
    x = torch.randn(2, 10, 3, dtype=torch.float64)
    softmax = _tiny("softmax")
    reference = softmax(x)
    for kind, extra in (("regularized", {"reg_alpha": 0.0}), ("negative", {"neg_beta": 0.0})):
        variant = _tiny(kind, **extra)
        variant.load_state_dict(softmax.state_dict())
        torch.testing.assert_close(variant(x), reference)
    augmented = _tiny("augmented")
    for block in augmented.blocks:
        for transform in (block.attn.aug_k, block.attn.aug_v):
            torch.nn.init.zeros_(transform[2].weight), torch.nn.init.zeros_(transform[2].bias)
    augmented.load_state_dict({**augmented.state_dict(), **softmax.state_dict()})
    torch.testing.assert_close(augmented(x), reference)


def test_regularized_pattern_scales_the_query_own_pair():
    """Regularized attention: exp weight of the diagonal times (1 - alpha), rows still sum to 1."""
    from icl_study.hooks import run_with_cache

    x = torch.randn(1, 6, 3, dtype=torch.float64)
    patterns = {}
    for kind in ("softmax", "regularized"):
        model = _tiny(kind, reg_alpha=0.75)
        _, cache = run_with_cache(model, x, names=["blocks.0.attn.hook_pattern"])
        patterns[kind] = cache["blocks.0.attn.hook_pattern"][0, 0]  # (T, T), same weights (same seed)
    soft, reg = patterns["softmax"], patterns["regularized"]
    torch.testing.assert_close(reg.sum(-1), torch.ones(6, dtype=torch.float64))
    # off-diagonal ratios are unchanged; the diagonal's relative weight is divided by 4
    ratio = (reg.diag()[1:] / reg[1:, 0]) / (soft.diag()[1:] / soft[1:, 0])
    torch.testing.assert_close(ratio, torch.full_like(ratio, 0.25))


def test_lens_sources_reproduce_the_model_pattern(tmp_path):
    """The exp kernel of the cached q, k (scaled) is the layer's own pattern (checked inside
    `sources`), and the kernel table has every (source, m, draw, quantity)."""
    from icl_study.checkpoint import save_checkpoint
    from icl_study.config import RunConfig, to_dict

    cfg = RunConfig(task_config={"n_dims": 3, "n_points": 5},
                    model=ModelConfig(n_layer=2, n_head=2, d_model=16, d_mlp=32, n_positions=10, n_dims_in=3))
    save_checkpoint(tmp_path / "model.pt", {"step": 0, "run_config": to_dict(cfg), "model": GPT(cfg.model).state_dict()})
    lens = ren.LensConfig(n_sequences=4, n_features=(8, 64), n_draws=2)
    table = ren.kernel_table(ren.sources(str(tmp_path / "model.pt"), lens), lens)
    errors = table[table["quantity"].isin(["kernel", "pattern", "output"])]
    assert len(errors) == 3 * 2 * 2 * 3  # (2 layers + random tokens) x m x draws x quantities
    assert (table["quantity"] == "median_sq_norm_q_plus_k").sum() == 3  # one score spread per source


def test_corpus_variant_errors_at_chance_for_untrained_models(tmp_path):
    """On fresh-label 2-way episodes an untrained model's ICL error is chance (0.5), for every k,
    and the table has one row per k with the run's kind and seed."""
    from icl_study.checkpoint import save_checkpoint
    from icl_study.config import RunConfig, to_dict

    task = {"n_classes": 32, "n_labels": 4, "zipf_exponent": 1.0, "context_len": 4, "bursty_shots": 1,
            "bursty_ways": 2, "p_bursty": 0.9, "p_fresh": 0.25, "eval_ways": 2, "eval_size": 16}
    model = ModelConfig(n_layer=1, n_head=2, d_model=16, d_mlp=16, n_positions=10, n_dims_in=0,
                        vocab_size=36, attention="negative")
    cfg = RunConfig(task="concepts", task_config=task, model=model)
    save_checkpoint(tmp_path / "model.pt", {"step": 0, "run_config": to_dict(cfg), "model": GPT(model).state_dict()})
    table = ren.corpus_variant_errors(str(tmp_path / "model.pt"), ren.CorpusEvalConfig(ks=(0, 2, 4), n_prompts=2000))
    assert list(table["k"]) == [0, 2, 4] and set(table["kind"]) == {"negative"}
    assert ((table["icl_error"] - 0.5).abs() < 4 * table["sem"] + 0.01).all(), table


def _grid_table(val: dict, test: dict, softmax: list[float]) -> pd.DataFrame:
    """A grid.csv at one k: {value: [error per seed]} for `negative` on val and test, and softmax."""


    rows = [("softmax", "", float("nan"), seed, split, 7, err) for split in ("val", "test")
            for seed, err in enumerate(softmax)]
    rows += [("negative", "neg_beta", value, seed, split, 7, err) for split, table in (("val", val), ("test", test))
             for value, errors in table.items() for seed, err in enumerate(errors)]
    return pd.DataFrame(rows, columns=["kind", "parameter", "value", "seed", "split", "k", "normalized_error"])


def test_the_tuned_variant_is_picked_on_validation_not_test():
    """Validation prefers 0.25 while test would prefer 1.0: the claim reads the test error at 0.25
    (no selection on the test tasks); it is reproduced below softmax and contradicted above it."""
    from icl_study.claims import verdict
    from icl_study.studies import ren_claims

    config = {"ren": {"grid": {"values": {"negative": [0.25, 1.0]}}}}
    claim = next(c for c in ren_claims.grid_claims(config) if c.claim_id == "ren.tuned_variant.negative")
    better = _grid_table(val={0.25: [0.1, 0.11, 0.12], 1.0: [0.5, 0.5, 0.5]},
                         test={0.25: [0.2, 0.21, 0.22], 1.0: [0.0, 0.0, 0.0]}, softmax=[0.4, 0.42, 0.41])
    assert ren_claims.picked_values(better) == {"negative": 0.25}
    measured = claim.compute({ren_claims.GRID: better})
    assert measured.value == pytest.approx(((0.2 - 0.4) + (0.21 - 0.42) + (0.22 - 0.41)) / 3)
    assert verdict(claim, measured) == "reproduced"
    worse = _grid_table(val={0.25: [0.1, 0.1, 0.1], 1.0: [0.5, 0.5, 0.5]},
                        test={0.25: [0.6, 0.62, 0.61], 1.0: [0.0, 0.0, 0.0]}, softmax=[0.4, 0.42, 0.41])
    assert verdict(claim, claim.compute({ren_claims.GRID: worse})) == "contradicted"
    control = next(c for c in ren_claims.grid_claims(config) if c.claim_id == "ren.grid.softmax_learned")
    assert verdict(control, control.compute({ren_claims.GRID: better})) == "reproduced"  # 1 - 0.41 > 0.5
    assert ren_claims.grid_claims({"ren": {"grid": {"values": {}}}}) == []


def test_grid_runs_train_each_value_but_the_configured_one_and_name_it():
    from icl_study.config import ConfigError
    from icl_study.plan import Plan
    from icl_study.settings import load_config
    from workflow_helpers import REPO

    config = load_config([REPO / "config.yaml"])
    config["ren"]["grid"]["values"] = {"negative": [0.25, 0.5, 1.0], "augmented": [8]}
    plan = Plan(config)
    grid = {run.name: run for run in plan.runs if run.study == "ren" and ("_neg_beta" in run.name or "_aug_hidden" in run.name)}
    assert sorted(grid) == ["augmented_aug_hidden8", "negative_neg_beta0.25", "negative_neg_beta1"]  # 0.5 is `negative` itself
    assert grid["negative_neg_beta1"].config["model"]["neg_beta"] == 1.0
    assert grid["negative_neg_beta1"].config["train"] == plan.training("ren", group=True)["negative"].config["train"]
    assert "negative_neg_beta1_s2" in plan.ren_grid_runs and "negative_neg_beta1_s2" not in plan.ren_regression_runs
    assert "results/figures/ren_variants_grid.png" in plan.all_targets
    config["ren"]["grid"]["values"] = {"momentum": [0.5]}
    with pytest.raises(ConfigError, match="ren.grid.values.momentum"):
        Plan(config).runs


def _ren_claim(claim_id):
    from icl_study.studies import ren_claims

    return next(c for c in ren_claims.claims({"ren": {"grid": {"values": {}}}}) if c.claim_id == claim_id)


def _kernel_table(rates: dict[str, float], n_draws: int = 5, seed: int = 0) -> pd.DataFrame:
    """Kernel rows: per source, rel_error = m^rate times draw-to-draw noise, for m = 8 .. 4096."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for source, rate in rates.items():
        for m in (8, 32, 128, 512, 2048, 4096):
            for draw in range(n_draws):
                noise = math.exp(0.1 * float(torch.randn(1, generator=gen)))
                rows.append((source, m, draw, "kernel", m ** rate * noise))
    return pd.DataFrame(rows, columns=["source", "n_features", "draw", "quantity", "rel_error"])


@pytest.mark.parametrize("layer_rates, control_rate, expected", [
    ((-0.5, -0.5), -0.5, "exploratory"),   # the Monte-Carlo rate in every layer: would be reproduced, 1 trained model
    ((-0.5, -0.1), -0.5, "exploratory"),   # one layer stuck: mean slope −0.3, outside ±0.1 of −0.5: would be contradicted
    ((-0.5, -0.5), -0.05, "inconclusive"),  # the control does not converge: the estimator is not trusted
])
def test_kernel_claim_is_a_per_layer_slope_with_draws_as_the_unit(layer_rates, control_rate, expected):
    """The claim's measure is the mean over layers of each layer's log-log slope vs m, with a t-interval
    over feature draws (5 here), not layers pooled as draws; the random-token control is its gate."""
    from icl_study.claims import decide
    from icl_study.studies.ren_claims import KERNEL

    claim = _ren_claim("ren.kernel")
    tables = {KERNEL: _kernel_table({"trained layer 0": layer_rates[0], "trained layer 1": layer_rates[1],
                                     "random tokens": control_rate})}
    m = claim.compute(tables)
    assert m.value == pytest.approx(sum(layer_rates) / 2, abs=0.03) and m.n_seeds == 1
    assert m.ci_low < m.value < m.ci_high
    decision = decide(claim, m, tables)
    assert decision.verdict == expected
    if layer_rates == (-0.5, -0.1):
        assert "would be contradicted" in decision.gate
    if expected == "inconclusive":
        assert decision.gate.startswith("the estimator reaches the Monte-Carlo rate")


def _generalisation_table(rate: float, control: float = -0.5, seed: int = 0) -> pd.DataFrame:
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for source, rate in (("trained layer 0", rate), ("random tokens", control)):
        for head in range(2):
            for n in (4, 8, 16, 32, 64, 128, 256):
                for repeat in range(30):
                    noise = math.exp(0.3 * float(torch.randn(1, generator=gen)))
                    rows += [(source, head, n, repeat, "softmax", n ** rate * noise),
                             (source, head, n, repeat, "unnormalised", 1.0)]
    return pd.DataFrame(rows, columns=["source", "head", "n_tokens", "repeat", "quantity", "rel_error"])


def test_generalisation_exponent_has_a_bootstrap_interval_against_the_bound():
    """The fitted exponent was shown as [p, p]; now the slope of the mean error vs N gets a bootstrap
    interval over the demonstration draws and is tested against −0.5: at the 1/√N rate it is
    inconclusive (a bound's edge), decaying as N^-0.3 it would contradict O(1/√N)."""
    from icl_study.claims import decide
    from icl_study.studies.ren_claims import GENERALISATION

    claim = _ren_claim("ren.generalisation")
    at_rate = {GENERALISATION: _generalisation_table(-0.5)}
    m = claim.compute(at_rate)
    assert m.ci_low < -0.5 < m.ci_high and m.ci_high - m.ci_low > 0.01
    assert m.n_examples == 60 and m.n_seeds == 1  # 2 heads x 30 draws per N; one trained model
    assert decide(claim, m, at_rate).verdict == "inconclusive"
    slow = {GENERALISATION: _generalisation_table(-0.3)}
    m = claim.compute(slow)
    assert m.value == pytest.approx(-0.3, abs=0.05) and m.ci_low > -0.5
    decision = decide(claim, m, slow)
    assert decision.verdict == "exploratory" and "would be contradicted" in decision.gate
    broken = {GENERALISATION: _generalisation_table(-0.3, control=-0.2)}  # the control misses the CLT rate
    decision = decide(claim, claim.compute(broken), broken)
    assert decision.verdict == "inconclusive" and decision.gate.startswith("the measurement reaches the CLT rate")


def test_ren_identity_shows_its_value_without_an_interval():
    from icl_study.claims import decide
    from icl_study.studies.ren_claims import IDENTITY

    claim = _ren_claim("ren.dual_identity")
    tables = {IDENTITY: pd.DataFrame([("trained layer 0", 256, 0, "unnormalised_identity", 3e-16),
                                      ("random tokens", 256, 0, "unnormalised_identity", 6e-16)],
                                     columns=["source", "n_features", "draw", "quantity", "rel_error"])}
    m = claim.compute(tables)
    assert m.value == 6e-16 and math.isnan(m.ci_low) and math.isnan(m.ci_high)
    assert not claim.trained and decide(claim, m, tables).verdict == "sanity check"
