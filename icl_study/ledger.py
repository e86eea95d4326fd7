"""The claims ledger of a run: every study's claims, measured on the tables the run wrote.

`CLAIM_MODULES` lists one (config section, module) pair per study, from the registry of studies
(`icl_study.registry.STUDIES`, each `Study`'s `claims`). Each module has `claims(config) ->
list[Claim]` beside the study's code, in a torch-free `<study>_claims.py` next to the
torch-importing study module (or in the study module itself where that imports torch only inside
its functions, as transience.py does): Snakemake imports them when it parses the
workflow, to know the ledger rule's inputs, and a dry run must stay fast. icl_study/claims.py says
how a verdict is decided. A study whose config section is absent is skipped; a module leaves out
the claims whose tables its config does not produce (e.g. text-model claims when `lm.models` is
empty).

`python -m icl_study ledger:ledger_rule <tables ...> --params '{"config": ..., "results_dir": ...}'
--out results/claims.csv` is the rule's entry; `python -m icl_study ledger:main [results_dir
[configfile ...]]` prints the ledger of a finished run.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from icl_study.claims import COLUMNS, Claim, ledger_rows
from icl_study.registry import STUDIES as REGISTRY

# (config section, module under icl_study) of every study that declares claims, in ledger order:
# from the registry of studies (icl_study/registry.py).
CLAIM_MODULES: list[tuple[str, str]] = [(study.name, study.claims) for study in REGISTRY if study.claims]


def all_claims(config: dict) -> list[Claim]:
    """Every claim of every study the config enables, in registry order (claim ids unique)."""
    claims = []
    for section, module in CLAIM_MODULES:
        if section in config:
            claims += importlib.import_module(f"icl_study.{module}").claims(config)
    ids = [c.claim_id for c in claims]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"claim ids declared twice: {duplicates}")
    return claims


def claim_tables(claims: list[Claim]) -> list[str]:
    """The union of the claims' tables (paths under the results folder), sorted: the rule's inputs."""
    return sorted({path for claim in claims for path in claim.tables})


def build_ledger(results_dir: str | Path, config: dict, claims: list[Claim] | None = None):
    """One row per claim (columns `claims.COLUMNS`), every number computed from the CSV tables
    under `results_dir`. A missing table is an error: the ledger never drops a claim silently.
    Returns a pandas DataFrame (pandas imported here: parsing the workflow does not need it)."""
    import pandas as pd

    from icl_study.config import DataError
    from icl_study.tables import read_table

    claims = all_claims(config) if claims is None else claims
    # read_table refuses a truncated, empty, header-only or mistyped table with one line naming it
    tables = {path: read_table(Path(results_dir) / path) for path in claim_tables(claims)}
    rows = []
    for claim in claims:
        try:
            rows += ledger_rows([claim], tables)
        except (KeyError, IndexError) as err:  # a column or row the measure needs is not in its tables
            where = ", ".join(str(Path(results_dir) / t) for t in claim.tables)
            raise DataError(f"{where}: claim {claim.claim_id} needs {err!s} (not in the table: rerun the job "
                            f"that writes it)") from None
    ledger = pd.DataFrame(rows, columns=list(COLUMNS))
    return ledger.astype({"n_examples": "Int64", "n_seeds": "Int64"})  # counts, blank where not known


def ledger_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """Rule entry: the claims' tables (as inputs, so Snakemake orders the jobs) -> claims.csv.
    params: {"config": the workflow config, "results_dir": the folder the tables' paths start in}."""
    ledger = build_ledger(params.get("results_dir", "results"), params["config"])
    Path(outputs[0]).parent.mkdir(parents=True, exist_ok=True)
    ledger.to_csv(outputs[0], index=False)


def main(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """CLI entry: inputs [results_dir [configfile ...]] (default: results, config.yaml) -> the ledger
    as CSV on stdout, or into outputs[0]."""
    from icl_study.settings import load_config

    results_dir = inputs[0] if inputs else "results"
    config = load_config(inputs[1:] or ["config.yaml"])
    ledger = build_ledger(results_dir, config)
    if outputs:
        ledger.to_csv(outputs[0], index=False)
    else:
        ledger.to_csv(sys.stdout, index=False)
