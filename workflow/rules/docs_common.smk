"""Helpers of the docs rules (docs.smk), included before the study rule files, which name their
captions with caption(). Docs are rendered from the tables (icl_study/docs.py), so no result
number is typed by hand.

- The caption rule: a figure's report caption, workflow/report/templates/<figure>.rst rendered into
  results/report/<figure>.rst from the tables it quotes. `rule all` asks for the caption of every
  figure it builds, so `snakemake --report` finds them after a run.
- `snakemake docs` (not part of `all`), after a finished run, rewrites the ledger table of
  README.md and docs/claims_default.csv from results/claims.csv, renders docs/studies/<study>.md
  from docs/templates/studies/ and copies the figures they show into docs/figures/. It writes into
  the repository, so run it from the repository root after a default-tier run before committing.
"""

import os

from icl_study import docs as docs_render

DOCS_ROOT = Path(workflow.basedir)
CAPTION_TEMPLATES = DOCS_ROOT / docs_render.CAPTION_TEMPLATES


def caption(name):
    """A figure rule's report caption: rendered into the run's results/report/ by rule caption.

    Absolute, because Snakemake resolves a relative caption against the rule file's folder, while
    the rendered caption lives in the working directory (they differ under --directory)."""
    return os.path.abspath(f"results/report/{name}.rst")


def caption_template(name):
    return (CAPTION_TEMPLATES / f"{name}.rst").read_text()


def caption_tables(wildcards):
    """The tables a caption quotes (the caption rule's inputs)."""
    return [f"results/{table}" for table in docs_render.tables_of(caption_template(wildcards.name))]


def caption_params(wildcards):
    """The config values a caption quotes, so it rerenders when one of them changes."""
    keys = docs_render.config_keys_of(caption_template(wildcards.name))
    return as_json({"config": docs_render.config_subset(config, keys)})


def captions_for(*targets):
    """The rendered captions of the figures among `targets` (nested lists of paths)."""
    paths = []
    for target in targets:
        if isinstance(target, (list, tuple)):
            paths += captions_for(*target)
        elif str(target).startswith("results/figures/") and str(target).endswith(".png"):
            name = Path(target).stem
            if (CAPTION_TEMPLATES / f"{name}.rst").is_file():
                paths.append(f"results/report/{name}.rst")
    return paths


def docs_inputs():
    """Everything the study pages quote or show, and the ledger."""
    paths = ["results/claims.csv"]
    for template in sorted((DOCS_ROOT / docs_render.STUDY_TEMPLATES).glob("*.md")):
        text = template.read_text()
        paths += [f"results/{table}" for table in docs_render.tables_of(text)]
        paths += [f"results/figures/{name}.png" for name in docs_render.figures_of(text)]
    return sorted(set(paths))


def docs_config_keys():
    keys = []
    for template in docs_render.all_templates(DOCS_ROOT):
        keys += docs_render.config_keys_of(template.read_text())
    return sorted(set(keys))
