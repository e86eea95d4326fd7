"""The shared measurements (icl_study/measures), episodes and hook helpers on small hand-made models."""

from __future__ import annotations

import ast

import torch

from icl_study.config import ModelConfig
from icl_study.episodes import Episode, EpisodeBatch, concept_episode, in_context
from icl_study.hooks import run_with_cache, stack_blocks
from icl_study.lm.finetune import FinetuneConfig, choose_lr, finetuned, trainable
from icl_study.measures.dual_fit import layer_qkv, query_dual_error
from icl_study.measures.matched_finetuning import finetuned_query_states
from icl_study.measures.spd import query_spd
from icl_study.metrics import squared_error
from icl_study.model import GPT
from workflow_helpers import REPO

STUDIES = REPO / "icl_study" / "studies"


def _model(seed: int = 0, n_layer: int = 2) -> GPT:
    torch.manual_seed(seed)
    return GPT(ModelConfig(n_layer=n_layer, n_head=2, d_model=8, d_mlp=0, n_positions=7, n_dims_in=2, n_dims_out=1))


def _episodes(n_episodes=3, n_demos=3, d=2) -> EpisodeBatch:
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randn(n_episodes, 2 * n_demos + 1, d, generator=gen)
    return EpisodeBatch(tokens, torch.randn(n_episodes, generator=gen), torch.randn(n_episodes, n_demos, generator=gen))


def test_no_study_module_imports_another_study_module():
    """Shared code lives in icl_study/measures and icl_study/episodes.py; a study composes it.
    The torch-free *_claims modules may share the lm study's model and task names; the studies'
    plan modules (*_plan, the plan's layer, tests/unit/test_layers.py) are not study modules."""
    offenders = []
    for path in STUDIES.glob("*.py"):
        if path.stem.endswith(("_claims", "_plan")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom) else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if isinstance(node, ast.ImportFrom) and node.module == "icl_study.studies":
                names = [f"icl_study.studies.{a.name}" for a in node.names]
            offenders += [f"{path.name}: {n}" for n in names
                          if n.startswith("icl_study.studies.") and not n.endswith("_plan")]
    assert not offenders, offenders


def test_stack_blocks_equals_the_hand_written_stack():
    model = _model()
    _, cache = run_with_cache(model, _episodes().tokens, names=lambda n: n.endswith("hook_attn_out"))
    expected = torch.stack([cache[f"blocks.{i}.hook_attn_out"][:, -1] for i in range(2)])
    assert torch.equal(stack_blocks(cache, "hook_attn_out", range(2), lambda t: t[:, -1]), expected)
    assert stack_blocks(cache, "hook_attn_out", [1]).shape == (1, *cache["blocks.1.hook_attn_out"].shape)


def test_concept_episode_pairs_finetuning_examples_and_held_out_pairs():
    tokens = [1, 17, 2, 18, 1, 17, 2]  # c1 l1 c2 l2 c1 l1 | query c2
    ep = concept_episode(tokens, [17, 18], 1, k=3)
    assert ep.demos == [[1, 17], [2, 18], [1, 17]] and ep.queries == [[2]] and ep.targets == [1]
    assert ep.train == in_context(ep.demos) == [([1], 17), ([1, 17, 2], 18), ([1, 17, 2, 18, 1], 17)]
    assert ep.heldout_train == [([1], 17), ([1, 17, 1], 17)]  # the query class's pair (2, 18) dropped
    assert ep.record == [([1, 17], 2), ([1, 17, 2, 18], 2), ([1, 17, 2, 18, 1, 17], 2)]
    assert ep.joined() == tokens[:-1] and ep.prefix([2, 0, 1]) == [1, 17, 1, 17, 2, 18]
    assert ep.label_ids == [17, 18]


def test_episode_prefix_uses_the_text_tokenisation_when_given():
    ep = Episode(demos=[[1], [2]], train=[], queries=[[3]], candidates=[[5, 6]], targets=[0],
                 text_prefix=lambda order: [9] + order)
    assert ep.prefix([1, 0]) == [9, 1, 0] and ep.joined() == [1, 2]  # joined keeps each demonstration's span


def test_choose_lr_takes_the_best_score_and_the_smaller_lr_on_ties():
    tried = []

    def score(lr):
        tried.append(lr)
        return {0.1: 0.5, 0.01: 0.75, 1.0: 0.75}[lr]

    lr, scores = choose_lr((1.0, 0.1, 0.01), score)
    assert lr == 0.01 and tried == [0.01, 0.1, 1.0] and scores == {0.01: 0.75, 0.1: 0.5, 1.0: 0.75}


def test_small_model_finetuning_equals_the_hand_written_key_value_sgd():
    """finetuned_query_states runs Dai's finetuning through lm/finetune.finetuned with the task's
    loss; it must give bit for bit what a hand-written SGD on the masked qkv gradients gives."""
    model, episodes, lr = _model(3), _episodes(), 0.3
    kv = [(p, mask) for p, mask in trainable(model, FinetuneConfig("dai")).values()]
    saved = [p.detach().clone() for p, _ in kv]
    outs = []
    for b in range(len(episodes.tokens)):
        for x, target in zip(episodes.demo_tokens[b], episodes.demo_targets[b]):
            loss = (model(x[None, None])[:, -1, 0] - target[None]).pow(2).mean()
            grads = torch.autograd.grad(loss, [p for p, _ in kv])
            with torch.no_grad():
                for (p, mask), g in zip(kv, grads):
                    p -= lr * mask * g
        with torch.no_grad():
            _, cache = run_with_cache(model, episodes.tokens[b : b + 1, -1:], names=lambda n: n.endswith("hook_attn_out"))
            for (p, _), original in zip(kv, saved):
                p.copy_(original)
        outs.append(torch.stack([cache[f"blocks.{i}.hook_attn_out"][0, 0] for i in range(2)]))
    out, _ = finetuned_query_states(model, episodes, "regression", lr)
    assert torch.equal(out, torch.stack(outs, 1))
    assert all(torch.equal(p, s) for (p, _), s in zip(kv, saved))  # restored


def test_finetuned_with_a_custom_loss_restores_every_weight():
    model = _model(4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    examples = [(torch.randn(2), torch.tensor(1.0)) for _ in range(3)]
    loss = lambda m, x, y: (m(x[None, None])[0, -1, 0] - y).pow(2)  # noqa: E731
    with finetuned(model, examples, FinetuneConfig("shen", lr=0.1, steps=2), loss=loss):
        assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_query_dual_error_shrinks_with_more_features():
    model, tokens = _model(5, n_layer=1), _episodes(n_episodes=4).tokens
    few, many = (query_dual_error(model, tokens, m, seed=0)[0][0].mean() for m in (4, 4096))
    assert many < few
    (rel, spread), = query_dual_error(model, tokens, 16, seed=0)
    layer = layer_qkv(model, tokens)[0]
    assert rel.shape == spread.shape == (4,) and torch.all(spread >= 0)
    assert torch.allclose(layer["pattern"].sum(-1), torch.ones(()).double())  # a softmax pattern per query


def test_query_spd_is_the_squared_difference_at_the_last_position():
    pred, ref = torch.randn(5, 4), torch.randn(5, 4)
    out = query_spd(pred, {"ref": ref})
    assert torch.equal(out["ref"], squared_error(pred, ref)[:, -1]) and out["ref"].shape == (5,)
