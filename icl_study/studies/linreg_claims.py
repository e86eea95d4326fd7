"""Study 1's claims (Garg et al. 2022, Akyürek et al. 2022, von Oswald et al. 2023), measured on the
tables of linreg.py (errors), linreg_matching.py (sweep summary), linreg_probes.py (probes) and
linreg_gd.py (hand-built GD). Torch-free, unlike those modules: the ledger rule's inputs are
resolved when Snakemake parses the workflow.
"""

from __future__ import annotations

from dataclasses import replace

from icl_study.claims import NO_DATA, Claim, Measurement, interval_difference, over_seeds


# --- claims (Garg et al. 2022), measured on errors.csv ----------------------------------------------

ERRORS_TABLE = "linreg/errors.csv"


def linreg_claims(config: dict) -> list:
    """Garg et al.'s headline: a trained transformer learns linear functions in context better than
    one step of (tuned) gradient descent, on the first named run at the largest k."""

    run = next(iter(config["linreg"]["runs"]), None)
    if run is None:
        return []
    n_tasks = config["linreg"].get("eval", {}).get("n_tasks")

    def gd_minus_model(tables):
        frame = tables[ERRORS_TABLE]
        frame = frame[(frame["run"] == run) & (frame["metric"] == "normalized_error")]
        last = frame[frame["k"] == frame["k"].max()].set_index("predictor")
        if not {"model", "gd_1"} <= set(last.index):
            return NO_DATA
        interval = lambda p: tuple(float(last.loc[p, c]) for c in ("value", "ci_low", "ci_high"))  # noqa: E731
        return interval_difference(interval("gd_1"), interval("model"), n_examples=n_tasks, n_seeds=1)

    return [Claim(
        study="linreg", paper="Garg et al. 2022", claim_id="linreg.beats_gd1",
        claim="A transformer trained on linear functions learns them in context, better than one step of gradient descent.",
        measure=f"normalized error of one-step GD (lr tuned on held-out tasks) minus the transformer's, run {run}, at "
                "the largest k; interval from the two task-bootstrap 95% intervals (conservative)",
        direction="greater", figure="results/figures/linreg_error_vs_k.png", tables=(ERRORS_TABLE,),
        compute=gd_minus_model)]



# --- claims (Akyürek et al. 2022, von Oswald et al. 2023), measured on sweep_summary.csv ------------

SWEEP_TABLE = "linreg/sweep_summary.csv"


def _gap(tables: dict, deepest: bool):
    """log10 SPD(GD 1)/SPD(Bayes) of the deepest (or shallowest) cell at the lowest noise, over seeds."""

    frame = tables[SWEEP_TABLE]
    frame = frame[frame["noise_std"] == frame["noise_std"].min()]
    if frame.empty:
        return NO_DATA
    row = frame.loc[frame["n_layer"].idxmax() if deepest else frame["n_layer"].idxmin()]
    return Measurement(float(row["spd_gap_log10"]), float(row["spd_gap_low"]), float(row["spd_gap_high"]),
                       n_seeds=int(row["n_seeds"]))


def linreg_matching_claims(config: dict) -> list:
    """Which algorithm a trained model matches, from the sweep's lowest-noise column: the deepest
    model closer to the Bayes-optimal predictor than to one GD step, the shallowest the other way."""

    if not config["linreg"].get("sweep"):
        return []
    n_tasks = config["linreg"].get("matching", {}).get("n_tasks")
    gap = "log10 SPD(model, one-step GD) / SPD(model, Bayes-optimal: OLS at σ = 0, else ridge σ²/τ²), mean over k ≥ 1"
    figure = "results/figures/linreg_depth_noise.png"

    def measured(deepest):
        return lambda tables: replace(_gap(tables, deepest), n_examples=n_tasks)

    return [
        Claim(study="linreg", paper="Akyürek et al. 2022", claim_id="linreg.deep_matches_bayes",
              claim="Trained transformers implement the Bayes-optimal least-squares (ridge) predictor, not one step of GD.",
              measure=f"{gap}, deepest sweep cell at the lowest noise; t-interval over training seeds",
              direction="greater", figure=figure, tables=(SWEEP_TABLE,), compute=measured(True)),
        Claim(study="linreg", paper="von Oswald et al. 2023", claim_id="linreg.shallow_matches_gd",
              claim="A one-layer transformer trained on linear regression implements one step of gradient descent.",
              measure=f"{gap}, shallowest sweep cell at the lowest noise; t-interval over training seeds",
              direction="less", figure=figure, tables=(SWEEP_TABLE,), compute=measured(False)),
    ]



# --- claims (Akyürek et al. 2022), measured on the probe tables of the deepest noise-free cell ------


def _deepest_cell_runs(sweep: dict) -> list[str]:
    """Run names of the sweep's deepest cell at the lowest noise, every seed (as the plan names them)."""
    from icl_study.plan import sweep_runs

    cell = f"L{max(sweep['n_layer'])}_noise{min(sweep['noise_std']):g}"
    return [run for run in sweep_runs(sweep) if run.rsplit("_s", 1)[0] == cell]


def linreg_probes_claims(config: dict) -> list:
    """Akyürek et al.'s probing claim, made strict: the last layer at the query encodes the
    least-squares weights w_OLS beyond what the moment vector Xᵀy predicts (partial R², smallest k)."""

    sweep = config["linreg"].get("sweep")
    if not sweep:
        return []
    runs = _deepest_cell_runs(sweep)
    paths = tuple(f"linreg/{run}/probes.csv" for run in runs)
    n_test = config["linreg"].get("probe", {}).get("n_test")

    def partial_wols(tables):
        values = []
        for path in paths:
            frame = tables[path]
            frame = frame[(frame["model"] == "trained") & (frame["target"] == "w_ols")
                          & (frame["probe"] == "ridge, partial given the other target")]
            if frame.empty:
                continue
            frame = frame[(frame["layer"] == frame["layer"].max()) & (frame["k"] == frame["k"].min())]
            values.append(float(frame["r2"].iloc[0]))
        return over_seeds(values, n_examples=n_test)

    return [Claim(
        study="linreg", paper="Akyürek et al. 2022", claim_id="linreg.probe_wols",
        claim="The hidden states of a trained transformer encode the least-squares weights of its context.",
        measure=f"partial R² of w_OLS given Xᵀy, ridge probe on the last layer at the smallest probed k, cell "
                f"{runs[0]} (deepest, lowest noise); t-interval over training seeds",
        direction="greater", figure="results/figures/linreg_probes.png", tables=paths, compute=partial_wols)]



# --- claims (von Oswald et al. 2023), measured on the comparison's tables ---------------------------


def linreg_gd_claims(config: dict) -> list:
    """von Oswald et al.: the hand-built layer is one GD step (an identity of the construction), and
    a trained 1-layer linear self-attention matches it (sensitivity cosine ≥ 0.95, their criterion)."""

    if "gd" not in config["linreg"]:
        return []
    figure = "results/figures/linreg_gd.png"

    def exactness(tables):
        worst = float(tables["linreg/gd/exactness.csv"]["max_abs_diff"].max())
        return Measurement(worst, worst, worst)

    def cosine(tables):
        from icl_study.intervals import bootstrap_ci  # scipy: only when measuring, not when parsing

        values = tables["linreg/gd/predictions.csv"]["sensitivity_cosine"].to_numpy(float)
        mean, low, high = bootstrap_ci(values, n_boot=1000, seed=0)
        return Measurement(float(mean), float(low), float(high), n_examples=len(values), n_seeds=1)

    return [
        Claim(study="linreg", paper="von Oswald et al. 2023", claim_id="linreg.gd_construction",
              claim="A linear self-attention layer with constructed weights performs one step of gradient descent.",
              measure="largest |construction − GD| at the query in float64, over the 1-layer construction and "
                      "stacks of 1..max_steps GD layers",
              direction="identity", figure=figure, tables=("linreg/gd/exactness.csv",), compute=exactness),
        Claim(study="linreg", paper="von Oswald et al. 2023", claim_id="linreg.trained_lsa_is_gd",
              claim="A trained one-layer linear self-attention matches one step of GD at the optimal step size.",
              measure="cosine between the query sensitivities ∂ŷ/∂x_q of the trained LSA and of GD at η*, mean over "
                      "fresh tasks; task-bootstrap interval",
              direction="greater", threshold=0.95, figure=figure, tables=("linreg/gd/predictions.csv",),
              compute=cosine),
    ]


def claims(config: dict) -> list:
    """Every claim of study 1, in the order of its figures."""
    return linreg_claims(config) + linreg_matching_claims(config) + linreg_probes_claims(config) + linreg_gd_claims(config)
