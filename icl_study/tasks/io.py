"""What each task needs of the model: input and output widths, vocabulary and sequence length.

Torch-free, so the plan (icl_study/plan.py) fills these model keys from the task when it builds a
run, and no derived number is typed into a config file. Each task class's `model_io()` returns
the same for its own config."""

from __future__ import annotations

DERIVED_KEYS = ("n_dims_in", "n_dims_out", "vocab_size", "n_positions")


def model_io(task: str, task_config: dict) -> dict[str, int]:
    """{n_dims_in, n_dims_out, vocab_size, n_positions} of a model for `task` with `task_config`."""
    c = task_config
    if task in ("regression", "pool_regression"):  # x and y tokens, d wide (y in the first coordinate)
        return {"n_dims_in": c["n_dims"], "n_dims_out": 1, "vocab_size": 0, "n_positions": 2 * c["n_points"]}
    if task == "regression_pairs":  # one (x, y) token per pair, d + 1 wide
        return {"n_dims_in": c["n_dims"] + 1, "n_dims_out": 1, "vocab_size": 0, "n_positions": c["n_points"]}
    if task == "bursty":  # [exemplar, 0] and [0, one-hot label] tokens; label logits at the query
        return {"n_dims_in": c["emb_dim"] + c["n_labels"], "n_dims_out": c["n_labels"], "vocab_size": 0,
                "n_positions": 2 * c["context_len"] + 1}
    if task == "concepts":  # class and label token ids: (class, label) pairs and the query's pair
        return {"n_dims_in": 0, "n_dims_out": 1, "vocab_size": c["n_classes"] + c["n_labels"],
                "n_positions": 2 * (c["context_len"] + 1)}
    raise ValueError(f"model_io: unknown task {task!r}")
