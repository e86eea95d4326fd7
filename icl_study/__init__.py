"""icl_study: a reproducible study of in-context learning in transformers.

The package holds the model, tasks, training loop, baselines, metrics and each study's analyses;
the Snakemake workflow in workflow/ calls it through `python -m icl_study <command>`.
"""

__version__ = "0.1.0"
