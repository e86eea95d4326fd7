"""In-context linear regression on a finite pool of M task vectors (Raventós et al. 2023).

Training draws w from a fixed pool (RegressionTask with `pool_size` M), so a model can either learn
to regress in context (generalising: ridge) or memorise the pool (the discrete-pool posterior
mean, `baselines.discrete_mmse`). Carroll et al. 2025 report that generalisation to fresh tasks can
be transient here. The evaluators, logged during training:

- `pool_error` / `fresh_error`: normalized squared error (/ d) averaged over positions, on tasks
  from the pool and on fresh tasks w ~ N(0, tau^2 I);
- `fresh_to_ridge` / `fresh_to_dmmse` (and `pool_to_*`): mean squared distance (/ d) between the
  model's predictions and the ridge (lam = sigma^2 / tau^2) or dMMSE predictions;
- `{pool,fresh}_error_{ridge,dmmse}`: the two baselines' own errors (constant reference lines).
"""

from __future__ import annotations

import torch

from icl_study.baselines import discrete_mmse, ridge
from icl_study.config import ConfigError
from icl_study.rng import generator
from icl_study.tasks.configs import PoolRegressionTaskConfig
from icl_study.tasks.regression import RegressionTask, predict

# keys beyond RegressionTaskConfig's (eval_steps: set by the plan)
EXTRA_KEYS = {"eval_size": PoolRegressionTaskConfig.eval_size, "eval_steps": ()}


class PoolRegressionTask(RegressionTask):
    """RegressionTask with a finite pool, plus in-pool / fresh / baseline-distance evaluators."""

    def __init__(self, cfg: dict, seed: int):
        cfg = dict(cfg)
        extra = {key: cfg.pop(key, default) for key, default in EXTRA_KEYS.items()}
        super().__init__(cfg, seed)
        if self.pool is None or not self.cfg.noise_std > 0:
            raise ConfigError("task.pool_size and task.noise_std: both must be > 0 for pool_regression")
        self.eval_size = int(extra["eval_size"])
        self.eval_steps = tuple(extra["eval_steps"])
        # Fixed evaluation batches, never a training batch: stream "eval", step 0 (pool) and 1 (fresh).
        self.eval_batches = {"pool": self.sample(0, self.eval_size, "eval"),
                             "fresh": self.sample(1, self.eval_size, "eval", fresh_w=True)}
        lam = self.cfg.noise_std**2 / self.cfg.w_scale**2
        self.references = {kind: {"ridge": ridge(b["xs"], b["ys"], lam=lam),
                                  "dmmse": discrete_mmse(b["xs"], b["ys"], self.pool, self.cfg.noise_std)}
                           for kind, b in self.eval_batches.items()}

    def evaluate(self, predictor, device: torch.device | str = "cpu") -> dict[str, float]:
        """Errors and distances for `predictor(xs, ys) -> (B, n)` on the fixed evaluation batches."""
        d, out = self.cfg.n_dims, {}
        for kind, batch in self.eval_batches.items():
            pred = predictor(batch["xs"].to(device), batch["ys"].to(device)).cpu()  # (B, n)
            out[f"{kind}_error"] = ((pred - batch["ys"]) ** 2).mean().item() / d
            for name, ref in self.references[kind].items():
                out[f"{kind}_to_{name}"] = ((pred - ref) ** 2).mean().item() / d
        return out

    def reference_errors(self) -> dict[str, float]:
        """The baselines' own errors on the evaluation batches (constant; logged as reference lines)."""
        return {f"{kind}_error_{name}": ((ref - self.eval_batches[kind]["ys"]) ** 2).mean().item() / self.cfg.n_dims
                for kind, refs in self.references.items() for name, ref in refs.items()}

    def eval_metrics(self, model: torch.nn.Module, device: torch.device) -> dict[str, float]:
        return {**self.evaluate(lambda xs, ys: predict(model, xs, ys), device), **self.reference_errors()}


def pool_generator(seed: int) -> torch.Generator:
    """The generator RegressionTask uses for its pool (exposed for tests)."""
    return generator(seed, "pool")
