"""Column and metric names of the studies' tables, importable without torch.

The study modules write their tables with these names and the plots read them from here, so a
figure never imports a torch-heavy study module for a constant.
"""

# --- dai (studies/dai.py): examples, layers, dual tables and their summaries ---------------------
DAI_KEYS = ["model", "task", "variant", "demo_seed", "example"]
DAI_LAYER_METRICS = ["simaou", "simaou_random", "simam_ft", "simam_zs", "kendall_token", "kendall_token_random",
                     "kendall_example", "kendall_example_random"]
DAI_DUAL_METRICS = ["relaxed_rel_error", "relaxed_cosine", "exact_max_abs_error", "exact_output_max_abs"]
DAI_CI_COLUMNS = ["mean", "low", "high", "n_examples", "n_demo_sets"]

# --- lenses (studies/lenses.py) ------------------------------------------------------------------
LENS_COLUMNS = ["family", "step", "lens", "metric", "value", "ci_low", "ci_high", "n_seeds"]  # table.csv: pooled over seeds
LENS_MEMBER_COLUMNS = ["family", "member", "step", "lens", "metric", "value", "ci_low", "ci_high"]  # members.csv: per seed
LENSES = ("evaluators", "spd", "probe", "dai", "dual", "order")
LENS_REGRESSION_ONLY = ("spd", "probe")
LENS_ICL_METRIC = {"bursty": "icl", "regression": "fresh_error"}  # the evaluators lens's ICL curve per family
LENS_ICL_HIGHER_IS_BETTER = {"bursty": True, "regression": False}

# --- shen (studies/shen.py) ----------------------------------------------------------------------
SHEN_LM_COLUMNS = ["model", "task", "n_demos", "demo_seed", "example", "setting", "comparison", "metric", "value"]
# `example`: the test query (text: its index in the evaluation subset, the same for every demo seed;
# concepts: the episode); -1 on rows that summarise a whole demonstration set (picked lr, order spread, GD loss)
PERTURB_COLUMNS = ["model", "scale", "draw", "metric", "value", "delta"]  # + "kind" (constructed, trained, pretrained LM)
