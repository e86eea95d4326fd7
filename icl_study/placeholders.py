"""The template language of the docs (icl_study/docs.py): placeholders filled from a run's tables.

A template (Markdown or reStructuredText) holds placeholders `{{ ... }}` of three kinds:

    {{ linreg/errors.csv | run=main, predictor=model, k=8 | value | .3f }}
        table (relative to results/) | filters | column | format spec (optional, default .3g)
    {{ linreg/errors.csv | run=main, predictor=model | min(value) }}
        the column part may aggregate the matching rows: min, max, mean, count (count() takes no column)
    {{ dai/summary/table.csv? | model=smollm2-135m, metric=acc_icl | mean(mean) }}
        a trailing ? marks a table or rows that a tier may lack (a model it does not run): n/a then
    {{ config | linreg.task.n_dims }}
        a setup value of the tier that ran (dotted key into the merged config)
    {{ figure | linreg_error_vs_k }}
        a study page's figure: a Markdown image of docs/figures/<name>.png, copied from results/figures

A filter value is compared as a number when the column is numeric, as text otherwise. A value
placeholder must select exactly one row unless it aggregates: an ambiguous or empty selection
stops rendering with the placeholder in the message, so a renamed column cannot go unnoticed.

icl_study/docs.py renders the README's ledger, the study pages and the report captions with it.
Torch-free.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from icl_study.tables import read_table

# pandas is imported inside the functions that use it: the workflow imports this module when it
# parses (also `snakemake -n`), and pandas would cost most of a dry run's CPU time.
if TYPE_CHECKING:
    import pandas as pd

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
AGGREGATES = ("min", "max", "mean", "count")


class RenderError(ValueError):
    """A placeholder that cannot be filled: unknown table, column or key, or not exactly one row."""


@dataclass(frozen=True)
class Placeholder:
    text: str             # as written, for error messages
    source: str           # a table path under results/, "config" or "figure"
    optional: bool        # "table.csv?": n/a where the tier lacks the table or the rows
    filters: tuple        # ((column, value as written), ...)
    column: str           # the column, the config key or the figure name
    aggregate: str | None
    fmt: str


def parse(text: str) -> Placeholder:
    """One placeholder's inside (without the braces)."""
    parts = [p.strip() for p in text.split("|")]
    source = parts[0]
    if source in ("config", "figure"):
        if len(parts) not in (2, 3):
            raise RenderError(f"{{{{{text}}}}}: expected '{source} | name [| format]'")
        return Placeholder(text, source, False, (), parts[1], None, parts[2] if len(parts) == 3 else "")
    optional = source.endswith("?")
    source = source.rstrip("?")
    if not source.endswith(".csv") or len(parts) not in (2, 3, 4):
        raise RenderError(f"{{{{{text}}}}}: expected 'table.csv | [filters |] column [| format]'")
    rest = parts[1:]
    filters: tuple = ()
    if len(rest) >= 2 and "=" in rest[0]:
        filters = tuple(tuple(s.strip() for s in f.split("=", 1)) for f in rest[0].split(",") if f.strip())
        rest = rest[1:]
    column, fmt = rest[0], rest[1] if len(rest) == 2 else ".3g"
    aggregate = None
    match = re.fullmatch(r"(\w+)\((\w*)\)", column)
    if match:
        aggregate, column = match.groups()
        if aggregate not in AGGREGATES:
            raise RenderError(f"{{{{{text}}}}}: unknown aggregate {aggregate!r} (one of {AGGREGATES})")
    return Placeholder(text, source, optional, filters, column, aggregate, fmt)


def placeholders(template: str) -> list[Placeholder]:
    return [parse(m.group(1)) for m in PLACEHOLDER.finditer(template)]


def tables_of(template: str) -> list[str]:
    """The tables a template reads, relative to results/ (a rule's inputs)."""
    return sorted({p.source for p in placeholders(template) if p.source not in ("config", "figure")})


def figures_of(template: str) -> list[str]:
    return sorted({p.column for p in placeholders(template) if p.source == "figure"})


def config_keys_of(template: str) -> list[str]:
    return sorted({p.column for p in placeholders(template) if p.source == "config"})


def config_value(config: dict, key: str):
    value = config
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise RenderError(f"config has no key {key!r}")
        value = value[part]
    return value


def config_subset(config: dict, keys: list[str]) -> dict:
    """{dotted key: value}: what a rule passes as params, so it reruns when one of them changes."""
    return {key: config_value(config, key) for key in keys}


def fmt(value, spec: str) -> str:
    """A cell as text: NaN as n/a, whole floats formatted as integers when the spec asks for d."""
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v, spec) for v in value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if not spec:
        return str(value)
    if spec.endswith("d") and isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def select(table: pd.DataFrame, p: Placeholder) -> pd.DataFrame:
    import pandas as pd

    rows = table
    for column, wanted in p.filters:
        if column not in rows.columns:
            raise RenderError(f"{{{{{p.text}}}}}: {p.source} has no column {column!r}")
        values = rows[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            rows = rows[values == float(wanted)]
        else:
            rows = rows[values.astype(str) == wanted]
    return rows


def value_of(p: Placeholder, results: Path, config: dict, cache: dict) -> str:

    if p.source == "config":
        return fmt(config_value(config, p.column), p.fmt)
    if p.source == "figure":
        return f"![{p.column}](../figures/{p.column}.png)"
    if p.source not in cache:
        path = results / p.source
        if not path.is_file():
            if p.optional:
                return "n/a"
            raise RenderError(f"{{{{{p.text}}}}}: table {path} not found")
        cache[p.source] = read_table(path)  # a cut-short, empty or mistyped table: one line naming it
    rows = select(cache[p.source], p)
    if p.aggregate == "count":
        return fmt(len(rows), p.fmt if p.fmt != ".3g" else "d")
    if p.column not in rows.columns:
        raise RenderError(f"{{{{{p.text}}}}}: {p.source} has no column {p.column!r}")
    if len(rows) == 0:
        if p.optional:
            return "n/a"
        raise RenderError(f"{{{{{p.text}}}}}: no row of {p.source} matches")
    if p.aggregate:
        return fmt(float(getattr(rows[p.column], p.aggregate)()), p.fmt)
    if len(rows) > 1:
        raise RenderError(f"{{{{{p.text}}}}}: {len(rows)} rows of {p.source} match; add a filter or aggregate")
    value = rows[p.column].iloc[0]
    return fmt(value.item() if hasattr(value, "item") else value, p.fmt)


def render(template: str, results: Path | str, config: dict) -> str:
    """The template with every placeholder filled from the tables under `results` and `config`."""
    cache: dict = {}
    results = Path(results)
    return PLACEHOLDER.sub(lambda m: value_of(parse(m.group(1)), results, config, cache), template)
