"""Study 4: do pretrained transformers really learn in context by gradient descent? (Shen et al. 2023)

Three analyses (definitions in docs/definitions.md):

1. Order sensitivity: the spread (std over permutations of the same demonstrations) of the query
   prediction and of the error/accuracy, for trained regression transformers, the hand-built GD
   transformers, batch GD, online SGD (`regression_order_rule`) and ICL on each LM (`lm_rule`).
2. Weights: sparsity of constructed vs trained weights at thresholds tau, and the perturbation
   sensitivity ΔL(s) = L(W + s ||W||_F/√n Z) − L(W) (`regression_weights_rule`, `lm_perturb_rule`).
3. ICL vs GD on a pretrained LM with the same N demonstrations (`lm_rule`): accuracy of zero-shot,
   ICL and GD-finetuning (all weights, or the last layers; lr and steps picked on validation), and
   the agreement of the adapted next-token distributions: top-1/top-K overlap, KL(p_ICL ‖ p_GD),
   cos(p_ICL − p_ZS, p_GD − p_ZS), over the vocabulary and over the label words. Noise floors: the
   same numbers between ICL with two demonstration orders, and between two GD runs whose seeds
   shuffle the demonstrations into minibatches (with batch_size 0 or >= N, GD is full-batch,
   order-free and the two runs agree exactly: a zero floor, reported as such).

LMs: text models (`smollm2`, `hf:<dir>`) on text tasks, with one demonstration set per demo seed
and the task's fixed evaluation/validation splits; `pipeline-gpt` on fresh-label concept episodes
(each episode its own N demonstrations and one query; validation episodes from their own stream).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pandas as pd
import torch

from icl_study.config import ConfigError, from_dict
from icl_study.metrics import cosine, kl_divergence, order_spread, parameters_rms, perturbed, sparsity, topk_overlap
from icl_study.rng import generator

log = logging.getLogger("icl_study.shen")
LM_COLUMNS = ["model", "task", "n_demos", "demo_seed", "example", "setting", "comparison", "metric", "value"]
# `example`: the test query (text: its index in the evaluation subset, the same for every demo seed;
# concepts: the episode); -1 on rows that summarise a whole demonstration set (picked lr, order spread, GD loss)


# ---------------------------------------------------------------------------------------------
# Shared: weights
# ---------------------------------------------------------------------------------------------


def weight_sparsity(named_parameters, taus: tuple[float, ...]) -> dict[float, float]:
    """{tau: fraction of matrix entries with |w| <= tau max|w|}, each matrix against its own max,
    pooled over every matrix (parameters of 2 or more dims) weighted by its size."""
    matrices = [p.detach() for _, p in named_parameters if p.dim() >= 2]
    total = sum(m.numel() for m in matrices)
    return {tau: sum(sparsity(m, tau).item() * m.numel() for m in matrices) / total for tau in taus}


@contextlib.contextmanager
def noisy_weights(named_parameters, scale: float, gen: torch.Generator):
    """Every parameter W replaced by W + s · rms · Z inside the block, rms being ONE RMS entry over
    all the model's parameters (a per-tensor RMS left all-zero biases of the hand-built
    constructions unperturbed while trained models' biases moved). Z is drawn from `gen` in
    parameter order, so one generator seed is one noise direction at every scale; restored on exit."""
    params = [p for _, p in named_parameters]
    saved = [p.detach().clone() for p in params]
    rms = parameters_rms(params)
    try:
        with torch.no_grad():
            for p in params:
                p.copy_(perturbed(p, scale, torch.randn(p.shape, generator=gen, dtype=p.dtype), rms))
        yield
    finally:
        with torch.no_grad():
            for p, original in zip(params, saved):
                p.copy_(original)


def perturbation_rows(name: str, model, loss_fn: Callable[[], dict[str, float]], scales, n_draws: int,
                      seed: int) -> list[tuple]:
    """(model, scale, draw, metric, value, delta) rows: each metric of `loss_fn()` under noise, and
    its change from the clean weights (ΔL(s) for the loss)."""
    clean = loss_fn()
    rows = [(name, 0.0, 0, metric, value, 0.0) for metric, value in clean.items()]
    for draw in range(n_draws):
        for scale in scales:
            with noisy_weights(model.named_parameters(), scale, generator(seed, "perturb", draw)):
                noisy = loss_fn()
            rows += [(name, scale, draw, m, v, v - clean[m]) for m, v in noisy.items()]
    return rows


PERTURB_COLUMNS = ["model", "scale", "draw", "metric", "value", "delta"]


# ---------------------------------------------------------------------------------------------
# Linear regression: order sensitivity, sparsity, perturbation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegressionConfig:
    ns: tuple[int, ...] = (1, 2, 4, 7)  # demonstrations N before the query
    n_tasks: int = 500  # tasks per N
    n_perms: int = 8  # demonstration orders per task (the first is the drawn order)
    gd_lr: float = 0.5  # batch GD and the hand-built GD transformers
    gd_steps: int = 3  # steps of the multi-step construction (and of batch GD beside it)
    sgd_lr: float = 0.2  # online SGD (one pass, per-example steps)
    taus: tuple[float, ...] = (0.0, 0.001, 0.01)  # sparsity thresholds
    scales: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)  # relative noise s
    n_draws: int = 3  # noise draws per scale
    seed: int = 7  # tasks, permutations and noise


def _regression_subjects(paths: list[str], cfg: RegressionConfig) -> tuple[dict, int]:
    """{name: (predict(xs, ys) -> (B,) query prediction, max N, n_dims)} and the reference d.

    paths: the trained 1-layer LSA first, then trained regression transformers (named by folder).
    The hand-built GD transformers and the baselines use the LSA's d.
    """
    from pathlib import Path

    from icl_study.baselines import gradient_descent, online_sgd
    from icl_study.checkpoint import load_model
    from icl_study.gd_construction import multi_step_gd_model, one_step_gd_model, predict_stack
    from icl_study.tasks.regression import predict, predict_query

    lsa, lsa_cfg = load_model(paths[0])
    d = lsa_cfg.task_config["n_dims"]
    big = 10**6  # no context limit for the constructions and baselines
    subjects = {
        "GD transformer (1 step)": (lambda xs, ys: predict_query(one_step_gd_model(d, xs.shape[1], cfg.gd_lr), xs, ys), big, d),
        f"GD transformer ({cfg.gd_steps} steps)": (lambda xs, ys: predict_stack(
            multi_step_gd_model(d, xs.shape[1], cfg.gd_lr, cfg.gd_steps), xs, ys), big, d),
        "batch GD": (lambda xs, ys: gradient_descent(xs, ys, cfg.gd_lr, cfg.gd_steps)[:, -1], big, d),
        "online SGD": (lambda xs, ys: online_sgd(xs, ys, cfg.sgd_lr)[:, -1], big, d),
        "trained LSA": (lambda xs, ys: predict_query(lsa, xs, ys), big, d),
    }
    for path in paths[1:]:
        model, run_cfg = load_model(path)
        subjects[f"trained {Path(path).parent.name}"] = (
            lambda xs, ys, m=model: predict(m, xs, ys)[:, -1], run_cfg.task_config["n_points"] - 1,
            run_cfg.task_config["n_dims"])
    return subjects, d


def permuted_contexts(xs: torch.Tensor, ys: torch.Tensor, n_perms: int, gen: torch.Generator):
    """(P, B, N+1, d), (P, B, N+1): the N context pairs of each task permuted P ways (the first
    the identity), the query (last pair) kept in place."""
    B, n = ys.shape
    perms = torch.rand(n_perms, B, n - 1, generator=gen).argsort(-1)  # (P, B, N)
    perms[0] = torch.arange(n - 1)
    perms = torch.cat([perms, torch.full((n_perms, B, 1), n - 1)], dim=-1)  # (P, B, N+1)
    xs_p = xs.unsqueeze(0).expand(n_perms, -1, -1, -1).gather(2, perms.unsqueeze(-1).expand(-1, -1, -1, xs.shape[-1]))
    return xs_p, ys.unsqueeze(0).expand(n_perms, -1, -1).gather(2, perms)


def regression_order_table(paths: list[str], cfg: RegressionConfig) -> pd.DataFrame:
    """Per (predictor, N): mean over tasks of the std over orders of the query prediction, and the
    mean and std over orders of the normalized query error (squared error / d)."""
    from icl_study.tasks.regression import RegressionTask

    subjects, _ = _regression_subjects(paths, cfg)
    rows = []
    for name, (fn, max_n, d) in subjects.items():
        for n in (n for n in cfg.ns if n <= max_n):
            batch = RegressionTask({"n_dims": d, "n_points": n + 1}, cfg.seed).sample(n, cfg.n_tasks, "eval")
            xs_p, ys_p = permuted_contexts(batch["xs"], batch["ys"], cfg.n_perms, generator(cfg.seed, "misc", n))
            with torch.no_grad():
                preds = torch.stack([fn(x, y) for x, y in zip(xs_p, ys_p)])  # (P, B)
            errors = ((preds - batch["ys"][:, -1]) ** 2 / d).mean(1)  # (P,) error per order
            rows.append((name, n, order_spread(preds).mean().item(), errors.mean().item(), order_spread(errors).item()))
            log.info("%s N=%d: prediction spread %.3g, error %.3f ± %.3g", *rows[-1])
    return pd.DataFrame(rows, columns=["predictor", "n_demos", "pred_spread", "error_mean", "error_spread"])


def regression_order_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: inputs the trained LSA, then trained regression runs -> order table (CSV)."""
    regression_order_table(inputs, from_dict(RegressionConfig, params, "shen.regression")).to_csv(outputs[0], index=False)


def regression_weight_tables(paths: list[str], cfg: RegressionConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sparsity rows (model, kind, tau, sparsity) and perturbation rows (PERTURB_COLUMNS, metric
    `loss`: the query MSE with n_points - 1 demonstrations) of constructed and trained weights."""
    from pathlib import Path

    from icl_study.checkpoint import load_model
    from icl_study.gd_construction import multi_step_gd_model, one_step_gd_model, predict_stack
    from icl_study.tasks.regression import RegressionTask, predict, predict_query

    lsa, lsa_cfg = load_model(paths[0])
    d, n = lsa_cfg.task_config["n_dims"], lsa_cfg.task_config["n_points"]
    models = {"GD transformer (1 step)": ("constructed", one_step_gd_model(d, n, cfg.gd_lr, d_model=lsa.cfg.d_model), predict_query, d, n),
              f"GD transformer ({cfg.gd_steps} steps)": ("constructed", multi_step_gd_model(d, n, cfg.gd_lr, cfg.gd_steps), predict_stack, d, n),
              "trained LSA": ("trained", lsa, predict_query, d, n)}
    for path in paths[1:]:
        model, run_cfg = load_model(path)
        task = run_cfg.task_config
        models[f"trained {Path(path).parent.name}"] = ("trained", model, lambda m, xs, ys: predict(m, xs, ys)[:, -1],
                                                       task["n_dims"], task["n_points"])
    sparse_rows, perturb_rows = [], []
    for name, (kind, model, fn, d, n) in models.items():
        sparse_rows += [(name, kind, tau, s) for tau, s in weight_sparsity(model.named_parameters(), cfg.taus).items()]
        batch = RegressionTask({"n_dims": d, "n_points": n}, cfg.seed).sample(0, cfg.n_tasks, "probe")

        def loss(model=model, fn=fn, batch=batch):
            with torch.no_grad():
                return {"loss": (fn(model, batch["xs"], batch["ys"]) - batch["ys"][:, -1]).pow(2).mean().item()}

        perturb_rows += [(*row, kind) for row in perturbation_rows(name, model, loss, cfg.scales, cfg.n_draws, cfg.seed)]
        log.info("%s: sparsity %s", name, sparse_rows[-len(cfg.taus):])
    return (pd.DataFrame(sparse_rows, columns=["model", "kind", "tau", "sparsity"]),
            pd.DataFrame(perturb_rows, columns=PERTURB_COLUMNS + ["kind"]))


def regression_weights_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: the trained LSA, then trained regression runs -> sparsity and perturbation CSVs."""
    sparse, perturb = regression_weight_tables(inputs, from_dict(RegressionConfig, params, "shen.regression"))
    sparse.to_csv(outputs[0], index=False)
    perturb.to_csv(outputs[1], index=False)


# ---------------------------------------------------------------------------------------------
# Language models: episodes, adapted distributions, ICL vs GD
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LMConfig:
    ns: tuple[int, ...] = (1, 2, 4, 8, 16)  # demonstrations N
    demo_seeds: tuple[int, ...] = (0,)  # text: one demonstration set per seed
    n_orders: int = 4  # ICL demonstration orders (the first two give the ICL noise floor)
    top_k: int = 10  # K of the top-K token overlap
    lr_grid: tuple[float, ...] = (1e-4, 1e-3, 1e-2)  # GD learning rates (picked on validation)
    steps_grid: tuple[int, ...] = (1,)  # GD epochs (picked on validation)
    last_layers: tuple[int, ...] = (0,)  # GD settings: 0 = all weights, n = the last n blocks
    batch_size: int = 4  # GD minibatch (0 = full batch); the GD seed shuffles minibatches
    gd_seeds: tuple[int, ...] = (0, 1)  # two GD runs: the GD noise floor
    perturb_n: int = 4  # demonstrations in the perturbation experiment
    perturb_scales: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)  # relative noise s
    perturb_draws: int = 1  # noise draws per scale
    taus: tuple[float, ...] = (0.0, 0.001, 0.01)  # sparsity thresholds
    n_queries: int = 0  # text: the first n_queries of the task's evaluation subset (0 = all)
    n_val_queries: int = 0  # text: the first n_val_queries of its validation split (0 = all)
    n_episodes: int = 64  # pipeline-gpt: test episodes per N
    n_val_episodes: int = 32  # pipeline-gpt: validation episodes per N
    ways: int = 2  # pipeline-gpt: labels per episode (chance 1/ways)
    seed: int = 8  # orders, episodes, noise


@dataclass
class Episode:
    """N demonstrations and the queries answered after them (text: many queries; concepts: one)."""

    demos: list[tuple[list[int], int]]  # zero-shot prompt ids and target token of each demonstration
    queries: list[list[int]]  # zero-shot prompt ids of each query
    labels: list[int]  # class index of each query
    label_ids: list[int]  # token id of each class
    prefix: Callable[[list[int]], list[int]]  # a demonstration order -> the ICL prefix ids


def _lm_setup(inputs: list[str], params: dict):
    """(lm, LMConfig, episode builder(n, stream) -> (test episodes, validation episodes))."""
    from icl_study.lm.models import load_lm

    cfg = from_dict(LMConfig, params["shen"], "shen.lm")
    lm = load_lm(params["spec"], inputs[0] if inputs else None)
    if params["spec"] == "pipeline-gpt":
        return lm, cfg, lambda n: (concept_episodes(lm, cfg, n, "eval", cfg.n_episodes),
                                   concept_episodes(lm, cfg, n, "probe", cfg.n_val_episodes))
    from icl_study.lm import data
    from icl_study.studies.lm import TextEvalConfig

    task_cfg = data.task_config(params["task"], f"lm.tasks.{params['task_name']}")
    eval_cfg = from_dict(TextEvalConfig, params["eval"], "lm.eval")
    eval_set, val_set, pool = data.split(data.load_examples(task_cfg), eval_cfg.n_eval, eval_cfg.n_val, eval_cfg.eval_seed)
    eval_set, val_set = eval_set[:cfg.n_queries or None], val_set[:cfg.n_val_queries or None]

    def build(n):
        sets = [data.sample_demos(pool, n, seed) for seed in cfg.demo_seeds]
        return ([text_episode(lm, task_cfg, demos, eval_set) for demos in sets],
                [text_episode(lm, task_cfg, demos, val_set) for demos in sets])

    return lm, cfg, build


def text_episode(lm, task_cfg, demos, queries) -> Episode:
    from icl_study.lm import data, icl

    label_ids = icl.label_token_ids(lm, task_cfg.label_words)
    return Episode(demos=[(lm.encode(data.format_example(task_cfg, d, False)), label_ids[d.label]) for d in demos],
                   queries=[lm.encode(data.format_example(task_cfg, q, False)) for q in queries],
                   labels=[q.label for q in queries], label_ids=label_ids,
                   prefix=lambda order: lm.encode(data.prefix_text(task_cfg, [demos[i] for i in order])))


def concept_episodes(lm, cfg: LMConfig, n: int, stream: str, count: int) -> list[Episode]:
    """Fresh-label episodes of pipeline-gpt's concept task: N (class, label) demonstrations, one query.
    GD trains on each pair inside its preceding pairs (dai.in_context), not on one-token sequences."""
    from icl_study.studies.dai import in_context
    from icl_study.tasks.concepts import ConceptsTask

    task = ConceptsTask(lm.run_config.task_config, lm.run_config.train.seed)
    batch = task.fewshot_prompts(generator(cfg.seed, stream, n), count, n, cfg.ways, fresh=True)
    episodes = []
    for tokens, candidates, target in zip(batch["tokens"].tolist(), batch["candidates"].tolist(), batch["target"].tolist()):
        pairs = [tokens[2 * i:2 * i + 2] for i in range(n)]
        episodes.append(Episode(demos=in_context(pairs), queries=[tokens[-1:]], labels=[target],
                                label_ids=candidates, prefix=lambda order, p=pairs: [t for i in order for t in p[i]]))
    return episodes


def demo_orders(n: int, n_orders: int, gen: torch.Generator) -> list[list[int]]:
    """The drawn order first, then n_orders - 1 random permutations of range(n)."""
    return [list(range(n))] + [torch.randperm(n, generator=gen).tolist() for _ in range(n_orders - 1)]


def gd_config(lr: float, steps: int, last_layers: int, cfg: LMConfig, seed: int):
    from icl_study.lm.finetune import FinetuneConfig

    return FinetuneConfig("shen", lr, steps, last_layers, cfg.batch_size, seed)


def same_schedule(n: int, steps: int, cfg: LMConfig) -> bool:
    """Whether both GD seeds give the same minibatches in every epoch (always so for full batches)."""
    from icl_study.lm.finetune import minibatches

    return all(minibatches(n, cfg.batch_size, cfg.gd_seeds[0], e) == minibatches(n, cfg.batch_size, cfg.gd_seeds[1], e)
               for e in range(steps))


def finetuned_logprobs(lm, episode: Episode, ft_cfg) -> torch.Tensor:
    """(Q, V) zero-shot next-token log-probs of the episode's queries after GD on its demonstrations."""
    from icl_study.lm.finetune import finetuned
    from icl_study.lm.icl import next_token_logprobs

    with finetuned(lm, episode.demos, ft_cfg):
        return next_token_logprobs(lm, [], episode.queries)


def label_accuracy(logprobs: torch.Tensor, episode: Episode) -> torch.Tensor:
    """(Q,) 1.0 where the query's label word has the highest log-prob among the label words."""
    return (logprobs[:, episode.label_ids].argmax(-1) == torch.tensor(episode.labels)).float()


def label_nll(logprobs: torch.Tensor, episode: Episode) -> torch.Tensor:
    """(Q,) negative log-probability (over the whole vocabulary) of each query's label word."""
    return -logprobs[torch.arange(len(episode.labels)), [episode.label_ids[y] for y in episode.labels]]


def pick_gd(lm, val_episodes: list[Episode], cfg: LMConfig, last_layers: int) -> tuple[float, int]:
    """The (lr, steps) of the grids with the lowest mean validation NLL of the label word after GD
    (seed gd_seeds[0]); the NLL is continuous, so unlike accuracy it does not tie across a grid
    that barely moves the model. Ties go to fewer steps, then the smaller lr."""
    scores = {}
    for steps in cfg.steps_grid:
        for lr in cfg.lr_grid:
            ft_cfg = gd_config(lr, steps, last_layers, cfg, cfg.gd_seeds[0])
            nll = torch.cat([label_nll(finetuned_logprobs(lm, ep, ft_cfg), ep) for ep in val_episodes]).mean().item()
            scores[lr, steps] = nll if nll == nll else float("inf")  # NaN (diverged): never picked
    best = min(scores, key=lambda key: (scores[key], key[1], key[0]))
    log.info("GD last_layers=%d: validation label NLL %s -> lr %.3g, steps %d", last_layers,
             {f"{k[0]:g}/{k[1]}": round(v, 4) for k, v in scores.items()}, *best)
    return best


def demo_loss(lm, episode: Episode) -> float:
    """Mean cross-entropy of the label token over the episode's own demonstrations (GD's objective)."""
    from icl_study.lm.finetune import example_loss

    with torch.no_grad():
        return float(torch.stack([example_loss(lm, prompt, target) for prompt, target in episode.demos]).mean())


def gd_loss_rows(lm, episodes: list[Episode], gd_cfgs: dict) -> list[tuple]:
    """(setting, "gd_loss", loss_before | loss_after, mean over episodes) for each GD run of seed 0:
    whether GD fitted its own demonstrations at the picked lr and steps."""
    from icl_study.lm.finetune import finetuned

    rows = [("-", "gd_loss", "loss_before", sum(demo_loss(lm, ep) for ep in episodes) / len(episodes))]
    for name, ft_cfg in gd_cfgs.items():
        if name.endswith("_s0"):
            after = []
            for ep in episodes:
                with finetuned(lm, ep.demos, ft_cfg):
                    after.append(demo_loss(lm, ep))
            rows.append((name.rsplit("_s", 1)[0], "gd_loss", "loss_after", sum(after) / len(after)))
    return rows


def episode_distributions(lm, episode: Episode, orders: list[list[int]], gd_cfgs: dict) -> dict[str, torch.Tensor]:
    """{name: (Q, V) log-probs}: `zs`, `icl{o}` per order, and one entry per GD config name."""
    from icl_study.lm.icl import next_token_logprobs

    out = {"zs": next_token_logprobs(lm, [], episode.queries)}
    for o, order in enumerate(orders):
        out[f"icl{o}"] = next_token_logprobs(lm, episode.prefix(order), episode.queries)
    for name, ft_cfg in gd_cfgs.items():  # a name instead of a config: the same run (identical schedule)
        out[name] = out[ft_cfg] if isinstance(ft_cfg, str) else finetuned_logprobs(lm, episode, ft_cfg)
    return out


def distribution_metrics(logp_a: torch.Tensor, logp_b: torch.Tensor, logp_zs: torch.Tensor,
                         label_ids: list[int], top_k: int) -> dict[str, torch.Tensor]:
    """Per-query (Q,) agreement of two adapted next-token distributions (a, b) from zero-shot (zs),
    over the vocabulary and over the label words (renormalised among them)."""
    labels = [x[:, label_ids].log_softmax(-1) for x in (logp_a, logp_b, logp_zs)]
    return {"top1_overlap": topk_overlap(logp_a, logp_b, 1), f"top{top_k}_overlap": topk_overlap(logp_a, logp_b, top_k),
            "kl_vocab": kl_divergence(logp_a, logp_b), "kl_labels": kl_divergence(labels[0], labels[1]),
            "cos_vocab": cosine(logp_a.exp() - logp_zs.exp(), logp_b.exp() - logp_zs.exp()),
            "cos_labels": cosine(labels[0].exp() - labels[2].exp(), labels[1].exp() - labels[2].exp())}


def pooled(dists: list[dict], episodes: list[Episode], name: str, fn) -> torch.Tensor:
    """`fn(log-probs (Q, V), episode) -> (Q,)` of distribution `name`, over every episode's queries."""
    return torch.cat([fn(d[name], ep) for d, ep in zip(dists, episodes)])


def true_label_prob(logprobs: torch.Tensor, episode: Episode) -> torch.Tensor:
    """(Q,) probability of each query's label word, renormalised among the label words."""
    return logprobs[:, episode.label_ids].softmax(-1)[torch.arange(len(episode.labels)), episode.labels]


def comparison_rows(dists: list[dict], episodes: list[Episode], cfg: LMConfig, settings: list[str],
                    examples: list[list[int]]) -> list[tuple]:
    """(example, setting, comparison, metric, value) rows from the distributions of every episode:
    per-query accuracy and agreement (examples[e] names episode e's queries), and per-set order spread."""
    ids = [i for ex in examples for i in ex]
    rows = []
    for name in dists[0]:
        setting = name.rsplit("_s", 1)[0] if name.startswith("gd") else "-"
        rows += [(i, setting, "accuracy", name, v) for i, v in zip(ids, pooled(dists, episodes, name, label_accuracy).tolist())]
    orders = [f"icl{o}" for o in range(cfg.n_orders)]
    acc = torch.stack([pooled(dists, episodes, o, label_accuracy).mean() for o in orders])  # (orders,)
    p_true = torch.stack([pooled(dists, episodes, o, true_label_prob) for o in orders])  # (orders, Q)
    rows += [(-1, "-", "order", "accuracy_spread", order_spread(acc).item()),
             (-1, "-", "order", "prob_spread", order_spread(p_true).mean().item())]
    # icl_vs_zs, gd_vs_zs: how far each adapted distribution moved from zero-shot (KL(a || ZS))
    pairs = [("-", "icl_vs_icl", "icl0", "icl1"), ("-", "icl_vs_zs", "icl0", "zs")]
    for setting in settings:
        pairs += [(setting, "icl_vs_gd", "icl0", f"{setting}_s0"), (setting, "gd_vs_gd", f"{setting}_s0", f"{setting}_s1"),
                  (setting, "gd_vs_zs", f"{setting}_s0", "zs")]
    for setting, comparison, a, b in pairs:
        per_query = [distribution_metrics(d[a], d[b], d["zs"], ep.label_ids, cfg.top_k) for d, ep in zip(dists, episodes)]
        for metric in per_query[0]:
            values = torch.cat([m[metric] for m in per_query]).tolist()
            rows += [(i, setting, comparison, metric, v) for i, v in zip(ids, values)]
    return rows


def lm_table(inputs: list[str], params: dict) -> pd.DataFrame:
    """LM_COLUMNS rows for one model, one task and N = params["n_demos"]: accuracy, order spread,
    ICL-vs-GD agreement and its two noise floors (per demo seed for text; pooled for concepts)."""
    lm, cfg, build = _lm_setup(inputs, params)
    n, started = params["n_demos"], time.perf_counter()
    if len(cfg.gd_seeds) != 2 or cfg.n_orders < 2:
        raise ConfigError("shen.lm: gd_seeds needs exactly two seeds and n_orders at least 2 (the noise floors)")
    test, val = build(n)
    text = params["spec"] != "pipeline-gpt"
    groups = [(i, [t], [v]) for i, (t, v) in enumerate(zip(test, val))] if text else [(0, test, val)]
    rows = []
    for group, episodes, val_episodes in groups:
        gd_cfgs, picked = {}, []
        for last in cfg.last_layers:
            lr, steps = pick_gd(lm, val_episodes, cfg, last)
            setting = f"gd_last{last}" if last else "gd_all"
            picked += [(-1, setting, "picked", "lr", lr), (-1, setting, "picked", "steps", float(steps))]
            for s, seed in enumerate(cfg.gd_seeds):
                gd_cfgs[f"{setting}_s{s}"] = gd_config(lr, steps, last, cfg, seed)
            if same_schedule(n, steps, cfg):  # the two seeds' runs are the same computation: run it once
                gd_cfgs[f"{setting}_s1"] = f"{setting}_s0"
        gen = generator(cfg.seed, "demo", n)
        dists = [episode_distributions(lm, ep, demo_orders(n, cfg.n_orders, gen), gd_cfgs) for ep in episodes]
        settings = sorted({name.rsplit("_s", 1)[0] for name in gd_cfgs})
        seed = cfg.demo_seeds[group] if text else 0
        # text: query i of the evaluation subset, the same under every seed; concepts: one query per episode
        examples = [list(range(len(ep.queries))) for ep in episodes] if text else [[e] for e in range(len(episodes))]
        losses = [(-1, *row) for row in gd_loss_rows(lm, episodes, gd_cfgs)]
        new = picked + losses + comparison_rows(dists, episodes, cfg, settings, examples)
        rows += [(params["model_name"], params["task_name"], n, seed, *row) for row in new]
        summary = pd.DataFrame(new, columns=LM_COLUMNS[4:]).groupby(["comparison", "metric"])["value"].mean()
        log.info("N=%d seed %d: accuracy %s; GD loss %s; KL(GD || ZS) %s (%.0f s)", n, seed,
                 summary["accuracy"].round(3).to_dict(), summary["gd_loss"].round(4).to_dict(),
                 summary["gd_vs_zs"]["kl_vocab"] if "gd_vs_zs" in summary else None, time.perf_counter() - started)
    return pd.DataFrame(rows, columns=LM_COLUMNS)


def icl_vs_gd_verdicts(lm: pd.DataFrame, n_boot: int) -> pd.DataFrame:
    """One row per (model, task, N, GD setting) of LM_COLUMNS rows: accuracies, their differences
    and the KL divergences (over the vocabulary), each mean with a 95% cluster-bootstrap interval
    over unique test queries (metrics.cluster_bootstrap_ci), n_examples, n_demo_sets, and a verdict:
    'GD did not move the model' unless KL(GD || ZS) is above the GD-GD floor (interval above
    interval); otherwise whether KL(ICL || GD) exceeds, per query, the larger of the two noise
    floors (ICL in another order, GD with another seed)."""
    from icl_study.metrics import cluster_bootstrap_ci
    from icl_study.rng import stream_seed

    seed, out = stream_seed(0, "bootstrap"), []
    per_query = lm[lm["example"] >= 0]
    for (model, task, n, setting), _ in per_query[per_query["setting"] != "-"].groupby(["model", "task", "n_demos", "setting"]):
        rows = per_query[(per_query["model"] == model) & (per_query["task"] == task) & (per_query["n_demos"] == n)
                         & per_query["setting"].isin(["-", setting])]
        wide = rows.pivot_table(index=["demo_seed", "example"], columns=["comparison", "metric"], values="value")
        examples = wide.index.get_level_values("example").to_numpy()
        columns = {"acc_zs": wide["accuracy", "zs"], "acc_icl": wide["accuracy", "icl0"],
                   "acc_gd": wide["accuracy", f"{setting}_s0"],
                   "kl_icl_zs": wide["icl_vs_zs", "kl_vocab"], "kl_gd_zs": wide["gd_vs_zs", "kl_vocab"],
                   "kl_gd_gd_floor": wide["gd_vs_gd", "kl_vocab"], "kl_icl_icl_floor": wide["icl_vs_icl", "kl_vocab"],
                   "kl_icl_gd": wide["icl_vs_gd", "kl_vocab"]}
        columns.update(acc_icl_minus_zs=columns["acc_icl"] - columns["acc_zs"],
                       acc_gd_minus_zs=columns["acc_gd"] - columns["acc_zs"],
                       acc_icl_minus_gd=columns["acc_icl"] - columns["acc_gd"],
                       # paired per query, against the larger of the two noise floors
                       kl_icl_gd_minus_floor=columns["kl_icl_gd"] - np.maximum(columns["kl_icl_icl_floor"],
                                                                               columns["kl_gd_gd_floor"]))
        row = {"model": model, "task": task, "n_demos": n, "setting": setting}
        for name, values in columns.items():
            mean, low, high, n_examples = cluster_bootstrap_ci(values.to_numpy(float), examples, n_boot, seed=seed)
            row.update({name: mean, f"{name}_low": low, f"{name}_high": high})
        row["n_examples"], row["n_demo_sets"] = n_examples, int(wide.reset_index().groupby("example")["demo_seed"].nunique().max())
        moved = row["kl_gd_zs_low"] > row["kl_gd_gd_floor_high"]
        row["verdict"] = ("GD did not move the model" if not moved
                          else "ICL and GD differ beyond the noise floors" if row["kl_icl_gd_minus_floor_low"] > 0
                          else "ICL and GD closer than the noise floors" if row["kl_icl_gd_minus_floor_high"] < 0
                          else "ICL-GD within the noise floors")
        out.append(row)
    return pd.DataFrame(out)


def lm_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: the model (SmolLM2 directory, pipeline-gpt checkpoint, none for hf:) -> LM_COLUMNS CSV."""
    lm_table(inputs, params).to_csv(outputs[0], index=False)


def lm_perturb_tables(inputs: list[str], params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ICL under perturbed weights at N = perturb_n (PERTURB_COLUMNS; metrics `loss`: mean NLL of the
    right label word over the vocabulary, and `accuracy`), and the LM's weight sparsity."""
    from icl_study.lm.icl import next_token_logprobs

    lm, cfg, build = _lm_setup(inputs, params)
    episodes, _ = build(cfg.perturb_n)
    if params["spec"] != "pipeline-gpt":
        episodes = episodes[:1]  # the first demonstration set

    def loss():
        nll, acc = [], []
        for ep in episodes:
            logp = next_token_logprobs(lm, ep.prefix(list(range(cfg.perturb_n))), ep.queries)
            nll.append(-logp[torch.arange(len(ep.labels)), [ep.label_ids[y] for y in ep.labels]])
            acc.append(label_accuracy(logp, ep))
        return {"loss": torch.cat(nll).mean().item(), "accuracy": torch.cat(acc).mean().item()}

    name = f"{params['model_name']} ({params['task_name']})"
    rows = perturbation_rows(name, lm, loss, cfg.perturb_scales, cfg.perturb_draws, cfg.seed)
    sparse = [(params["model_name"], "pretrained LM", tau, s) for tau, s in weight_sparsity(lm.named_parameters(), cfg.taus).items()]
    return (pd.DataFrame([(*r, "pretrained LM") for r in rows], columns=PERTURB_COLUMNS + ["kind"]),
            pd.DataFrame(sparse, columns=["model", "kind", "tau", "sparsity"]))


def lm_perturb_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: the model -> perturbation and sparsity CSVs."""
    perturb, sparse = lm_perturb_tables(inputs, params)
    perturb.to_csv(outputs[0], index=False)
    sparse.to_csv(outputs[1], index=False)


def collect_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: tables of one kind (same columns) -> one table."""
    pd.concat([pd.read_csv(path) for path in inputs], ignore_index=True).to_csv(outputs[0], index=False)
