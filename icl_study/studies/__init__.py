"""One module per study: analyses that read checkpoints and write tidy tables."""
