"""Study 2: in-context learning as implicit finetuning (Dai et al. 2022), with untrained controls.

For one model (SmolLM2 on a text task, or pipeline-gpt on its concept tasks), trained or an
untrained copy of the same shape (`reinit_`: seeded random weights), and for each demonstration
set (one per demo seed; for pipeline-gpt one per episode), this module compares:
- ZS: the query alone; ICL: the k demonstrations, then the query; FT: the query alone after Dai's
  finetuning on the same demonstrations (K/V projections, SGD, batch 1, one epoch, lr picked on a
  validation split by the label word's NLL: icl_study/lm/finetune.py). pipeline-gpt's
  demonstrations are finetuned each inside its preceding pairs (so keys get a gradient); its
  query's pair is always demonstrated, so its FT accuracy is training accuracy, and `ft_heldout`
  finetunes without the query's pair (text: every query is held out, `ft_heldout` = FT);
- per layer, at the last prompt token: SimAOU (vs a zero-mean Gaussian random update), SimAM
  (ICL-FT vs ICL-ZS), Kendall tau of the attention to demonstration tokens and to demonstrations
  (vs a random ranking): metric definitions in icl_study/metrics.py;
- the dual form: Dai's exact identity for un-normalised linear attention on the layer's own
  weights and token states (float64), and how far softmax attention is from its relaxed form.

Rule entries: `text_rule`, `concepts_rule` (-> examples, layers, dual CSVs), `summary_rule`
(-> the Dai-layout table, per-layer curves, dual summary, with cluster-bootstrap intervals
over unique test examples, and the per-example table the claims pair their differences on),
`momentum_rule` (vanilla vs momentum pipeline-gpt: validation loss, ICL accuracy vs k).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import torch

from icl_study import metrics
from icl_study.checkpoint import load_model
from icl_study.columns import DAI_CI_COLUMNS as CI_COLUMNS
from icl_study.columns import DAI_DUAL_METRICS as DUAL_METRICS
from icl_study.columns import DAI_KEYS as KEYS
from icl_study.columns import DAI_LAYER_METRICS as LAYER_METRICS
from icl_study.config import from_dict
from icl_study.episodes import concept_episodes, encode_queries, text_episode
from icl_study.lm import data, icl
from icl_study.lm.activations import last_token_activations
from icl_study.lm.finetune import FinetuneConfig, choose_lr, pick_lr
from icl_study.lm.models import load_lm
from icl_study.measures.concept_accuracy import concept_accuracy_table
from icl_study.measures.matched_finetuning import (analyse_episode, check_prompts_fit, ft_label_nll, reinit_,
                                                   text_label_nll)
from icl_study.rng import generator, stream_seed
from icl_study.settings.dai import ConceptsAnalysisConfig, TextAnalysisConfig
from icl_study.measures.rec2ftp import rec2ftp_ci
from icl_study.tasks.concepts import ConceptsTask

log = logging.getLogger("icl_study.dai")


# --- tables --------------------------------------------------------------------------------------


def tables(keys: list[tuple], correct: list, layers: list, duals: list, lrs: list, train_seed: float = float("nan")
           ) -> tuple[pd.DataFrame, ...]:
    """Tidy tables from per-demo-set results; keys[j] = (model, task, variant, demo_seed, first example).
    train_seed: the training seed of a model this study trained (pipeline-gpt), NaN for a pretrained LM."""
    ex_rows, layer_rows, dual_rows_ = [], [], []
    for key, c, lay, d, lr in zip(keys, correct, layers, duals, lrs):
        base = key[:4]
        for i in range(len(c)):
            ex_rows.append((*base, key[4] + i, *map(int, c[i][:3]), c[i][3], lr, train_seed))
            layer_rows += [(*base, key[4] + i, layer, *lay[i, layer]) for layer in range(lay.shape[1])]
        for i in range(0 if d is None else len(d)):
            dual_rows_ += [(*base, key[4] + i, layer, *d[i, layer]) for layer in range(d.shape[1])]
    return (pd.DataFrame(ex_rows, columns=KEYS + ["zs_correct", "icl_correct", "ft_correct", "ft_heldout_correct", "lr",
                                        "train_seed"]),
            pd.DataFrame(layer_rows, columns=KEYS + ["layer"] + LAYER_METRICS),
            pd.DataFrame(dual_rows_, columns=KEYS + ["layer"] + DUAL_METRICS))


def write(frames: tuple[pd.DataFrame, ...], outputs: list[str]) -> None:
    for frame, path in zip(frames, outputs):
        frame.to_csv(path, index=False)


# --- text tasks (SmolLM2, hf:<dir>) --------------------------------------------------------------


def text_tables(params: dict, model_path: str | None) -> tuple[pd.DataFrame, ...]:
    """params {spec, model_name, task_name, task, variant, untrained_seed, analysis} -> three tables."""
    cfg = from_dict(TextAnalysisConfig, params["analysis"], "dai.text")
    task_cfg = data.task_config(params["task"], f"lm.tasks.{params['task_name']}")
    eval_set, val_set, pool = data.split(data.load_examples(task_cfg), cfg.n_eval, cfg.n_val, cfg.eval_seed)
    lm = load_lm(params["spec"], model_path)
    if params["variant"] == "untrained":
        reinit_(lm, params["untrained_seed"])
    results, started = ([], [], [], [], []), time.perf_counter()
    episodes = {seed: text_episode(lm, task_cfg, data.sample_demos(pool, cfg.k, seed), eval_set) for seed in cfg.demo_seeds}
    for episode in episodes.values():  # before any work: a prompt too long for the model is a config error
        check_prompts_fit(lm, episode, "dai.text.k")
    val_queries, label_ids = encode_queries(lm, task_cfg, val_set), icl.label_token_ids(lm, task_cfg.label_words)
    # shared by every seed; read out at the label words, as analyse_episode reads every query
    zs = [last_token_activations(lm, q, read_out=label_ids) for q in encode_queries(lm, task_cfg, eval_set)]
    val_targets = [e.label for e in val_set]
    for seed, episode in episodes.items():
        # the lr with the lowest validation label NLL (pick_lr maximises, hence the minus)
        lr, _ = pick_lr(lm, episode.train, tuple(cfg.lr_grid), FinetuneConfig("dai"),
                        lambda m: -text_label_nll(m, val_queries, label_ids, val_targets))
        out = analyse_episode(lm, episode, lr, cfg.n_dual, seed, zs=zs)
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


def concepts_tables(checkpoint: str, params: dict) -> tuple[pd.DataFrame, ...]:
    """params {task_name: concepts-fresh | concepts-iwl, variant, untrained_seed, analysis} -> three tables."""
    cfg = from_dict(ConceptsAnalysisConfig, params["analysis"], "dai.concepts")
    lm = load_lm("pipeline-gpt", checkpoint)
    task = ConceptsTask(lm.run_config.task_config, lm.run_config.train.seed)
    if params["variant"] == "untrained":
        reinit_(lm, params["untrained_seed"])
    fresh = params["task_name"] == "concepts-fresh"
    results = ([], [], [], [], [])
    for s, seed in enumerate(cfg.demo_seeds):
        val = concept_episodes(task.fewshot_prompts(generator(seed, "probe", cfg.k), cfg.n_val, cfg.k, cfg.ways, fresh), cfg.k)
        lr, scores = pick_concepts_lr(lm, val, cfg.lr_grid)
        log.info("finetune lr validation label NLL: %s", scores)
        episodes = concept_episodes(task.fewshot_prompts(generator(seed, "demo", cfg.k), cfg.n_eval, cfg.k, cfg.ways, fresh), cfg.k)
        for j, episode in enumerate(episodes):
            out = analyse_episode(lm, episode, lr, int(j < cfg.n_dual), seed, j)
            example = s * cfg.n_eval + j  # each episode is its own test example: ids unique over seeds
            for store, value in zip(results, (("pipeline-gpt", params["task_name"], params["variant"], seed, example),
                                              *out, lr)):
                store.append(value)
        log.info("%s %s seed %d: ZS/ICL/FT accuracy %s (lr %.3g)", params["task_name"], params["variant"], seed,
                 np.concatenate(results[1][-cfg.n_eval:]).mean(0).round(3), lr)
    return tables(*results, train_seed=lm.run_config.train.seed)


def pick_concepts_lr(lm, val: list, lr_grid) -> tuple[float, dict]:
    """The lr of the grid with the lowest mean validation label NLL after finetuning (ties: the
    smaller lr); returns (lr, {lr: NLL})."""
    lr, scores = choose_lr(tuple(lr_grid), lambda lr: -ft_label_nll(lm, val, lr))
    return lr, {k: -v for k, v in scores.items()}


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


def summary_tables(examples: pd.DataFrame, layers: pd.DataFrame, duals: pd.DataFrame, n_boot: int
                   ) -> tuple[pd.DataFrame, ...]:
    """Tidy (model, task, variant, metric, [layer,] mean, low, high, n_examples, n_demo_sets)
    tables, and the per-example table. `example` names a unique test example within (model, task,
    variant); intervals resample those (metrics.cluster_bootstrap_ci). Zero-shot does not depend on
    the demonstrations, so it is counted once per example (n_demo_sets 0). A layer metric's per-row
    value is its mean over layers; Rec2FTP is a proportion with a Wilson interval
    (measures.rec2ftp.rec2ftp_ci). The per-example table has one row per (model, task, variant,
    demo_seed, example): correctness and the layer-mean metrics, what the claims pair on."""
    group = ["model", "task", "variant"]
    rows, seed = [], stream_seed(0, "bootstrap")
    for key, frame in examples.groupby(group):
        zs_once = frame.drop_duplicates("example")  # ZS: one row per example
        rows.append((*key, "acc_zs", *with_ci(zs_once, "zs_correct", n_boot, seed)[:4], 0))
        for name in ("ft", "icl", "ft_heldout"):
            if f"{name}_correct" in frame:
                rows.append((*key, f"acc_{name}", *with_ci(frame, f"{name}_correct", n_boot, seed)))
        zs, ft, icl = (torch.tensor(frame[f"{n}_correct"].to_numpy(bool)) for n in ("zs", "ft", "icl"))
        point = float(metrics.rec2ftp(zs, ft, icl))
        _, low, high, n = rec2ftp_ci(frame)
        fixed = frame[(frame["zs_correct"] == 0) & (frame["ft_correct"] == 1)]
        n_sets = int(fixed.groupby("example")["demo_seed"].nunique().max()) if n else 0
        rows.append((*key, "rec2ftp", point, low, high, n, n_sets))
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
    correct = [c for c in ("train_seed", "zs_correct", "icl_correct", "ft_correct", "ft_heldout_correct") if c in examples]
    paired = examples[KEYS + correct].merge(per_example, on=KEYS, how="left")
    return table, curves, pd.DataFrame(dual_rows_, columns=dual_columns), paired


def summary_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: inputs are (examples, layers, dual) CSV triples -> table, curves, dual summary,
    per-example table."""
    frames = [pd.concat([pd.read_csv(p) for p in inputs[i::3]], ignore_index=True) for i in range(3)]
    write(summary_tables(*frames, params["n_boot"]), outputs)


# --- momentum attention: vanilla vs momentum pipeline-gpt ----------------------------------------


def momentum_rows(checkpoint: str, run_name: str, params: dict) -> pd.DataFrame:
    """Validation loss on held-out sequences and ICL accuracy vs k (studies.lm's concept evaluator)."""
    model, run_cfg = load_model(checkpoint)
    task = ConceptsTask(run_cfg.task_config, run_cfg.train.seed)
    with torch.no_grad():
        batch = {"tokens": task.sample(generator(run_cfg.train.seed, "eval", 1), params["n_val_sequences"])}
        val_loss = float(task.loss(model, batch))
    table = concept_accuracy_table(checkpoint, params["eval"])
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
