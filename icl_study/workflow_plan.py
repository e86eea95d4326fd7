"""The plan as the workflow's rules read it: `Plan` plus the inputs and params of the claims
ledger, the report captions and the docs pages, which come from the studies' claims and the
templates. Kept apart from plan.py so that the plan sits below the checks, the ledger and the
docs renderer and imports none of them (tests/unit/test_layers.py); this module sits above all
three. Torch-free: Snakemake builds it on every parse of the workflow.
"""

from __future__ import annotations

from pathlib import Path

from icl_study import docs, ledger
from icl_study.plan import Plan, as_json


class WorkflowPlan(Plan):
    """`Plan(config, root)` with the ledger's tables and the captions' and docs pages' inputs."""

    @property
    def claim_tables(self) -> list[str]:
        return [f"results/{path}" for path in ledger.claim_tables(ledger.all_claims(self.config))]

    # report captions and docs pages, rendered from the tables by icl_study/docs.py: `rule all` asks
    # for the caption of every figure it builds; `snakemake docs` (not in `all`) renders the pages

    def caption_template(self, name: str) -> Path:
        return self.root / docs.CAPTION_TEMPLATES / f"{name}.rst"

    def caption_text(self, name: str) -> str | None:
        """A figure's caption template: its file workflow/report/templates/<name>.rst, else the
        `caption` its study's `Figure` declares; None when it has neither."""
        if self.caption_template(name).is_file():
            return self.caption_template(name).read_text()
        return next((rule.caption for rule in self.figure_rules if rule.name == name and rule.caption), None)

    def caption_tables(self, name: str) -> list[str]:
        """The tables a caption quotes (the caption rule's inputs)."""
        return [f"results/{table}" for table in docs.tables_of(self.caption_text(name))]

    def caption_params(self, name: str) -> str:
        """The caption's template text and the config values it quotes, so it rerenders when either
        changes, and not when the checkout moves (no absolute path among its inputs or params)."""
        template = self.caption_text(name)
        keys = docs.config_keys_of(template)
        return as_json({"config": docs.config_subset(self.config, keys), "template": template})

    @property
    def captions(self) -> list[str]:
        """The rendered captions of the figures `rule all` builds (those with a template)."""
        names = [Path(path).stem for path in self.all_targets if path.startswith("results/figures/")
                 and path.endswith(".png")]
        return [f"results/report/{name}.rst" for name in names if self.caption_text(name) is not None]

    @property
    def docs_inputs(self) -> list[str]:
        """Everything the study pages quote or show, and the ledger."""
        paths = ["results/claims.csv", "results/environment.json"]
        for template in sorted((self.root / docs.STUDY_TEMPLATES).glob("*.md")):
            text = template.read_text()
            paths += [f"results/{table}" for table in docs.tables_of(text)]
            paths += [f"results/figures/{name}.png" for name in docs.figures_of(text)]
        return sorted(set(paths))

    @property
    def docs_params(self) -> str:
        """The docs rule's params: the repository and every config value a template quotes."""
        keys = sorted({key for template in docs.all_templates(self.root) for key in docs.config_keys_of(template.read_text())})
        return as_json({"root": str(self.root), "config": docs.config_subset(self.config, keys)})

    def check_report_inputs(self, argv: list[str]) -> None:
        """`snakemake --report` shows a finished run: before one, say so in one line (Snakemake's own
        error names one missing file, not what to do). `argv`: the command line."""
        if not any(arg == "--report" or arg.startswith("--report=") for arg in argv):
            return
        wanted = list(self.all_targets) + list(self.captions)
        missing = [path for path in wanted if not Path(path).exists()]
        if missing:
            raise SystemExit(f"icl_study: --report shows a finished run, but {len(missing)} of its {len(wanted)} "
                             f"files are missing (first: {missing[0]}): run the workflow first (snakemake --cores 2, "
                             f"with the same --configfile), then make the report")
