"""ICL against gradient-descent finetuning on the same demonstrations (Shen et al. 2023), by the
adapted next-token distributions of a language model.

Per episode: zero-shot, ICL in several demonstration orders, and GD runs (FinetuneConfig "shen",
lr and steps picked on validation episodes by the label word's NLL); per query: accuracy among
the label words, and the agreement of two distributions (top-1/top-K overlap, KL, cosine of the
changes from zero-shot), over the vocabulary and over the label words. `cfg` is shen's LMConfig
(lr_grid, steps_grid, batch_size, gd_seeds, n_orders, top_k).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from icl_study.episodes import Episode
from icl_study.intervals import examples_by_sets_ci
from icl_study.lm.finetune import FinetuneConfig, example_loss, finetuned, minibatches
from icl_study.lm.icl import next_token_logprobs
from icl_study.metrics import cosine, kl_divergence, label_word_nll, order_spread, topk_overlap
from icl_study.rng import stream_seed

log = logging.getLogger("icl_study.shen")


def gd_config(lr: float, steps: int, last_layers: int, cfg, seed: int) -> FinetuneConfig:
    """One GD run: all weights (last_layers 0) or the last blocks, minibatches shuffled by `seed`."""
    return FinetuneConfig("shen", lr, steps, last_layers, cfg.batch_size, seed)


def same_schedule(n: int, steps: int, cfg) -> bool:
    """Whether both GD seeds give the same minibatches in every epoch (always so for full batches)."""
    return all(minibatches(n, cfg.batch_size, cfg.gd_seeds[0], e) == minibatches(n, cfg.batch_size, cfg.gd_seeds[1], e)
               for e in range(steps))


def finetuned_logprobs(lm, episode: Episode, ft_cfg) -> torch.Tensor:
    """(Q, V) zero-shot next-token log-probs of the episode's queries after GD on its demonstrations."""
    with finetuned(lm, episode.train, ft_cfg):
        return next_token_logprobs(lm, [], episode.queries)


def label_accuracy(logprobs: torch.Tensor, episode: Episode) -> torch.Tensor:
    """(Q,) 1.0 where the query's label word has the highest log-prob among the label words."""
    return (logprobs[:, episode.label_ids].argmax(-1) == torch.tensor(episode.targets)).float()


def label_nll(logprobs: torch.Tensor, episode: Episode) -> torch.Tensor:
    """(Q,) negative log-probability of each query's label word among the label words
    (metrics.label_word_nll, renormalised as label_accuracy reads them)."""
    return label_word_nll(logprobs, episode.label_ids, torch.tensor(episode.targets))


def pick_gd(lm, val_episodes: list[Episode], cfg, last_layers: int) -> tuple[float, int]:
    """The (lr, steps) of the grids with the lowest mean validation NLL of the label word (among the
    label words, `label_nll`) after GD (seed gd_seeds[0]); the NLL is continuous, so unlike
    accuracy it does not tie across a grid that barely moves the model. Ties go to fewer steps,
    then the smaller lr."""
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
    with torch.no_grad():
        return float(torch.stack([example_loss(lm, prompt, target) for prompt, target in episode.train]).mean())


def gd_loss_rows(lm, episodes: list[Episode], gd_cfgs: dict) -> list[tuple]:
    """(setting, "gd_loss", loss_before | loss_after, mean over episodes) for each GD run of seed 0:
    whether GD fitted its own demonstrations at the picked lr and steps."""
    rows = [("-", "gd_loss", "loss_before", sum(demo_loss(lm, ep) for ep in episodes) / len(episodes))]
    for name, ft_cfg in gd_cfgs.items():
        if name.endswith("_s0"):
            after = []
            for ep in episodes:
                with finetuned(lm, ep.train, ft_cfg):
                    after.append(demo_loss(lm, ep))
            rows.append((name.rsplit("_s", 1)[0], "gd_loss", "loss_after", sum(after) / len(after)))
    return rows


def episode_distributions(lm, episode: Episode, orders: list[list[int]], gd_cfgs: dict,
                          zs: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """{name: (Q, V) log-probs}: `zs`, `icl{o}` per order, and one entry per GD config name. `zs`:
    the queries' zero-shot log-probs when already computed (they do not depend on the demonstrations)."""
    out = {"zs": next_token_logprobs(lm, [], episode.queries) if zs is None else zs}
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
    return logprobs[:, episode.label_ids].softmax(-1)[torch.arange(len(episode.targets)), episode.targets]


def comparison_rows(dists: list[dict], episodes: list[Episode], cfg, settings: list[str],
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


def icl_vs_gd_verdicts(lm: pd.DataFrame, n_boot: int) -> pd.DataFrame:
    """One row per (model, task, N, GD setting) of LM_COLUMNS rows: accuracies, their differences
    and the KL divergences (over the vocabulary), each mean with a 95% interval clustered by unique
    test query (intervals.cluster_ci: bootstrap, or t on query means below 20 queries; with several
    demonstration sets, the two-way bootstrap over queries x sets; differences are taken per query,
    so paired), n_examples, n_demo_sets, and a verdict: 'GD did not move the
    model' unless KL(GD || ZS) − the GD-GD floor is above 0 (paired per query); otherwise whether
    KL(ICL || GD) exceeds, per query, the larger of the two noise floors (ICL in another order, GD
    with another seed)."""
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
                                                                               columns["kl_gd_gd_floor"]),
                       # paired per query: did GD move the model further than a second GD seed lands from it?
                       kl_gd_zs_minus_floor=columns["kl_gd_zs"] - columns["kl_gd_gd_floor"])
        row = {"model": model, "task": task, "n_demos": n, "setting": setting}
        n_sets = int(wide.reset_index().groupby("example")["demo_seed"].nunique().max())
        for name, values in columns.items():
            # (queries, demonstration sets): the same queries under every set, a random draw too
            mean, low, high = examples_by_sets_ci(values.unstack("demo_seed").to_numpy(float), n_boot, seed=seed)
            row.update({name: mean, f"{name}_low": low, f"{name}_high": high})
        row["n_examples"], row["n_demo_sets"] = len(np.unique(examples)), n_sets
        moved = row["kl_gd_zs_minus_floor_low"] > 0
        row["verdict"] = ("GD did not move the model" if not moved
                          else "ICL and GD differ beyond the noise floors" if row["kl_icl_gd_minus_floor_low"] > 0
                          else "ICL and GD closer than the noise floors" if row["kl_icl_gd_minus_floor_high"] < 0
                          else "ICL-GD within the noise floors")
        out.append(row)
    return pd.DataFrame(out)
