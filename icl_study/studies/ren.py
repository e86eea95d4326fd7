"""Study 3: in-context learning through a representation-learning lens (Ren & Liu 2024).

Four analyses, each writing a tidy table (the math lives in icl_study/dual.py):

1. `kernel`: positive random features vs the exact exp(q^T k / sqrt(Dh)) of every layer of a
   trained model and of random tokens: relative error of the kernel, the attention pattern and the
   attention output against the number of features m, over independent feature draws.
2. `dual`: the dual model W = sum_i v_i phi(k_i)^T against the layer (exact identity with
   un-normalised kernel attention; error vs m with true softmax), and gradient descent on the dual
   loss from W_0 = the query's own pair, several steps, distance to the attention output per step.
3. `generalisation`: the dual model trained (one step, learning rate 1/N) on N demonstration
   tokens vs its infinite-data limit, on held-out query tokens; fitted c / sqrt(N).
4. `variants`: ICL error vs k of models trained with each attention kind (softmax and Ren & Liu's
   three contrastive variants, several seeds, same budget) and their training curves, on the
   linear-regression task and on pipeline-gpt's token corpus (`corpus_variants_rule`: error of
   fresh-label few-shot episodes, which only in-context learning can solve).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import torch

from icl_study import dual
from icl_study.checkpoint import load_model
from icl_study.config import KIND_PARAMETERS, from_dict
from icl_study.measures.dual_fit import gd_rows, generalisation_rows, identity_rows, layer_qkv, rel_err
from icl_study.metrics import normalized_error
from icl_study.rng import generator
from icl_study.settings.ren import CorpusEvalConfig, LensConfig, RenGridSettings, VariantEvalConfig
from icl_study.tasks.concepts import ConceptsTask, episode_predictions
from icl_study.tasks.regression import RegressionTask, interleave_xy, predict

log = logging.getLogger("icl_study.ren")


def _sequences(run_cfg, n: int, seed: int) -> torch.Tensor:
    """(n, 2 n_points, d) evaluation token sequences of the model's own task (never a training batch)."""
    batch = RegressionTask(run_cfg.task_config, seed).sample(0, n, "eval")
    return interleave_xy(batch["xs"], batch["ys"])


def random_qkv(shape: tuple[int, ...], scale: float, seed: int) -> dict[str, torch.Tensor]:
    """Random tokens (..., Dh): q, k ~ N(0, scale^2 I) (then scaled like a layer's), v ~ N(0, I)."""
    gen = generator(seed, "misc")
    q, k, v = (torch.randn(*shape, generator=gen, dtype=torch.float64) for _ in range(3))
    q, k = dual.scale_qk(scale * q, scale * k)
    return {"q": q, "k": k, "v": v}


def sources(checkpoint: str, cfg: LensConfig) -> dict[str, dict[str, torch.Tensor]]:
    """{name: q/k/v/pattern}: every layer of the trained model, and random tokens of the same shape."""
    model, run_cfg = load_model(checkpoint)
    with torch.no_grad():
        layers = layer_qkv(model, _sequences(run_cfg, cfg.n_sequences, cfg.seed))
    for i, layer in enumerate(layers):  # the exp kernel, normalised, must be the layer's own pattern
        ours = dual.normalise(dual.exact_kernel(layer["q"], layer["k"]))
        if not torch.allclose(ours, layer["pattern"], atol=1e-5):
            raise RuntimeError(f"layer {i}: the exp kernel does not reproduce the attention pattern")
    named = {f"trained layer {i}": layer for i, layer in enumerate(layers)}
    random = random_qkv(tuple(layers[0]["q"].shape), cfg.random_scale, cfg.seed)  # (B, H, T, Dh) each
    named["random tokens"] = {**random, "pattern": dual.normalise(dual.exact_kernel(random["q"], random["k"]))}
    return named


def kernel_table(named: dict, cfg: LensConfig) -> pd.DataFrame:
    """Relative errors of kernel, pattern and output per source, m and feature draw."""
    rows = []
    for source, s in named.items():
        kernel = dual.exact_kernel(s["q"], s["k"])  # (B, H, T, T)
        pattern = dual.normalise(kernel)
        # The estimator's relative variance per feature is exp(||q + k||^2) - 1: why trained layers are hard.
        spread = (s["q"].unsqueeze(-2) + s["k"].unsqueeze(-3)).pow(2).sum(-1)[..., dual.causal_mask(kernel.shape[-1])]
        rows.append((source, 0, 0, "median_sq_norm_q_plus_k", float(spread.median())))
        for m in cfg.n_features:
            for draw in range(cfg.n_draws):
                proj = dual.draw_features(m, s["q"].shape[-1], generator(cfg.seed, "misc", 1000 * m + draw))
                approx = dual.approx_kernel(s["q"], s["k"], proj)
                approx_pattern = dual.normalise(approx)
                rows += [(source, m, draw, "kernel", rel_err(approx, kernel)),
                         (source, m, draw, "pattern", rel_err(approx_pattern, pattern)),
                         (source, m, draw, "output", rel_err(approx_pattern @ s["v"], pattern @ s["v"]))]
        log.info("kernel approximation: %s done", source)
    return pd.DataFrame(rows, columns=["source", "n_features", "draw", "quantity", "rel_error"])


def dual_tables(named: dict, cfg: LensConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    identity = pd.DataFrame(identity_rows(named, cfg), columns=["source", "n_features", "draw", "quantity", "rel_error"])
    steps = pd.DataFrame(gd_rows(named, cfg), columns=["source", "setting", "step", "rel_error"])
    return identity, steps


def token_pools(checkpoint: str, cfg: LensConfig) -> dict[str, dict[str, torch.Tensor]]:
    """Token distributions per head, (H, P, Dh) each: layer 0's scaled q, k and v of every token of
    many sequences (all positions pooled), and random tokens of the same shape."""
    model, run_cfg = load_model(checkpoint)
    with torch.no_grad():
        layer = layer_qkv(model, _sequences(run_cfg, cfg.gen_pool_sequences, cfg.seed + 1))[0]
    # (B, H, T, Dh) -> (H, B * T, Dh): tokens of all sequences and positions as one distribution
    trained = {key: layer[key].transpose(0, 1).flatten(1, 2) for key in ("q", "k", "v")}
    # Tokens only: their (P, P) attention pattern would be ~1 GB and is never used here.
    return {"trained layer 0": trained, "random tokens": random_qkv(tuple(trained["q"].shape), cfg.random_scale, cfg.seed + 1)}


def generalisation_tables(checkpoint: str, cfg: LensConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-draw errors and, per source and quantity, fits c / sqrt(N) and a N^-p to the mean error."""
    rows = [row for source, pool in token_pools(checkpoint, cfg).items() for row in generalisation_rows(source, pool, cfg)]
    table = pd.DataFrame(rows, columns=["source", "head", "n_tokens", "repeat", "quantity", "rel_error"])
    fits = []
    for (source, quantity), group in table.groupby(["source", "quantity"], sort=False):
        mean = group.groupby("n_tokens")["rel_error"].mean()
        c, a, p = dual.fit_inverse_sqrt(torch.tensor(mean.index.values), torch.tensor(mean.values))
        fits.append((source, quantity, c, a, p))
    return table, pd.DataFrame(fits, columns=["source", "quantity", "c_inverse_sqrt", "a_power", "p_power"])


def lens_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: a trained checkpoint -> kernel, dual identity, dual GD steps, generalisation and
    its fits (five CSVs, in that order)."""
    cfg = from_dict(LensConfig, params, "ren.lens")
    named = sources(inputs[0], cfg)
    tables = [kernel_table(named, cfg), *dual_tables(named, cfg), *generalisation_tables(inputs[0], cfg)]
    for table, out in zip(tables, outputs, strict=True):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
        log.info("wrote %s (%d rows)", out, len(table))


def variant_errors(checkpoint: str, cfg: VariantEvalConfig) -> pd.DataFrame:
    """Normalized error per k (mean and standard error over tasks) of one trained model."""
    return _errors_vs_k(*load_model(checkpoint), cfg.n_tasks, cfg.seed)


def _errors_vs_k(model, run_cfg, n_tasks: int, seed: int) -> pd.DataFrame:
    task = RegressionTask(run_cfg.task_config, seed)
    batch = task.sample(0, n_tasks, "eval")
    with torch.no_grad():
        err = normalized_error(predict(model, batch["xs"], batch["ys"]), batch["ys"], task.cfg.n_dims)  # (B, n)
    return pd.DataFrame({"kind": run_cfg.model.attention, "seed": run_cfg.train.seed, "k": range(err.shape[1]),
                         "normalized_error": err.mean(0).numpy(), "sem": (err.std(0) / n_tasks ** 0.5).numpy()})


def grid_errors(checkpoint: str, eval_cfg: VariantEvalConfig, grid: RenGridSettings) -> pd.DataFrame:
    """One grid model's normalized error per k on the validation tasks (which pick each kind's
    value) and on the test tasks (variants.eval's, as in errors.csv), labelled by its parameter."""
    model, run_cfg = load_model(checkpoint)
    kind = run_cfg.model.attention
    parameter = KIND_PARAMETERS.get(kind, ("",))[0]
    value = float(getattr(run_cfg.model, parameter)) if parameter else float("nan")
    frames = [_errors_vs_k(model, run_cfg, n_tasks, seed).assign(split=split, parameter=parameter, value=value)
              for split, seed, n_tasks in (("val", grid.val_seed, grid.n_val_tasks),
                                           ("test", eval_cfg.seed, eval_cfg.n_tasks))]
    return pd.concat(frames, ignore_index=True)[["kind", "parameter", "value", "seed", "split", "k", "normalized_error"]]


def grid_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: every regression variant at every grid value -> results/ren/variants/grid.csv."""
    eval_cfg = from_dict(VariantEvalConfig, params["eval"], "ren.variants.eval")
    grid = from_dict(RenGridSettings, params["grid"], "ren.grid")
    table = pd.concat([grid_errors(c, eval_cfg, grid) for c in inputs], ignore_index=True)
    Path(outputs[0]).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(outputs[0], index=False)
    log.info("wrote %s (%d rows)", outputs[0], len(table))


def training_curves(checkpoint: str) -> pd.DataFrame:
    """The run's train_metrics.csv (beside its model.pt), labelled by attention kind and seed."""
    model, run_cfg = load_model(checkpoint)
    curves = pd.read_csv(Path(checkpoint).parent / "train_metrics.csv")
    return curves.assign(kind=run_cfg.model.attention, seed=run_cfg.train.seed)


def corpus_variant_errors(checkpoint: str, cfg: CorpusEvalConfig) -> pd.DataFrame:
    """ICL error per k (mean and standard error over episodes) of one model trained on the corpus.

    Episodes are k-shot `ways`-way on training classes with labels assigned afresh per episode,
    so the label can only come from the context (chance error 1 - 1/ways).
    """
    model, run_cfg = load_model(checkpoint)
    task = ConceptsTask(run_cfg.task_config, run_cfg.train.seed)
    rows = []
    for k in cfg.ks:
        episodes = task.fewshot_prompts(generator(cfg.seed, "eval", k), cfg.n_prompts, k, cfg.ways, True)
        wrong = (episode_predictions(model, episodes, "cpu") != episodes["target"]).float()  # (B,)
        rows.append((run_cfg.model.attention, run_cfg.train.seed, k, wrong.mean().item(),
                     (wrong.std() / cfg.n_prompts ** 0.5).item()))
    return pd.DataFrame(rows, columns=["kind", "seed", "k", "icl_error", "sem"])


def _write_variant_tables(errors: pd.DataFrame, curves: pd.DataFrame, outputs: list[str]) -> None:
    for table, out in zip((errors, curves), outputs, strict=True):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
        log.info("wrote %s (%d rows)", out, len(table))


def variants_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: the variants' checkpoints -> errors-vs-k table and training-curve table."""
    cfg = from_dict(VariantEvalConfig, params, "ren.variants.eval")
    errors = pd.concat([variant_errors(c, cfg) for c in inputs], ignore_index=True)
    curves = pd.concat([training_curves(c) for c in inputs], ignore_index=True)
    _write_variant_tables(errors, curves, outputs)


def corpus_variants_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: the corpus variants' checkpoints -> ICL error-vs-k table and training curves."""
    cfg = from_dict(CorpusEvalConfig, params, "ren.corpus.eval")
    errors = pd.concat([corpus_variant_errors(c, cfg) for c in inputs], ignore_index=True)
    curves = pd.concat([training_curves(c) for c in inputs], ignore_index=True)
    _write_variant_tables(errors, curves, outputs)
