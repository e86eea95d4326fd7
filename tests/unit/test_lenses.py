"""Pins the across-papers study: the pure pieces of the lenses (pair permutation, the
key/value-only finetuning, the correlation table) and, on the tiny tier, that the table holds
exactly one set of rows per configured (family, step, lens) cell and that removing a lens from the
config removes only its cells and reruns no other cell."""

import re
import shutil

import pandas as pd
import pytest
import torch

from icl_study.config import ModelConfig
from icl_study.episodes import EpisodeBatch
from icl_study.lm.finetune import FinetuneConfig, trainable
from icl_study.measures.matched_finetuning import finetuned_query_states, small_model_measures
from icl_study.measures.order import bursty_order_measures, permute_pairs
from icl_study.model import GPT
from icl_study.studies import lenses
from workflow_helpers import REPO, TINY, snakemake


def test_permute_pairs_moves_each_pair_whole_and_keeps_the_query_last():
    B, N, D = 3, 4, 2
    tokens = torch.arange(B * (2 * N + 1) * D, dtype=torch.float32).view(B, 2 * N + 1, D)
    perm = torch.stack([torch.randperm(N, generator=torch.Generator().manual_seed(b)) for b in range(B)])
    out = permute_pairs(tokens, perm)
    for b in range(B):
        for j in range(N):  # slot j now holds pair perm[b, j]: its x-token and its target token together
            assert torch.equal(out[b, 2 * j], tokens[b, 2 * perm[b, j]])
            assert torch.equal(out[b, 2 * j + 1], tokens[b, 2 * perm[b, j] + 1])
        assert torch.equal(out[b, -1], tokens[b, -1])
    identity = torch.arange(N).expand(B, N)
    assert torch.equal(permute_pairs(tokens, identity), tokens)


def _regression_episodes(n_episodes=2, n_demos=3, d=2):
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randn(n_episodes, 2 * n_demos + 1, d, generator=gen)
    return EpisodeBatch(tokens, torch.randn(n_episodes, generator=gen), torch.randn(n_episodes, n_demos, generator=gen))


def test_matched_finetuning_moves_only_keys_and_values_and_restores_the_weights():
    """Dai's finetuning: the query third of every fused qkv stays frozen, the weights come back
    after each episode, and (with a nonzero lr) the query's attention output moves."""
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=2, n_head=2, d_model=8, d_mlp=0, n_positions=7, n_dims_in=2, n_dims_out=1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    episodes = _regression_episodes()
    out0, q0 = finetuned_query_states(model, episodes, "regression", lr=0.0)
    out1, q1 = finetuned_query_states(model, episodes, "regression", lr=0.5)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # restored
    assert out0.shape == (2, 2, 8) and q0.shape == (2, 2, 2, 4)  # (L, B, C), (L, B, H, Dh)
    assert not torch.allclose(out0, out1)  # values moved
    assert torch.allclose(q0[0], q1[0])  # layer 0's query: frozen projection of an unchanged input
    masks = [mask for _, mask in trainable(model, FinetuneConfig("dai")).values()]
    assert all(m[: len(m) // 3].sum() == 0 and m[len(m) // 3 :].min() == 1 for m in masks)


def test_small_model_measures_are_bounded_per_layer_and_episode():
    torch.manual_seed(1)
    model = GPT(ModelConfig(n_layer=2, n_head=2, d_model=8, d_mlp=0, n_positions=7, n_dims_in=2, n_dims_out=1))
    simaou, tau = small_model_measures(model, _regression_episodes(), "regression", lr=0.1)
    assert simaou.shape == tau.shape == (2, 2)
    assert (simaou.abs() <= 1 + 1e-6).all() and (tau.abs() <= 1 + 1e-6).all()


def _table(values: dict[tuple[str, str], list[float]], steps=(10, 20, 40, 80)) -> pd.DataFrame:
    rows = [("bursty", s, lens, metric, v, v - 0.01, v + 0.01, 1)
            for (lens, metric), vals in values.items() for s, v in zip(steps, vals)]
    return pd.DataFrame(rows, columns=lenses.COLUMNS)


def test_order_measure_is_not_a_function_of_accuracy():
    """With every episode right in every order (accuracy 1, so no label can flip),
    the log-prob spread among always-correct episodes still varies; an episode wrong in one order
    is left out of it."""
    targets, demo = torch.tensor([0, 0, 1]), torch.tensor([[0, 1], [0, 1], [0, 1]])  # 3 episodes, labels 0/1 in context
    logits = torch.zeros(2, 3, 3)  # (P = 2 orders, B = 3, L = 3 labels)
    logits[:, 0, 0] = torch.tensor([1.0, 1.0])  # episode 0: right both times, same confidence -> spread 0
    logits[:, 1, 0] = torch.tensor([1.0, 3.0])  # episode 1: right both times, confidence changes -> spread > 0
    logits[:, 2, 1] = torch.tensor([1.0, -1.0])  # episode 2: wrong in order 2 -> excluded
    out = bursty_order_measures(logits, targets, demo)
    assert out["pred_spread"].shape == (3,) and out["logp_spread_correct"].shape == (2,)
    logp = logits.log_softmax(-1)
    expected = (logp[0, 1, 0] - logp[1, 1, 0]).abs() / 2  # population std of two values
    torch.testing.assert_close(out["logp_spread_correct"], torch.stack([torch.tensor(0.0), expected]))


def test_correlations_pool_training_seeds():
    """ρ pools every (seed, checkpoint) pair against that seed's own ICL, and the
    per-seed ρ come with a t-interval over seeds; the pooled table keeps n_seeds."""
    steps = (10, 20, 40, 80)
    icl = {"seed0": [0.5, 0.8, 0.95, 0.7], "seed1": [0.55, 0.85, 0.9, 0.6], "seed2": [0.5, 0.7, 0.99, 0.8]}
    rows = []
    for member, curve in icl.items():
        for s, v in zip(steps, curve):
            rows += [("bursty", member, s, "evaluators", "icl", v, v, v), ("bursty", member, s, "dual", "same", 2 * v, 2 * v, 2 * v)]
    members = pd.DataFrame(rows, columns=lenses.MEMBER_COLUMNS)
    table = lenses.pool_members(members)
    assert (table["n_seeds"] == 3).all() and list(table.columns) == lenses.COLUMNS
    corr = lenses.correlations(table, members).set_index("metric")
    assert corr.loc["same", "spearman"] == pytest.approx(1.0) and corr.loc["same", "n_seeds"] == 3
    assert corr.loc["same", "spearman_seed_mean"] == pytest.approx(1.0)


def test_correlations_of_a_known_table():
    """ICL rises to its best at step 40 then falls: a copy of it has ρ = 1 and the same directions,
    its mirror ρ = −1 and opposite directions, a flat metric no direction."""
    icl = [0.5, 0.8, 0.95, 0.7]
    table = _table({("evaluators", "icl"): icl, ("dual", "same"): [1, 2, 3, 1.5],
                    ("dual", "mirror"): [-v for v in icl], ("order", "flat"): [0.3, 0.305, 0.3, 0.295]})
    corr = lenses.correlations(table).set_index("metric")
    assert corr.loc["same", "spearman"] == pytest.approx(1.0)
    assert corr.loc["mirror", "spearman"] == pytest.approx(-1.0)
    assert (corr.loc["same", ["rise_direction", "fall_direction"]] == [1, -1]).all()
    assert (corr.loc["mirror", ["rise_direction", "fall_direction"]] == [-1, 1]).all()
    assert (corr.loc["flat", ["rise_direction", "fall_direction"]] == [0, 0]).all()  # within the intervals
    assert (corr["icl_best_step"] == 40).all() and (corr["n_checkpoints"] == 4).all()


# --- the workflow on the tiny tier ---------------------------------------------------------------

KEPT_STEPS = (100, 120)  # tests/configs/tiny.yaml keeps two checkpoints per transience run
DROPPED = "order"
TARGETS = ("results/lenses/table.csv", "results/figures/lenses_over_training.png",
           "results/figures/lenses_correlations.png")


def _cells(table: pd.DataFrame) -> set[tuple]:
    return set(table[["family", "step", "lens"]].itertuples(index=False, name=None))  # pooled over seeds


@pytest.mark.workflow
def test_every_cell_present_and_dropping_a_lens_drops_only_its_cells(tiny_run, tmp_path):
    """The table of the shared tiny run; the lens is dropped in a copy of that run (copytree keeps
    the files' times and Snakemake's records, so only what the drop changes reruns)."""
    import yaml

    from icl_study.plan import Plan
    from icl_study.settings import load_config

    configs = (REPO / "config.yaml", TINY)
    plan = Plan(load_config(configs))
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    table = pd.read_csv(workdir / "results" / "lenses" / "table.csv")
    assert list(table.columns) == lenses.COLUMNS
    expected = {(f, s, lens) for f in plan.lenses_kinds for s in plan.lenses_steps(f) for lens in plan.lenses_of(f)}
    assert set(plan.lenses_steps("bursty")) == set(KEPT_STEPS)
    assert _cells(table) == expected
    assert table["value"].notna().all()

    dropped = tmp_path / "dropped.yaml"
    dropped.write_text(yaml.safe_dump({"lenses": {"families": {
        f: {"lenses": [lens for lens in plan.lenses_of(f) if lens != DROPPED]} for f in plan.lenses_kinds}}}))
    result = snakemake(workdir, *TARGETS, "--cores", "1", configfiles=(*configs, dropped))
    ran = set(re.findall(r"^(?:local)?rule (\w+):", result.stdout + result.stderr, re.M))
    assert ran == {"lenses_collect", "fig_lenses_over_training", "fig_lenses_correlations"}  # no cell reran
    after = pd.read_csv(workdir / "results" / "lenses" / "table.csv")
    assert _cells(after) == {cell for cell in expected if cell[2] != DROPPED}
    kept = table[table["lens"] != DROPPED].reset_index(drop=True)
    pd.testing.assert_frame_equal(after.reset_index(drop=True), kept)  # the other cells' rows unchanged
