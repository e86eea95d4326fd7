"""Study 2: in-context learning as implicit finetuning (Dai et al. 2022), with untrained controls.

For one model (SmolLM2 on a text task, or pipeline-gpt on its concept tasks), trained or an
untrained copy of the same shape (`reinit_`: seeded random weights), and for each demonstration
set (one per demo seed; for pipeline-gpt one per episode), this module compares:
- ZS: the query alone; ICL: the k demonstrations, then the query; FT: the query alone after Dai's
  finetuning on the same demonstrations (K/V projections, SGD, batch 1, one epoch, lr picked on a
  validation split: icl_study/lm/finetune.py). pipeline-gpt's demonstrations are finetuned each
  inside its preceding pairs (so keys get a gradient); its query's pair is always demonstrated, so
  its FT accuracy is training accuracy, and `ft_heldout` finetunes without the query's pair;
- per layer, at the last prompt token: SimAOU (vs a U[0,1) random update), SimAM (ICL-FT vs
  ICL-ZS), Kendall tau of the attention to demonstration tokens and to demonstrations (vs a
  U[0,1) random ranking): metric definitions in icl_study/metrics.py;
- the dual form: Dai's exact identity for un-normalised linear attention on the layer's own
  weights and token states (float64), and how far softmax attention is from its relaxed form.

Rule entries: `text_rule`, `concepts_rule` (-> examples, layers, dual CSVs), `summary_rule`
(-> the Dai-layout table, per-layer curves, dual summary, with cluster-bootstrap intervals
over unique test examples),
`momentum_rule` (vanilla vs momentum pipeline-gpt: validation loss, ICL accuracy vs k).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from icl_study import dual, metrics
from icl_study.config import from_dict
from icl_study.rng import generator, stream_seed

log = logging.getLogger("icl_study.dai")
KEYS = ["model", "task", "variant", "demo_seed", "example"]
LAYER_METRICS = ["simaou", "simaou_random", "simam_ft", "simam_zs", "kendall_token", "kendall_token_random",
                 "kendall_example", "kendall_example_random"]
DUAL_METRICS = ["relaxed_rel_error", "relaxed_cosine", "exact_max_abs_error", "exact_output_max_abs"]


@dataclass(frozen=True)
class TextAnalysisConfig:
    k: int = 4  # demonstrations (balanced over classes)
    demo_seeds: tuple[int, ...] = (0, 1, 2)  # one demonstration set per seed
    n_eval: int = 24  # test examples (balanced), the same for every seed
    n_val: int = 16  # validation split: picks the finetuning lr
    eval_seed: int = 0  # draws the test examples and the validation split
    lr_grid: tuple[float, ...] = (1e-4, 1e-3, 1e-2)
    n_dual: int = 2  # test prompts per seed that also measure the dual form


@dataclass(frozen=True)
class ConceptsAnalysisConfig:
    k: int = 4  # demonstrations per episode
    ways: int = 2  # candidate labels per episode
    demo_seeds: tuple[int, ...] = (0, 1, 2)  # one batch of episodes per seed
    n_eval: int = 32  # episodes (each its own demonstrations, finetuning and query) per seed
    n_val: int = 32  # validation episodes: pick the finetuning lr
    lr_grid: tuple[float, ...] = (1e-2, 1e-1, 1.0)
    n_dual: int = 2  # episodes per seed that also measure the dual form


@dataclass
class DemoSet:
    """One set of demonstrations and the queries that share it (token ids)."""

    demos: list[list[int]]  # each demonstration as it stands in the ICL prefix (label, separator)
    train: list[tuple[list[int], int]]  # the same demonstrations as finetuning examples, same order
    queries: list[list[int]]  # zero-shot prompts
    candidates: list[list[int]]  # label token ids per query
    targets: list[int]  # index of the right candidate per query
    record: list[tuple[list[int], int]] | None = None  # per demonstration: (ids to run, its last n tokens are the
    # demonstration's ICL span): where FT's side of Kendall reads the demonstration's queries
    heldout_train: list | None = None  # concepts: finetuning examples without the query's (class, label) pair


# --- untrained control ---------------------------------------------------------------------------


def reinit_(lm, seed: int, std: float = 0.02) -> None:
    """Redraw every weight in place: matrices N(0, std) (GPT-2 / Llama scale), norm gains 1, biases 0."""
    gen = generator(seed, "init")
    with torch.no_grad():
        for name, p in lm.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) * std)
            else:
                p.fill_(1.0 if name.endswith("weight") else 0.0)  # LayerNorm / RMSNorm gains, biases


# --- per demonstration set -----------------------------------------------------------------------


def predictions(logits: torch.Tensor, candidates: list[int]) -> int:
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
    noise = torch.rand(n_layer, width, generator=gen)  # U[0,1) update in place of FT's
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


def projections(lm, layer: int) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """((W, b) for q, k, v) of one layer in float64, rows grouped by head (b zeros if absent)."""
    if lm.kind == "pipeline":
        qkv = lm.model.blocks[layer].attn.qkv
        return tuple(zip(qkv.weight.double().chunk(3), qkv.bias.double().chunk(3)))
    attn = lm.model.model.layers[layer].self_attn  # Llama-like: q_proj, k_proj, v_proj
    out = []
    for proj in (attn.q_proj, attn.k_proj, attn.v_proj):
        bias = proj.bias if proj.bias is not None else torch.zeros(proj.weight.shape[0])
        out.append((proj.weight.double(), bias.double()))
    return tuple(out)


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


def ft_side(lm, demo_set: DemoSet, lr: float) -> tuple[list[dict], torch.Tensor, torch.Tensor]:
    """Dai's finetuning on the demonstrations, read as the reference does (understand_icl fs_ft.py):
    each demonstration's pre-RoPE queries are recorded during finetuning, at the weights of the step
    that trains on it. Returns the queries' FT activations, their pre-RoPE queries (N, L, H, Dh),
    and the demonstrations' recorded queries (L, H, P, Dh) over the ICL prefix's tokens."""
    from icl_study.lm.activations import last_token_activations
    from icl_study.lm.finetune import FinetuneConfig, finetuned

    recorded = {}

    def record(i):  # demonstration i as it stands in the ICL prefix (with its label), run at step i's weights
        ids, keep = demo_set.record[i]
        recorded[i] = pre_rope_queries(lm, last_token_activations(lm, ids, full=True)["x"][:, -keep:])

    with finetuned(lm, demo_set.train, FinetuneConfig("dai", lr), before_step=record):
        ft = [last_token_activations(lm, q, full=True) for q in demo_set.queries]
    q_ft = torch.stack([pre_rope_queries(lm, acts["x"][:, -1:])[:, :, 0] for acts in ft])  # (N, L, H, Dh)
    return ft, q_ft, torch.cat([recorded[i] for i in range(len(demo_set.train))], dim=2)


def exact_dual_error(lm, layer: int, x_demo: torch.Tensor, x_zs: torch.Tensor, n_head: int) -> tuple[float, float]:
    """max |W_V X (W_K X)^T q - (W_ZSL + dW_ICL) q| over heads in float64, on the layer's own
    weights and token states (no RoPE: the un-normalised linear attention of the projections);
    also the largest |output| for scale."""
    (wq, bq), (wk, bk), (wv, bv) = projections(lm, layer)
    x_demo, x_zs = x_demo.double(), x_zs.double()
    q = (x_zs[-1] @ wq.T + bq).view(n_head, -1)  # (H, Dh) the last token's queries
    k_demo, k_zs = ((x @ wk.T + bk).view(len(x), -1, q.shape[-1]) for x in (x_demo, x_zs))  # (T, Hkv, Dh)
    v_demo, v_zs = ((x @ wv.T + bv).view(len(x), -1, q.shape[-1]) for x in (x_demo, x_zs))
    group = n_head // k_demo.shape[1]  # grouped-query attention: heads per key/value head
    err, scale = 0.0, 0.0
    for h in range(n_head):
        g = h // group
        full = dual.linear_attention(q[h], torch.cat([k_demo[:, g], k_zs[:, g]]), torch.cat([v_demo[:, g], v_zs[:, g]]))
        w_zsl, dw_icl = dual.dai_dual_weights(k_demo[:, g], v_demo[:, g], k_zs[:, g], v_zs[:, g])
        err = max(err, float((full - (w_zsl @ q[h] + dw_icl @ q[h])).abs().max()))
        scale = max(scale, float(full.abs().max()))
    return err, scale


def dual_rows(lm, icl_full: dict, prefix_x: torch.Tensor) -> np.ndarray:
    """(L, len(DUAL_METRICS)) from one ICL prompt's full activations."""
    n_head, d_head = icl_full["q"].shape[1:]
    rel, cos = dual.relaxation_error(icl_full["q"].double(), icl_full["k"].double(), icl_full["v"].double(), d_head ** -0.5)
    rows = []
    for layer in range(len(rel)):
        err, scale = exact_dual_error(lm, layer, prefix_x[layer], icl_full["x"][layer], n_head)
        rows.append([float(rel[layer]), float(cos[layer]), err, scale])
    return np.array(rows)


def analyse_demo_set(lm, demo_set: DemoSet, lr: float, n_dual: int, seed: int, step: int = 0, zs: list | None = None):
    """Per-query correctness (N, 4: zs, icl, ft, ft on held-out pairs or NaN), per-layer metrics (N, L, M) and dual rows (n_dual, L, D).
    zs: the queries' zero-shot activations when already computed (they do not depend on the demonstrations)."""
    from icl_study.lm.activations import last_token_activations
    from icl_study.lm.finetune import FinetuneConfig, finetuned

    prefix = [t for demo in demo_set.demos for t in demo]
    spans = [len(demo) for demo in demo_set.demos]
    prefix_acts = last_token_activations(lm, prefix, full=True)
    cache = lm.prefix_cache(prefix)
    zs = zs if zs is not None else [last_token_activations(lm, q) for q in demo_set.queries]
    icl = [last_token_activations(lm, q, cache=cache, full=i < n_dual) for i, q in enumerate(demo_set.queries)]
    ft, q_ft, train_q = ft_side(lm, demo_set, lr)
    heldout = [float("nan")] * len(demo_set.queries)  # text: every query is held out already
    if demo_set.heldout_train:  # concepts: FT without the query's pair among its inputs
        with finetuned(lm, demo_set.heldout_train, FinetuneConfig("dai", lr)), torch.no_grad():
            heldout = [float(predictions(lm.logits(torch.tensor([q]))[0, -1], c) == t)
                       for q, c, t in zip(demo_set.queries, demo_set.candidates, demo_set.targets)]
    gen = generator(seed, "perturb", step)  # the random baselines' draws
    correct, layers = [], []
    for i, cands in enumerate(demo_set.candidates):
        target = demo_set.targets[i]
        correct.append([predictions(run[i]["logits"], cands) == target for run in (zs, icl, ft)] + [heldout[i]])
        layers.append(layer_metrics(zs[i], icl[i], ft[i], q_ft[i], train_q, spans, gen))
    duals = [dual_rows(lm, icl[i], prefix_acts["x"]) for i in range(min(n_dual, len(icl)))]
    return np.array(correct), np.stack(layers), np.stack(duals) if duals else None


def tables(keys: list[tuple], correct: list, layers: list, duals: list, lrs: list) -> tuple[pd.DataFrame, ...]:
    """Tidy tables from per-demo-set results; keys[j] = (model, task, variant, demo_seed, first example)."""
    ex_rows, layer_rows, dual_rows_ = [], [], []
    for key, c, lay, d, lr in zip(keys, correct, layers, duals, lrs):
        base = key[:4]
        for i in range(len(c)):
            ex_rows.append((*base, key[4] + i, *map(int, c[i][:3]), c[i][3], lr))
            layer_rows += [(*base, key[4] + i, layer, *lay[i, layer]) for layer in range(lay.shape[1])]
        for i in range(0 if d is None else len(d)):
            dual_rows_ += [(*base, key[4] + i, layer, *d[i, layer]) for layer in range(d.shape[1])]
    return (pd.DataFrame(ex_rows, columns=KEYS + ["zs_correct", "icl_correct", "ft_correct", "ft_heldout_correct", "lr"]),
            pd.DataFrame(layer_rows, columns=KEYS + ["layer"] + LAYER_METRICS),
            pd.DataFrame(dual_rows_, columns=KEYS + ["layer"] + DUAL_METRICS))


def write(frames: tuple[pd.DataFrame, ...], outputs: list[str]) -> None:
    for frame, path in zip(frames, outputs):
        frame.to_csv(path, index=False)


# --- text tasks (SmolLM2, hf:<dir>) --------------------------------------------------------------


def text_tables(params: dict, model_path: str | None) -> tuple[pd.DataFrame, ...]:
    """params {spec, model_name, task_name, task, variant, untrained_seed, analysis} -> three tables."""
    from icl_study.lm import data, icl
    from icl_study.lm.finetune import FinetuneConfig, pick_lr
    from icl_study.lm.models import load_lm

    cfg = from_dict(TextAnalysisConfig, params["analysis"], "dai.text")
    task_cfg = data.task_config(params["task"], f"lm.tasks.{params['task_name']}")
    eval_set, val_set, pool = data.split(data.load_examples(task_cfg), cfg.n_eval, cfg.n_val, cfg.eval_seed)
    lm = load_lm(params["spec"], model_path)
    if params["variant"] == "untrained":
        reinit_(lm, params["untrained_seed"])
    label_ids = icl.label_token_ids(lm, task_cfg.label_words)
    from icl_study.lm.activations import last_token_activations

    results, started = ([], [], [], [], []), time.perf_counter()
    queries = [lm.encode(data.format_example(task_cfg, e, False)) for e in eval_set]
    zs = [last_token_activations(lm, q) for q in queries]  # once per test example, shared by every seed
    for seed in cfg.demo_seeds:
        demos = data.sample_demos(pool, cfg.k, seed)
        demo_ids = [lm.encode(data.format_example(task_cfg, d, True) + task_cfg.separator) for d in demos]
        demo_set = DemoSet(demo_ids,
                           [(lm.encode(data.format_example(task_cfg, d, False)), label_ids[d.label]) for d in demos],
                           queries, [label_ids] * len(eval_set), [e.label for e in eval_set],
                           record=[(ids, len(ids)) for ids in demo_ids])
        lr, _ = pick_lr(lm, demo_set.train, tuple(cfg.lr_grid), FinetuneConfig("dai"),
                        lambda m: icl.accuracy(icl.predict(m, task_cfg, [], val_set)[0], val_set))
        out = analyse_demo_set(lm, demo_set, lr, cfg.n_dual, seed, zs=zs)
        for store, value in zip(results, ((params["model_name"], params["task_name"], params["variant"], seed, 0),
                                          *out, lr)):
            store.append(value)
        log.info("%s %s %s seed %d: ZS/ICL/FT accuracy %s (lr %.3g, %.0f s elapsed)", params["model_name"],
                 params["task_name"], params["variant"], seed, out[0].mean(0).round(3), lr, time.perf_counter() - started)
    return tables(*results)


def text_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: inputs[0] the model directory (none for hf:<dir>) -> examples, layers, dual CSVs."""
    write(text_tables(params, inputs[0] if inputs else None), outputs)


# --- concept tasks (pipeline-gpt) ----------------------------------------------------------------


def in_context(pairs: list[list[int]]) -> list[tuple[list[int], int]]:
    """Finetuning examples of (class, label) pairs, each inside its preceding pairs:
    (c_1 l_1 ... c_{i-1} l_{i-1} c_i -> l_i). Alone, c_i would be a one-token sequence, where the
    softmax over a single key gives the key projection no gradient."""
    return [([t for p in pairs[:i] for t in p] + [c], label) for i, (c, label) in enumerate(pairs)]


def episode_demo_set(tokens: torch.Tensor, candidates: torch.Tensor, target: torch.Tensor, k: int) -> DemoSet:
    """One k-shot episode c_1 l_1 ... c_k l_k c_q as a DemoSet: demonstrations (c_i, l_i), finetuning
    examples `in_context(pairs)`, one query [c_q]. The query's class is always demonstrated, so FT
    on it is training accuracy; `heldout_train` drops the query class's pairs (FT on an unseen pair)."""
    ids = tokens.tolist()
    pairs = [ids[2 * i: 2 * i + 2] for i in range(k)]
    heldout = in_context([p for p in pairs if p[0] != ids[-1]])
    record = [([t for p in pairs[:i + 1] for t in p], 2) for i in range(k)]  # pair i after the pairs before it
    return DemoSet(pairs, in_context(pairs), [[ids[-1]]], [candidates.tolist()], [int(target)], record, heldout)


def pick_episode_lr(lm, episodes: dict, cfg: ConceptsAnalysisConfig) -> float:
    """The lr of the grid with the best mean FT accuracy on validation episodes (ties: the smaller)."""
    from icl_study.lm.finetune import FinetuneConfig, finetuned

    scores = {}
    for lr in sorted(cfg.lr_grid):
        hits = 0
        for j in range(len(episodes["target"])):
            episode = episode_demo_set(episodes["tokens"][j], episodes["candidates"][j], episodes["target"][j], cfg.k)
            with finetuned(lm, episode.train, FinetuneConfig("dai", lr)), torch.no_grad():
                hits += predictions(lm.logits(torch.tensor([episode.queries[0]]))[0, -1], episode.candidates[0]) == episode.targets[0]
        scores[lr] = hits / len(episodes["target"])
    log.info("finetune lr validation accuracy: %s", scores)
    return max(scores, key=lambda lr: (scores[lr], -lr))


def concepts_tables(checkpoint: str, params: dict) -> tuple[pd.DataFrame, ...]:
    """params {task_name: concepts-fresh | concepts-iwl, variant, untrained_seed, analysis} -> three tables."""
    from icl_study.lm.models import load_lm
    from icl_study.tasks.concepts import ConceptsTask

    cfg = from_dict(ConceptsAnalysisConfig, params["analysis"], "dai.concepts")
    lm = load_lm("pipeline-gpt", checkpoint)
    task = ConceptsTask(lm.run_config.task_config, lm.run_config.train.seed)
    if params["variant"] == "untrained":
        reinit_(lm, params["untrained_seed"])
    fresh = params["task_name"] == "concepts-fresh"
    results = ([], [], [], [], [])
    for s, seed in enumerate(cfg.demo_seeds):
        lr = pick_episode_lr(lm, task.fewshot_prompts(generator(seed, "probe", cfg.k), cfg.n_val, cfg.k, cfg.ways, fresh), cfg)
        episodes = task.fewshot_prompts(generator(seed, "demo", cfg.k), cfg.n_eval, cfg.k, cfg.ways, fresh)
        for j in range(cfg.n_eval):
            demo_set = episode_demo_set(episodes["tokens"][j], episodes["candidates"][j], episodes["target"][j], cfg.k)
            out = analyse_demo_set(lm, demo_set, lr, int(j < cfg.n_dual), seed, j)
            example = s * cfg.n_eval + j  # each episode is its own test example: ids unique over seeds
            for store, value in zip(results, (("pipeline-gpt", params["task_name"], params["variant"], seed, example),
                                              *out, lr)):
                store.append(value)
        log.info("%s %s seed %d: ZS/ICL/FT accuracy %s (lr %.3g)", params["task_name"], params["variant"], seed,
                 np.concatenate(results[1][-cfg.n_eval:]).mean(0).round(3), lr)
    return tables(*results)


def concepts_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: inputs[0] the pipeline-gpt checkpoint -> examples, layers, dual CSVs."""
    write(concepts_tables(inputs[0], params), outputs)


# --- summaries (the Dai-layout table, per-layer curves, dual form) --------------------------------


def with_ci(frame: pd.DataFrame, column: str, n_boot: int, seed: int) -> tuple[float, float, float, int, int]:
    """(mean, low, high, n_examples, n_demo_sets) of a per-row column (NaNs dropped): a 95%
    cluster bootstrap over unique test examples, each keeping its rows of every demonstration set.
    n_demo_sets: demonstration sets per test example (text: the demo seeds; concepts: 1, each
    episode is its own test example and demonstration set)."""
    frame = frame[frame[column].notna()]
    mean, low, high, n = metrics.cluster_bootstrap_ci(frame[column].to_numpy(float), frame["example"].to_numpy(),
                                                      n_boot, seed=seed)
    n_sets = int(frame.groupby("example")["demo_seed"].nunique().max()) if n else 0
    return mean, low, high, n, n_sets


CI_COLUMNS = ["mean", "low", "high", "n_examples", "n_demo_sets"]


def summary_tables(examples: pd.DataFrame, layers: pd.DataFrame, duals: pd.DataFrame, n_boot: int
                   ) -> tuple[pd.DataFrame, ...]:
    """Tidy (model, task, variant, metric, [layer,] mean, low, high, n_examples, n_demo_sets)
    tables. `example` names a unique test example within (model, task, variant); intervals
    resample those (metrics.cluster_bootstrap_ci). Zero-shot does not depend on the
    demonstrations, so it is counted once per example (n_demo_sets 0). A layer metric's per-row
    value is its mean over layers; Rec2FTP's interval resamples the examples with a row that FT
    fixed (ZS wrong, FT right)."""
    group = ["model", "task", "variant"]
    rows, seed = [], stream_seed(0, "bootstrap")
    for key, frame in examples.groupby(group):
        zs_once = frame.drop_duplicates("example")  # ZS: one row per example
        rows.append((*key, "acc_zs", *with_ci(zs_once, "zs_correct", n_boot, seed)[:4], 0))
        for name in ("ft", "icl", "ft_heldout"):  # ft_heldout: concepts only (NaN rows dropped)
            if f"{name}_correct" in frame:
                rows.append((*key, f"acc_{name}", *with_ci(frame, f"{name}_correct", n_boot, seed)))
        zs, ft, icl = (torch.tensor(frame[f"{n}_correct"].to_numpy(bool)) for n in ("zs", "ft", "icl"))
        fixed = (~zs & ft).numpy()
        point = float(metrics.rec2ftp(zs, ft, icl))
        ci = with_ci(frame[fixed], "icl_correct", n_boot, seed)
        rows.append((*key, "rec2ftp", point, *ci[1:]))
    per_example = layers.groupby(group + ["demo_seed", "example"])[LAYER_METRICS].mean().reset_index()
    for key, frame in per_example.groupby(group):
        rows += [(*key, m, *with_ci(frame, m, n_boot, seed)) for m in LAYER_METRICS]
    table = pd.DataFrame(rows, columns=group + ["metric"] + CI_COLUMNS)
    layer_rows = [(*key, m, *with_ci(frame, m, n_boot, seed))
                  for key, frame in layers.groupby(group + ["layer"]) for m in LAYER_METRICS]
    curves = pd.DataFrame(layer_rows, columns=group + ["layer", "metric"] + CI_COLUMNS)
    dual_rows_ = [(*key, m, *with_ci(frame, m, n_boot, seed), frame[m].max())
                  for key, frame in duals.groupby(group + ["layer"]) for m in DUAL_METRICS]
    dual_columns = group + ["layer", "metric"] + CI_COLUMNS + ["max"]  # max: over prompts
    return table, curves, pd.DataFrame(dual_rows_, columns=dual_columns)


def summary_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: inputs are (examples, layers, dual) CSV triples -> table, curves, dual summary."""
    frames = [pd.concat([pd.read_csv(p) for p in inputs[i::3]], ignore_index=True) for i in range(3)]
    write(summary_tables(*frames, params["n_boot"]), outputs)


# --- momentum attention: vanilla vs momentum pipeline-gpt ----------------------------------------


def momentum_rows(checkpoint: str, run_name: str, params: dict) -> pd.DataFrame:
    """Validation loss on held-out sequences and ICL accuracy vs k (studies.lm's concept evaluator)."""
    from icl_study.checkpoint import load_model
    from icl_study.studies.lm import icl_concepts_table
    from icl_study.tasks.concepts import ConceptsTask

    model, run_cfg = load_model(checkpoint)
    task = ConceptsTask(run_cfg.task_config, run_cfg.train.seed)
    with torch.no_grad():
        batch = {"tokens": task.sample(generator(run_cfg.train.seed, "eval", 1), params["n_val_sequences"])}
        val_loss = float(task.loss(model, batch))
    table = icl_concepts_table(checkpoint, params["eval"])
    table = table[table["predictor"] == "model"].assign(kind=run_cfg.model.attention, seed=run_cfg.train.seed)
    loss = pd.DataFrame([{"kind": run_cfg.model.attention, "seed": run_cfg.train.seed, "task": "validation",
                          "k": -1, "demo_seed": -1, "metric": "val_loss", "value": val_loss}])
    table = table.assign(metric="accuracy", value=table["accuracy"])[loss.columns]
    log.info("%s: validation loss %.4f, accuracy at the largest k %.3f", run_name, val_loss,
             table[table["k"] == table["k"].max()]["value"].mean())
    return pd.concat([loss, table], ignore_index=True)


def momentum_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: every run's checkpoint -> one tidy table (kind, seed, task, k, demo_seed, metric, value)."""
    pd.concat([momentum_rows(path, path.split("/")[-2], params) for path in inputs],
              ignore_index=True).to_csv(outputs[0], index=False)
