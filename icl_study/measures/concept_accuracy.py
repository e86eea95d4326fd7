"""ICL accuracy of pipeline-gpt on its concept tasks vs k, beside the Bayes-optimal predictor's
(the lm study's concept evaluator, reused by Dai's momentum comparison)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd
import torch

from icl_study.checkpoint import load_model
from icl_study.config import from_dict
from icl_study.rng import generator
from icl_study.tasks.concepts import ConceptsTask, episode_predictions

log = logging.getLogger("icl_study.lm")


ACCURACY_COLUMNS = ["model", "task", "predictor", "k", "demo_seed", "accuracy", "n_examples", "chance"]


@dataclass(frozen=True)
class ConceptsEvalConfig:
    ks: tuple[int, ...] = (0, 1, 2, 4, 8, 16)
    demo_seeds: tuple[int, ...] = (0, 1, 2)  # one batch of episodes per seed
    n_prompts: int = 512  # episodes per (task, k, seed)
    ways: int = 2  # candidate labels per episode


def concept_accuracy_table(checkpoint: str, params: dict) -> pd.DataFrame:
    """Accuracy rows of pipeline-gpt and of the Bayes-optimal predictor on the concept tasks."""
    cfg = from_dict(ConceptsEvalConfig, params, "lm.pipeline_gpt.eval")
    model, run_cfg = load_model(checkpoint)
    task = ConceptsTask(run_cfg.task_config, run_cfg.train.seed)
    rows = []
    for name, fresh in (("concepts-fresh", True), ("concepts-iwl", False)):
        for k in cfg.ks:
            for seed in cfg.demo_seeds:
                episodes = task.fewshot_prompts(generator(seed, "demo", k), cfg.n_prompts, k, cfg.ways, fresh)
                with torch.no_grad():
                    correct = episode_predictions(model, episodes, "cpu") == episodes["target"]
                for predictor, acc in (("model", correct.float().mean()), ("bayes", episodes["bayes"].mean())):
                    rows.append(("pipeline-gpt", name, predictor, k, seed, acc.item(), cfg.n_prompts, 1 / cfg.ways))
            log.info("%s k=%d: accuracy %.3f (last seed)", name, k, rows[-2][5])
    return pd.DataFrame(rows, columns=ACCURACY_COLUMNS)
