"""The shapes of the jobs a study declares, and the helpers its rule file uses.

A study's plan module (icl_study/studies/<study>_plan.py) declares its figures (`Figure`,
`<study>_figures()`) and, where a rule needs no wildcards, its analyses (`Analysis`,
`<study>_analyses()`) as data: workflow/rules/figures.smk and analyses.smk generate their rules.
A rule file, for jobs with wildcards, uses the helpers (`as_json`, `params_option`, `pattern`,
`lookup`, `caption`). Torch-free, at the plan's layer (icl_study/plan.py re-exports every name).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass

NO_MATCH = "(?!x)x"  # a wildcard pattern for an empty list: the rule then claims no file


def as_json(value) -> str:
    """A config slice as a canonical JSON string: the form rules pass to the package as params."""
    return json.dumps(value, sort_keys=True)


def params_option(params=None):
    """params.settings of an analysis rule (the template `rule analysis`, common.smk): the text
    after its inputs, " --params <the JSON, quoted as the shell's {x:q}>", or "" for none. `params`
    is a JSON string or a function of the wildcards only: Snakemake compares such a param with the
    one it recorded and reruns the job when it changed, while a params function that takes `input`
    counts as derived from the inputs and is never compared (a changed config value would not rerun)."""
    if params is None:
        return ""
    if callable(params):
        return lambda wildcards: f" --params {shlex.quote(params(wildcards))}"
    return f" --params {shlex.quote(params)}"


def figure_png(name: str) -> str:
    """A declared figure's png, as the ledger's `figure` column links it (its name is written once,
    beside its `Figure`: the claims import that constant)."""
    return f"results/figures/{name}.png"


def pattern(names) -> str:
    """A wildcard constraint matching exactly `names` (and nothing when there are none)."""
    return "|".join(re.escape(str(name)) for name in names) or NO_MATCH


def lookup(table: dict, wildcard: str = "run"):
    """An input function: `table[wildcards.<wildcard>]`."""
    return lambda wildcards: table[wildcards[wildcard]]


def caption(name: str) -> str:
    """A figure's report caption, rendered into the run's results/report/ by rule caption.

    Absolute, because Snakemake resolves a relative caption against the rule file's folder, while
    the rendered caption lives in the working directory (they differ under --directory)."""
    return os.path.abspath(f"results/report/{name}.rst")


@dataclass(frozen=True)
class Figure:
    """One figure rule, `fig_<name>` (workflow/rules/figures.smk generates it): its input `tables`
    (a list of paths, or {input name: path or paths}), its plotting `entry` under icl_study, its
    settings `params` (passed as JSON; none: "{}"), and what it draws: the figure `name`, or
    `draws`, {output name: figure}, for one rule drawing several. `rule all` asks for what it draws
    when `wanted` (an optional analysis: its rule exists, its config turns it on). `study` (its
    report category) is filled in by `Plan.figure_rules`. Figures read tables only: they run locally."""

    name: str
    tables: list | dict
    entry: str
    params: dict | None = None
    draws: dict | None = None
    wanted: bool = True
    study: str = ""
    # its report caption (a template: docs/definitions.md, placeholders), where the figure has no
    # file workflow/report/templates/<name>.rst
    caption: str = ""

    @property
    def inputs(self) -> list:
        return [] if isinstance(self.tables, dict) else list(self.tables)

    @property
    def named_inputs(self) -> dict:
        return dict(self.tables) if isinstance(self.tables, dict) else {}

    @property
    def settings(self) -> str:
        return "{}" if self.params is None else as_json(self.params)

    def outputs(self) -> dict[str, tuple[str, str | None]]:
        """{output name: (path, the figure its report entry shows; None for a pdf)}, png then pdf."""
        draws = self.draws or {"png": self.name}
        out = {}
        for key, figure in draws.items():
            out[key] = (figure_png(figure), figure)
            out["pdf" if key == "png" else f"{key}_pdf"] = (f"results/figures/{figure}.pdf", None)
        return out



@dataclass(frozen=True)
class Analysis:
    """One analysis rule without wildcards, `<name>` (workflow/rules/analyses.smk generates it, the
    same rule as `use rule analysis as <name> with:` in a rule file): its `inputs` (paths), its
    `outputs` (paths under results/<study>/), its rule entry under icl_study (`module:function`)
    and its settings `params` (passed as JSON; none: no --params), its SLURM runtime (minutes) and
    memory. `study` is filled in by `Plan.analysis_rules`; its log is logs/<study>/<name>.log and
    its benchmark results/benchmarks/<name>.tsv."""

    name: str
    inputs: list
    outputs: list
    entry: str
    params: dict | None = None
    runtime: int = 10
    mem_mb: int = 2000
    study: str = ""

    @property
    def settings(self) -> str:
        return params_option(None if self.params is None else as_json(self.params))

    @property
    def log(self) -> str:
        return f"logs/{self.study}/{self.name}.log"

    @property
    def benchmark(self) -> str:
        return f"results/benchmarks/{self.name}.tsv"
