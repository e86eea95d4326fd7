"""ICL against finetuning on the same demonstrations (Dai et al. 2022): zero-shot (ZS), ICL and
finetuned (FT) activations at the query, compared per layer.

- Language models (`analyse_episode`): per query, correctness of ZS, ICL, FT (and FT without the
  query's pair), SimAOU, SimAM and Kendall τ of ICL's attention to the demonstrations vs FT's
  implied attention (each also against a random baseline: a zero-mean Gaussian update for SimAOU,
  a random ranking for Kendall), and the dual-form rows of
  measures/dual_fit.py. FT: Dai's key/value SGD of icl_study/lm/finetune.py.
- Small models (`small_model_measures`): SimAOU and Kendall τ at the query of a batch of episodes,
  FT being the same key/value SGD on each demonstration shown alone with the task's loss.
Metric definitions: icl_study/metrics.py. `reinit_` draws the untrained control of a language model.
"""

from __future__ import annotations

import numpy as np
import torch

from icl_study import metrics
from icl_study.config import ConfigError
from icl_study.episodes import Episode, EpisodeBatch, query_loss
from icl_study.hooks import run_with_cache, stack_blocks
from icl_study.lm.activations import last_token_activations
from icl_study.lm.finetune import FinetuneConfig, finetuned
from icl_study.measures.dual_fit import dual_rows, projections
from icl_study.rng import generator


def reinit_(lm, seed: int, std: float = 0.02) -> None:
    """Redraw every weight in place: matrices N(0, std) (GPT-2 / Llama scale), norm gains 1, biases 0."""
    gen = generator(seed, "init")
    with torch.no_grad():
        for name, p in lm.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) * std)
            else:
                p.fill_(1.0 if name.endswith("weight") else 0.0)  # LayerNorm / RMSNorm gains, biases


def predictions(logits: torch.Tensor, candidates: list[int]) -> int:
    """The index of the best candidate token, from the whole vocabulary's logits (V,)."""
    return int(logits[candidates].argmax())


def attention_to_demos(scores: torch.Tensor, n_prefix: int, spans: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(L, H, S) scores -> token-level (L, P) softmax over the prefix of head-summed scores, and its
    example-level sum over each demonstration's tokens (L, k)."""
    token = scores[:, :, :n_prefix].sum(1).softmax(-1)  # (L, P)
    return token, torch.stack([part.sum(-1) for part in token.split(spans, dim=-1)], -1)


def layer_metrics(zs: dict, icl: dict, ft: dict, q_ft: torch.Tensor, train_q: torch.Tensor, spans: list[int], gen
                  ) -> np.ndarray:
    """(L, len(LAYER_METRICS)) for one query; q_ft (L, H, Dh) its pre-RoPE query after FT, train_q
    (L, H, P, Dh) the demonstration tokens' pre-RoPE queries recorded during finetuning."""
    n_prefix = sum(spans)
    n_layer, width = icl["attn_out"].shape
    simaou = metrics.simaou(icl["attn_out"], zs["attn_out"], ft["attn_out"])  # (L,)
    unit = lambda h: h / h.norm(dim=-1, keepdim=True)  # noqa: E731
    # A random update in place of FT's: a zero-mean (Gaussian) direction, so its expected cosine with
    # any update is 0; a U[0,1) draw points into the positive orthant and correlates with updates there.
    noise = torch.randn(n_layer, width, generator=gen)
    simaou_random = metrics.cosine(unit(icl["attn_out"]) - unit(zs["attn_out"]), noise)
    icl_zs_span = icl["scores"][:, :, n_prefix:]  # (L, H, Tq): ICL's scores over the zero-shot tokens
    short = icl_zs_span.shape[-1] < 2  # a one-token query: every cosine of scalars is +-1, so undefined
    nan = torch.full((n_layer,), float("nan"))
    simam_ft = nan if short else metrics.simam(icl_zs_span, ft["scores"])
    simam_zs = nan if short else metrics.simam(icl_zs_span, zs["scores"])
    icl_token, icl_example = attention_to_demos(icl["scores"], n_prefix, spans)
    # FT's implied attention: softmax over training tokens of q_FT . q_i (pre-RoPE), summed over heads
    ft_scores = (train_q @ q_ft[..., None])[..., 0]  # (L, H, P)
    ft_token, ft_example = attention_to_demos(ft_scores, n_prefix, spans)
    rand_token, rand_example = torch.rand(n_prefix, generator=gen), torch.rand(len(spans), generator=gen)
    rows = []
    for layer in range(n_layer):
        rows.append([simaou[layer], simaou_random[layer], simam_ft[layer], simam_zs[layer],
                     metrics.kendall_tau(icl_token[layer], ft_token[layer]),
                     metrics.kendall_tau(icl_token[layer], rand_token),
                     metrics.kendall_tau(icl_example[layer], ft_example[layer]),
                     metrics.kendall_tau(icl_example[layer], rand_example)])
    return np.array([[float(v) for v in row] for row in rows])


def pre_rope_queries(lm, x: torch.Tensor) -> torch.Tensor:
    """(L, T, C) attention-input states -> (L, H, T, Dh) queries before RoPE (the q projection's
    output), so that q.q products carry no relative-position term."""
    n_head = lm.model.cfg.n_head if lm.kind == "pipeline" else lm.model.config.num_attention_heads
    out = []
    for layer in range(x.shape[0]):
        (wq, bq), _, _ = projections(lm, layer)
        q = x[layer].double() @ wq.T + bq  # (T, H * Dh)
        out.append(q.view(len(q), n_head, -1).transpose(0, 1))  # (H, T, Dh)
    return torch.stack(out).float()


def ft_side(lm, episode: Episode, lr: float) -> tuple[list[dict], torch.Tensor, torch.Tensor]:
    """Dai's finetuning on the demonstrations, read as the reference does (understand_icl fs_ft.py):
    each demonstration's pre-RoPE queries are recorded during finetuning, at the weights of the step
    that trains on it. Returns the queries' FT activations, their pre-RoPE queries (N, L, H, Dh),
    and the demonstrations' recorded queries (L, H, P, Dh) over the ICL prefix's tokens."""
    recorded = {}

    def record(i):  # demonstration i as it stands in the ICL prefix (with its label), run at step i's weights
        ids, keep = episode.record[i]
        recorded[i] = pre_rope_queries(lm, last_token_activations(lm, ids, full=True, read_out=[])["x"][:, -keep:])

    with finetuned(lm, episode.train, FinetuneConfig("dai", lr), before_step=record):
        ft = [last_token_activations(lm, q, full=True, read_out=c) for q, c in zip(episode.queries, episode.candidates)]
    q_ft = torch.stack([pre_rope_queries(lm, acts["x"][:, -1:])[:, :, 0] for acts in ft])  # (N, L, H, Dh)
    return ft, q_ft, torch.cat([recorded[i] for i in range(len(episode.train))], dim=2)


def check_prompts_fit(lm, episode: Episode, key: str) -> None:
    """Refuse, in one line naming config key `key`, an episode whose longest prompt (BOS, the
    demonstrations, a query) is longer than the model's sliding window (Gemma's local layers): there
    those layers do not attend to the whole prompt, and the per-layer reads are not comparable."""
    window = getattr(lm, "sliding_window", None)
    longest = len(getattr(lm, "bos", [])) + len(episode.joined()) + max(map(len, episode.queries))
    if window is not None and longest > window:
        raise ConfigError(f"{key}: a prompt of {longest} tokens (demonstrations and a query) is longer than the model's "
                          f"{window}-token sliding window, where its local layers do not see the whole prompt; "
                          "use fewer demonstrations")


def analyse_episode(lm, episode: Episode, lr: float, n_dual: int, seed: int, step: int = 0, zs: list | None = None):
    """Per-query correctness (N, 4: zs, icl, ft, ft on held-out pairs or NaN), per-layer metrics (N, L, M) and dual rows (n_dual, L, D).
    zs: the queries' zero-shot activations when already computed (they do not depend on the
    demonstrations), read out at each query's candidates (`read_out`), as every read here is."""
    prefix = episode.joined()
    spans = [len(demo) for demo in episode.demos]
    prefix_acts = last_token_activations(lm, prefix, full=True, read_out=[])  # its states only
    cache = lm.prefix_cache(prefix)
    # every read gives the logits of the query's candidate label tokens only (in candidate order)
    zs = zs if zs is not None else [last_token_activations(lm, q, read_out=c) for q, c in zip(episode.queries, episode.candidates)]
    icl = [last_token_activations(lm, q, cache=cache, full=i < n_dual, read_out=c)
           for i, (q, c) in enumerate(zip(episode.queries, episode.candidates))]
    ft, q_ft, train_q = ft_side(lm, episode, lr)
    # text: every query is already held out of the demonstrations, so FT's accuracy is held-out accuracy
    heldout = [float(int(run["logits"].argmax()) == t) for run, t in zip(ft, episode.targets)]
    if episode.heldout_train is not None:  # concepts: FT without the query's pair among its inputs
        with finetuned(lm, episode.heldout_train, FinetuneConfig("dai", lr)), torch.no_grad():
            heldout = [float(predictions(lm.last_logits(torch.tensor([q]))[0], c) == t)
                       for q, c, t in zip(episode.queries, episode.candidates, episode.targets)]
    gen = generator(seed, "perturb", step)  # the random baselines' draws
    correct, layers = [], []
    for i, cands in enumerate(episode.candidates):
        target = episode.targets[i]
        correct.append([int(run[i]["logits"].argmax()) == target for run in (zs, icl, ft)] + [heldout[i]])
        layers.append(layer_metrics(zs[i], icl[i], ft[i], q_ft[i], train_q, spans, gen))
    duals = [dual_rows(lm, icl[i], prefix_acts["x"]) for i in range(min(n_dual, len(icl)))]
    return np.array(correct), np.stack(layers), np.stack(duals) if duals else None


# --- small models: a batch of episodes -----------------------------------------------------------


def finetuned_query_states(model, episodes: EpisodeBatch, family: str, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per episode, Dai's key/value SGD (batch 1, one epoch, demonstration order) on the
    demonstrations shown alone with the task's loss, then the query alone: attention outputs
    (L, B, C) and queries (L, B, H, Dh) at the query. Weights are restored after each episode."""
    names = lambda n: n.endswith("hook_attn_out") or n.endswith("attn.hook_q")  # noqa: E731
    loss = lambda m, x, target: query_loss(family, m(x[None, None]), target[None])  # noqa: E731
    layers = range(len(model.blocks))
    outs, qs = [], []
    for b in range(len(episodes.tokens)):
        examples = list(zip(episodes.demo_tokens[b], episodes.demo_targets[b]))
        with finetuned(model, examples, FinetuneConfig("dai", lr), loss=loss), torch.no_grad():
            _, cache = run_with_cache(model, episodes.tokens[b : b + 1, -1:], names=names)
        outs.append(stack_blocks(cache, "hook_attn_out", layers, lambda t: t[0, 0]))
        qs.append(stack_blocks(cache, "attn.hook_q", layers, lambda t: t[0, :, 0]))
    return torch.stack(outs, 1), torch.stack(qs, 1)


def small_model_measures(model, episodes: EpisodeBatch, family: str, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """SimAOU (L, B) and Kendall τ (L, B) between ICL and matched finetuning at the query."""
    layers = range(len(model.blocks))
    with torch.no_grad():
        _, icl = run_with_cache(model, episodes.tokens, names=lambda n: ".attn.hook_" in n or n.endswith("attn_out"))
        _, zs = run_with_cache(model, episodes.tokens[:, -1:], names=lambda n: n.endswith("hook_attn_out"))
    ft_out, ft_q = finetuned_query_states(model, episodes, family, lr)
    icl_out = stack_blocks(icl, "hook_attn_out", layers, lambda t: t[:, -1])  # (L, B, C)
    zs_out = stack_blocks(zs, "hook_attn_out", layers, lambda t: t[:, 0])  # (L, B, C)
    simaou = metrics.simaou(icl_out, zs_out, ft_out)  # (L, B)
    # Attention over the demonstration tokens (all but the query), head-summed logits; Kendall's τ is
    # rank-based, so the softmax over them would not change it.
    icl_att = stack_blocks(icl, "attn.hook_scores", layers, lambda t: t[:, :, -1, :-1].sum(1))  # (L, B, P)
    prefix_q = stack_blocks(icl, "attn.hook_q", layers, lambda t: t[:, :, :-1])  # (L, B, H, P, Dh)
    ft_att = (prefix_q @ ft_q.unsqueeze(-1)).squeeze(-1).sum(2)  # (L, B, P): sum over heads of q_FT . q_i
    tau = torch.tensor([[float(metrics.kendall_tau(icl_att[i, b], ft_att[i, b])) for b in range(icl_att.shape[1])]
                        for i in layers])
    return simaou, tau


def ft_label_nll(lm, episodes: list[Episode], lr: float) -> float:
    """Mean label NLL (among the candidate label words: metrics.label_word_nll) of each episode's
    first query after Dai's finetuning on its own demonstrations (validation episodes: what picks
    the finetuning lr). The NLL is continuous, so unlike accuracy
    on a few episodes it does not tie across a grid that barely moves the model (as Shen's GD is
    picked, measures/icl_vs_gd.py). A diverged run (NaN) scores +inf."""
    total = 0.0
    for episode in episodes:
        with finetuned(lm, episode.train, FinetuneConfig("dai", lr)), torch.no_grad():
            logits = lm.last_logits(torch.tensor([episode.queries[0]]))[0]  # (V,)
            total += float(metrics.label_word_nll(logits, episode.candidates[0], torch.tensor(episode.targets[0])))
    return total / len(episodes) if total == total else float("inf")


def text_label_nll(lm, queries: list[list[int]], label_ids: list[int], targets: list[int]) -> float:
    """Mean label NLL (among the label words `label_ids`; targets: class indices) of zero-shot text
    prompts (ids): the validation split's score of a finetuned model; +inf where it diverged."""
    with torch.no_grad():
        total = sum(float(metrics.label_word_nll(lm.last_logits(torch.tensor([q]))[0], label_ids, torch.tensor(y)))
                    for q, y in zip(queries, targets))
    return total / len(queries) if total == total else float("inf")
