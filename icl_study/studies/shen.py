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

import dataclasses
import logging
import time
from pathlib import Path

import pandas as pd
import torch

from icl_study.baselines import gradient_descent, online_sgd
from icl_study.checkpoint import load_model
from icl_study.columns import PERTURB_COLUMNS
from icl_study.columns import SHEN_LM_COLUMNS as LM_COLUMNS
from icl_study.config import ConfigError, from_dict
from icl_study.episodes import Episode, concept_episodes, text_episode
from icl_study.gd_construction import multi_step_gd_model, one_step_gd_model, predict_stack
from icl_study.lm import data
from icl_study.lm.data import TextEvalConfig
from icl_study.lm.icl import next_token_logprobs
from icl_study.lm.models import load_lm
from icl_study.measures.icl_vs_gd import (
    comparison_rows,
    episode_distributions,
    gd_config,
    gd_loss_rows,
    label_accuracy,
    pick_gd,
    same_schedule,
)
from icl_study.measures.order import demo_orders, permuted_contexts
from icl_study.measures.perturbation import perturbation_rows, weight_sparsity
from icl_study.metrics import order_spread
from icl_study.rng import generator
from icl_study.settings.shen import LMConfig, RegressionConfig
from icl_study.tasks.concepts import ConceptsTask
from icl_study.tasks.regression import RegressionTask, predict, predict_query

log = logging.getLogger("icl_study.shen")


# ---------------------------------------------------------------------------------------------
# Linear regression: order sensitivity, sparsity, perturbation
# ---------------------------------------------------------------------------------------------


def _regression_subjects(paths: list[str], cfg: RegressionConfig) -> tuple[dict, int]:
    """{name: (predict(xs, ys) -> (B,) query prediction, max N, n_dims)} and the reference d.

    paths: the trained 1-layer LSA first, then trained regression transformers (named by folder).
    The hand-built GD transformers and the baselines use the LSA's d.
    """
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


def regression_order_table(paths: list[str], cfg: RegressionConfig) -> pd.DataFrame:
    """Per (predictor, N): mean over tasks of the std over orders of the query prediction, and the
    mean and std over orders of the normalized query error (squared error / d)."""
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
    """Sparsity rows (model, kind, tau, sparsity) and perturbation rows (PERTURB_COLUMNS, kind, depth;
    metric `loss`: the query MSE with n_points - 1 demonstrations) of constructed and trained weights."""
    lsa, lsa_cfg = load_model(paths[0])
    d, n = lsa_cfg.task_config["n_dims"], lsa_cfg.task_config["n_points"]
    # (kind, model, predict, d, n_points, depth): depth is the number of layers (GD steps of a construction),
    # so the fragility claim compares a construction with trained models of the same depth
    models = {"GD transformer (1 step)": ("constructed", one_step_gd_model(d, n, cfg.gd_lr, d_model=lsa.cfg.d_model),
                                          predict_query, d, n, 1),
              f"GD transformer ({cfg.gd_steps} steps)": ("constructed", multi_step_gd_model(d, n, cfg.gd_lr, cfg.gd_steps),
                                                         predict_stack, d, n, cfg.gd_steps),
              "trained LSA": ("trained", lsa, predict_query, d, n, 1)}
    for path in paths[1:]:
        model, run_cfg = load_model(path)
        task = run_cfg.task_config
        models[f"trained {Path(path).parent.name}"] = ("trained", model, lambda m, xs, ys: predict(m, xs, ys)[:, -1],
                                                       task["n_dims"], task["n_points"], run_cfg.model.n_layer)
    sparse_rows, perturb_rows = [], []
    for name, (kind, model, fn, d, n, depth) in models.items():
        sparse_rows += [(name, kind, tau, s) for tau, s in weight_sparsity(model.named_parameters(), cfg.taus).items()]
        batch = RegressionTask({"n_dims": d, "n_points": n}, cfg.seed).sample(0, cfg.n_tasks, "probe")

        def loss(model=model, fn=fn, batch=batch):
            with torch.no_grad():
                return {"loss": (fn(model, batch["xs"], batch["ys"]) - batch["ys"][:, -1]).pow(2).mean().item()}

        perturb_rows += [(*row, kind, depth) for row in perturbation_rows(name, model, loss, cfg.scales, cfg.n_draws, cfg.seed)]
        log.info("%s: sparsity %s", name, sparse_rows[-len(cfg.taus):])
    return (pd.DataFrame(sparse_rows, columns=["model", "kind", "tau", "sparsity"]),
            pd.DataFrame(perturb_rows, columns=PERTURB_COLUMNS + ["kind", "depth"]))


def regression_weights_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: the trained LSA, then trained regression runs -> sparsity and perturbation CSVs."""
    sparse, perturb = regression_weight_tables(inputs, from_dict(RegressionConfig, params, "shen.regression"))
    sparse.to_csv(outputs[0], index=False)
    perturb.to_csv(outputs[1], index=False)


# ---------------------------------------------------------------------------------------------
# Language models: episodes, adapted distributions, ICL vs GD
# ---------------------------------------------------------------------------------------------


def _lm_setup(inputs: list[str], params: dict):
    """(lm, LMConfig, episode builder(n) -> (test episodes, validation episodes))."""
    cfg = from_dict(LMConfig, params["shen"], "shen.lm")
    lm = load_lm(params["spec"], inputs[0] if inputs else None)
    if params["spec"] == "pipeline-gpt":
        return lm, cfg, lambda n: (fresh_label_episodes(lm, cfg, n, "eval", cfg.n_episodes),
                                   fresh_label_episodes(lm, cfg, n, "probe", cfg.n_val_episodes))
    task_cfg = data.task_config(params["task"], f"lm.tasks.{params['task_name']}")
    eval_cfg = from_dict(TextEvalConfig, params["eval"], "lm.eval")
    eval_set, val_set, pool = data.split(data.load_examples(task_cfg), eval_cfg.n_eval, eval_cfg.n_val, eval_cfg.eval_seed)
    eval_set, val_set = eval_set[:cfg.n_queries or None], val_set[:cfg.n_val_queries or None]

    def build(n):
        sets = [data.sample_demos(pool, n, seed) for seed in cfg.demo_seeds]
        return ([text_episode(lm, task_cfg, demos, eval_set) for demos in sets],
                [text_episode(lm, task_cfg, demos, val_set) for demos in sets])

    return lm, cfg, build


def fresh_label_episodes(lm, cfg: LMConfig, n: int, stream: str, count: int) -> list[Episode]:
    """Fresh-label episodes of pipeline-gpt's concept task: N (class, label) demonstrations, one query.
    GD trains on each pair inside its preceding pairs (episodes.in_context), not on one-token sequences."""
    task = ConceptsTask(lm.run_config.task_config, lm.run_config.train.seed)
    return concept_episodes(task.fewshot_prompts(generator(cfg.seed, stream, n), count, n, cfg.ways, fresh=True), n)


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
    # text: every demonstration set answers the same queries, so their zero-shot log-probs are shared
    zs = next_token_logprobs(lm, [], test[0].queries) if text else None
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
        dists = [episode_distributions(lm, ep, demo_orders(n, cfg.n_orders, gen), gd_cfgs, zs) for ep in episodes]
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


def lm_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: the model (SmolLM2 directory, pipeline-gpt checkpoint, none for hf:) -> LM_COLUMNS CSV."""
    lm_table(inputs, params).to_csv(outputs[0], index=False)


def lm_perturb_tables(inputs: list[str], params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ICL under perturbed weights at N = perturb_n (PERTURB_COLUMNS; metrics `loss`: mean NLL of the
    right label word over the vocabulary, and `accuracy`), and the LM's weight sparsity."""
    lm, cfg, build = _lm_setup(inputs, params)
    episodes, _ = build(cfg.perturb_n)
    if params["spec"] != "pipeline-gpt":
        episodes = episodes[:1]  # the first demonstration set
        if cfg.perturb_queries:
            episode = episodes[0]
            keep = slice(0, cfg.perturb_queries)
            episodes = [dataclasses.replace(episode, queries=episode.queries[keep], candidates=episode.candidates[keep],
                                            targets=episode.targets[keep])]

    def loss():
        nll, acc = [], []
        for ep in episodes:
            logp = next_token_logprobs(lm, ep.prefix(list(range(cfg.perturb_n))), ep.queries)
            nll.append(-logp[torch.arange(len(ep.targets)), [ep.label_ids[y] for y in ep.targets]])
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
