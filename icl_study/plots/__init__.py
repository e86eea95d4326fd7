"""Figures drawn from tidy tables only (no torch import), one module per study."""
