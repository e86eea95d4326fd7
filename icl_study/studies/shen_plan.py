"""The ICL-vs-GD study's part of the plan (torch-free, the plan's layer): `ShenPlan`, its jobs'
properties (every text model on each of shen.tasks, plus pipeline-gpt on its concept episodes),
mixed into `Plan`.
"""

from __future__ import annotations

from icl_study.config import deep_merge
from icl_study.plan import Figure, as_json
from icl_study.studies.lm_plan import text_model_tasks

# its figures' names (results/figures/<name>.png and .pdf), written here only: the claims import them
SHEN_ORDER_FIGURE = "shen_order"
SHEN_PERTURBATION_FIGURE = "shen_perturbation"
SHEN_ICL_VS_GD_FIGURE = "shen_icl_vs_gd"


class ShenPlan:
    """shen's jobs: a mixin of `Plan`."""

    @property
    def shen_lms(self) -> list[tuple[str, str]]:
        shen = self.config["shen"]
        return text_model_tasks(self.config, shen["tasks"], shen.get("model_tasks")) + [("pipeline-gpt", "concepts")]

    @property
    def shen_linreg_inputs(self) -> list[str]:
        return ["results/linreg/gd/lsa/model.pt"] + [f"results/linreg/{run}/model.pt"
                                                     for run in self.config["shen"]["linreg_runs"]]

    def shen_lm_tables(self, name: str) -> list[str]:
        """Every LM's table `name` (an N-file per demonstration count for `N`)."""
        if name == "N":
            return [f"results/shen/lm/{m}/{t}/N{n}.csv" for m, t in self.shen_lms for n in self.config["shen"]["lm"]["ns"]]
        return [f"results/shen/lm/{m}/{t}/{name}.csv" for m, t in self.shen_lms]

    def shen_model_input(self, model: str, task: str) -> list[str]:
        """pipeline-gpt's checkpoint, or the text model's input (the SmolLM2 directory; none for hf:)."""
        return ["results/lm/pipeline-gpt/model.pt"] if model == "pipeline-gpt" else self.lm_model_input(model, task)

    def shen_lm_params(self, model: str, task: str, n: str | None = None) -> str:
        """One LM job's params: the model, its task and eval split (text), and shen.lm (with
        shen.pipeline_gpt's overrides for pipeline-gpt); N from the {n} wildcard when there is one."""
        shen, lm = self.config["shen"], self.config["lm"]
        extra = {"n_demos": int(n)} if n is not None else {}
        if model == "pipeline-gpt":
            return as_json({"spec": "pipeline-gpt", "model_name": "pipeline-gpt", "task_name": "concepts",
                            "shen": deep_merge(shen["lm"], shen["pipeline_gpt"]), **extra})
        split = {key: lm["eval"][key] for key in ("n_eval", "n_val", "eval_seed")}
        return as_json({"spec": self.lm_models[model], "model_name": model, "task_name": task,
                        "task": lm["tasks"][task], "eval": split, "shen": shen["lm"], **extra})

    def shen_figures(self) -> list[Figure]:
        return [
            Figure(SHEN_ORDER_FIGURE, {"regression": "results/shen/regression/order.csv", "lm": "results/shen/lm.csv"},
                   "plots.shen:order_rule"),
            Figure(SHEN_PERTURBATION_FIGURE, ["results/shen/perturbation.csv"], "plots.shen:perturbation_rule"),
            Figure(SHEN_ICL_VS_GD_FIGURE, ["results/shen/lm.csv"], "plots.shen:icl_vs_gd_rule"),
        ]
