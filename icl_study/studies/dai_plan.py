"""The ICL-as-finetuning study's part of the plan (torch-free, the plan's layer): the momentum runs,
and `DaiPlan`, its jobs' properties, mixed into `Plan`.
"""

from __future__ import annotations

from functools import cached_property

from icl_study.config import model_for_kind
from icl_study.plan import Figure, TrainingJob, as_json, make_run_config
from icl_study.studies.lm_plan import text_model_tasks

# its figures' names (results/figures/<name>.png and .pdf), written here only: the claims import them
DAI_TABLE_FIGURE = "dai_table"
DAI_LAYERS_FIGURE = "dai_layers"
DAI_DUAL_FIGURE = "dai_dual"
DAI_MOMENTUM_FIGURE = "dai_momentum"

DAI_VARIANTS = ["trained", "untrained"]
DAI_TABLES = ["examples", "layers", "dual"]


def dai_runs(section: dict) -> list[TrainingJob]:
    """Momentum comparison: one pipeline-gpt pretraining per attention kind and seed."""
    momentum = section["momentum"]
    model = {**momentum["model"], "momentum_eta": momentum["eta"]}
    return [TrainingJob("dai", f"momentum/{kind}_s{seed}",
                make_run_config("concepts", momentum["task"], model_for_kind(model, kind), {**momentum["train"], "seed": seed},
                           "dai.momentum.model"),
                runtime=20)
            for kind in ("softmax", "momentum") for seed in momentum["seeds"]]


class DaiPlan:
    """dai's jobs, per model x task x variant (trained | untrained copy): a mixin of `Plan`."""

    @cached_property
    def dai_text_jobs(self) -> dict[str, dict]:
        """{"{model}/{task}/{variant}": {"params": JSON, "input": files}} of the text-model jobs."""
        dai, lm = self.config["dai"], self.config["lm"]
        pairs = text_model_tasks(self.config, dai["text_tasks"], dai.get("model_tasks"))
        return {f"{m}/{t}/{v}": {"params": as_json({"spec": self.lm_models[m], "model_name": m, "task_name": t,
                                                    "task": lm["tasks"][t], "variant": v,
                                                    "untrained_seed": dai["untrained_seed"], "analysis": dai["text"]}),
                                 "input": self.lm_model_input(m, t)}
                for m, t in pairs for v in DAI_VARIANTS}

    @cached_property
    def dai_concepts_jobs(self) -> dict[str, str]:
        """{"{task}/{variant}": params} of pipeline-gpt's concept-task jobs."""
        dai = self.config["dai"]
        return {f"{t}/{v}": as_json({"task_name": t, "variant": v, "untrained_seed": dai["untrained_seed"],
                                     "analysis": dai["concepts"]})
                for t in dai["concepts_tasks"] for v in DAI_VARIANTS}

    @property
    def dai_tables(self) -> list[str]:
        jobs = list(self.dai_text_jobs) + [f"pipeline-gpt/{job}" for job in self.dai_concepts_jobs]
        return [f"results/dai/{job}/{name}.csv" for job in jobs for name in DAI_TABLES]

    def dai_figures(self) -> list[Figure]:
        """One rule draws the four figures from the summary and the momentum comparison."""
        tables = {"table": "results/dai/summary/table.csv", "curves": "results/dai/summary/layers.csv",
                  "dual": "results/dai/summary/dual.csv", "momentum": "results/dai/momentum/comparison.csv"}
        draws = {"table": DAI_TABLE_FIGURE, "layers": DAI_LAYERS_FIGURE, "dual": DAI_DUAL_FIGURE, "momentum": DAI_MOMENTUM_FIGURE}
        return [Figure("dai", tables, "plots.dai:figures_rule", draws=draws)]
