"""Shared figure style and saving: one look for every figure of the study."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402


def setup() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)


def save(fig: plt.Figure, outputs: list[str] | str) -> None:
    """Save one figure to every output path (the format follows each suffix: png, pdf, svg)."""
    for out in [outputs] if isinstance(outputs, str) else outputs:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=150, bbox_inches="tight")
    plt.close(fig)
