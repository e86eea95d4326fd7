"""Study 1's claims (Garg et al. 2022, Akyürek et al. 2022, von Oswald et al. 2023), measured on the
tables of linreg.py (errors), linreg_matching.py (sweep summary), linreg_probes.py (probes) and
linreg_gd.py (hand-built GD). Torch-free, unlike those modules: the ledger rule's inputs are
resolved when Snakemake parses the workflow.
"""

from __future__ import annotations

from dataclasses import replace

from icl_study.claims import NO_DATA, Claim, Gate, Measurement, over_seeds
from icl_study.jobs import figure_png
from icl_study.studies.linreg_plan import (LINREG_ERROR_VS_K_FIGURE, LINREG_DEPTH_NOISE_FIGURE,
                                           LINREG_PROBES_FIGURE, LINREG_GD_FIGURE)


# --- claims (Garg et al. 2022), measured on errors.csv ----------------------------------------------

ERRORS_TABLE = "linreg/errors.csv"


def linreg_claims(config: dict) -> list:
    """Garg et al.'s headline: a trained transformer learns linear functions in context better than
    one step of (tuned) gradient descent, on the first named run at the largest k. Named runs
    "<first>_s<seed>" (the same run at other training seeds, e.g. configs/effects.yaml) are its
    seeds: with them the interval is over seeds, else the task bootstrap of the one run."""

    run = next(iter(config["linreg"]["runs"]), None)
    if run is None:
        return []
    seeds = [run] + [name for name in config["linreg"]["runs"] if name.startswith(f"{run}_s")]
    n_tasks = config["linreg"].get("eval", {}).get("n_tasks")

    def gd_minus_model(tables):
        frame = tables[ERRORS_TABLE]
        frame = frame[frame["run"].isin(seeds) & (frame["metric"] == "minus_model") & (frame["predictor"] == "gd_1")]
        if frame.empty:
            return NO_DATA
        last = frame[frame["k"] == frame["k"].max()].set_index("run")
        if len(seeds) > 1:
            return over_seeds(last.reindex(seeds)["value"].dropna().to_numpy(dtype=float), n_examples=n_tasks)
        last = last.iloc[0]
        return Measurement(float(last["value"]), float(last["ci_low"]), float(last["ci_high"]),
                           n_examples=n_tasks, n_seeds=1)  # one named run: one training seed

    return [Claim(
        study="linreg", paper="Garg et al. 2022", claim_id="linreg.beats_gd1",
        claim="A transformer trained on linear functions learns them in context, better than one step of gradient descent.",
        measure=f"normalized error of one-step GD (lr tuned on held-out tasks) minus the transformer's on the same "
                f"tasks, run {run}, at the largest k; " + (f"mean and t-interval over the seeds {', '.join(seeds)}"
                if len(seeds) > 1 else "task-bootstrap interval of the per-task difference (paired)"),
        direction="greater", figure=figure_png(LINREG_ERROR_VS_K_FIGURE), tables=(ERRORS_TABLE,),
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


def mean_spd(table) -> dict[str, float]:
    """{predictor: SPD to the model averaged over k >= 1} of one run's matching table (as the sweep
    summary averages it)."""
    rows = table[(table["metric"] == "spd") & (table["k"] >= 1)]
    return rows.groupby("predictor")["value"].mean().to_dict()


def candidates(matching: dict, noise_std: float) -> list[str]:
    """Ids of the matching study's reference predictors other than one-step GD (the ids
    measures/spd.py's reference_predictors and linreg_matching.matching_predictors give them)."""
    from icl_study.settings.linreg import MatchingConfig
    from icl_study.config import from_dict

    cfg = from_dict(MatchingConfig, matching, "linreg.matching")
    ids = ["zero", "least_squares", "averaging", f"knn_{cfg.knn_k}", *(f"ridge_{lam:g}" for lam in cfg.ridge_lambdas),
           *(f"gd_{steps}" for steps in cfg.gd_steps)] + (["ridge_bayes"] if noise_std > 0 else [])
    return [i for i in ids if i != "gd_1"]


def spd_minus(paths: tuple[str, ...], closer: str, other: str, n_tasks):
    """SPD(model, `closer`) − SPD(model, `other`), mean over k >= 1, paired by training seed (each
    seed's model against both predictors on the same tasks); t-interval over seeds. Below 0: the
    model is closer to `closer` than to `other`."""

    def compute(tables):
        diffs = []
        for path in paths:
            spds = mean_spd(tables[path])
            if closer in spds and other in spds:
                diffs.append(spds[closer] - spds[other])
        return over_seeds(diffs, n_examples=n_tasks)

    return compute


def _cell_runs(sweep: dict, deepest: bool) -> list[str]:
    """Run names of the sweep's deepest (or shallowest) cell at the lowest noise, every seed (as the
    plan names them)."""
    from icl_study.studies.linreg_plan import sweep_runs

    depth = max(sweep["n_layer"]) if deepest else min(sweep["n_layer"])
    cell = f"L{depth}_noise{min(sweep['noise_std']):g}"
    return [run for run in sweep_runs(sweep) if run.rsplit("_s", 1)[0] == cell]


def linreg_matching_claims(config: dict) -> list:
    """Which algorithm a trained model matches, from the sweep's lowest-noise column: the deepest
    model closer to the Bayes-optimal predictor than to one GD step, the shallowest the other way.
    The shallow claim is gated on one GD step being the closest candidate: a model nearer the zero
    predictor (or any other reference) than one GD step does not implement GD, whatever the gap; the
    deep claim on the Bayes-optimal predictor beating the zero predictor."""

    sweep = config["linreg"].get("sweep")
    if not sweep:
        return []
    matching = config["linreg"].get("matching", {})
    n_tasks = matching.get("n_tasks")
    gap = "log10 SPD(model, one-step GD) / SPD(model, Bayes-optimal: OLS at σ = 0, else ridge σ²/τ²), mean over k ≥ 1"
    figure = figure_png(LINREG_DEPTH_NOISE_FIGURE)
    lowest = min(sweep["noise_std"])
    deep, shallow = (tuple(f"linreg/{run}/matching.csv" for run in _cell_runs(sweep, deepest)) for deepest in (True, False))
    bayes = "least_squares" if lowest == 0 else "ridge_bayes"  # linreg_matching.bayes_predictor_id
    deep_gates = (Gate(f"closer to the Bayes-optimal {bayes} than to zero: SPD({bayes}) − SPD(zero) < 0, t over seeds",
                       spd_minus(deep, bayes, "zero", n_tasks), direction="less"),)
    shallow_gates = tuple(Gate(f"closer to one GD step than to {other}: SPD(GD 1) − SPD({other}) < 0, t over seeds",
                               spd_minus(shallow, "gd_1", other, n_tasks), direction="less")
                          for other in candidates(matching, lowest))

    def measured(deepest):
        return lambda tables: replace(_gap(tables, deepest), n_examples=n_tasks)

    return [
        Claim(study="linreg", paper="Akyürek et al. 2022", claim_id="linreg.deep_matches_bayes",
              claim="Trained transformers implement the Bayes-optimal least-squares (ridge) predictor, not one step of GD.",
              measure=f"{gap}, deepest sweep cell at the lowest noise; paired by seed, t-interval over training seeds",
              direction="greater", figure=figure, tables=(SWEEP_TABLE, *deep), compute=measured(True),
              gates=deep_gates),
        Claim(study="linreg", paper="von Oswald et al. 2023", claim_id="linreg.shallow_matches_gd",
              claim="A one-layer transformer trained on linear regression implements one step of gradient descent.",
              measure=f"{gap}, shallowest sweep cell at the lowest noise; paired by seed, t-interval over training seeds",
              direction="less", figure=figure, tables=(SWEEP_TABLE, *shallow), compute=measured(False),
              gates=shallow_gates),
    ]


# --- claims (Akyürek et al. 2022), measured on the probe tables of the deepest noise-free cell ------


def linreg_probes_claims(config: dict) -> list:
    """Akyürek et al.'s probing claim, made strict: the last layer at the query encodes the
    least-squares weights w_OLS beyond what the moment vector Xᵀy predicts (partial R², smallest k)."""

    sweep = config["linreg"].get("sweep")
    if not sweep:
        return []
    runs = _cell_runs(sweep, deepest=True)
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
        direction="greater", figure=figure_png(LINREG_PROBES_FIGURE), tables=paths, compute=partial_wols)]


# --- claims (von Oswald et al. 2023), measured on the comparison's tables ---------------------------


def linreg_gd_claims(config: dict) -> list:
    """von Oswald et al.: the hand-built layer is one GD step (an identity of the construction), and
    a trained 1-layer linear self-attention matches it (sensitivity cosine ≥ 0.95, their criterion)."""

    if "gd" not in config["linreg"]:
        return []
    figure = figure_png(LINREG_GD_FIGURE)

    def exactness(tables):
        # An identity: its value only; a [x, x] interval would pose as a measurement.
        worst = float(tables["linreg/gd/exactness.csv"]["max_abs_diff"].max())
        return Measurement(worst, float("nan"), float("nan"))

    seeds = list(config["linreg"]["gd"].get("training_seeds", [0]))

    def cosine(tables):
        from icl_study.intervals import bootstrap_ci  # scipy: only when measuring, not when parsing

        per_seed = tables.get("linreg/gd/seeds.csv")
        if len(seeds) > 1 and per_seed is not None and len(per_seed) > 1:  # an interval over training seeds
            return over_seeds(per_seed["sensitivity_cosine_mean"].to_numpy(float),
                              n_examples=int(per_seed["n_tasks"].iloc[0]))
        values = tables["linreg/gd/predictions.csv"]["sensitivity_cosine"].to_numpy(float)
        mean, low, high = bootstrap_ci(values, n_boot=1000, seed=0)
        return Measurement(float(mean), float(low), float(high), n_examples=len(values), n_seeds=1)

    return [
        Claim(study="linreg", paper="von Oswald et al. 2023", claim_id="linreg.gd_construction",
              claim="A linear self-attention layer with constructed weights performs one step of gradient descent.",
              measure="largest |construction − GD| at the query in float64, over the 1-layer construction and "
                      "stacks of 1..max_steps GD layers",
              direction="identity", figure=figure, tables=("linreg/gd/exactness.csv",), compute=exactness,
              trained=False),
        Claim(study="linreg", paper="von Oswald et al. 2023", claim_id="linreg.trained_lsa_is_gd",
              claim="A trained one-layer linear self-attention matches one step of GD at the optimal step size.",
              measure="cosine between the query sensitivities ∂ŷ/∂x_q of the trained LSA and of GD at η*, mean over "
                      "fresh tasks; " + (f"mean and t-interval over the LSA's training seeds {seeds}" if len(seeds) > 1
                                         else "task-bootstrap interval (one training run)"),
              direction="greater", threshold=0.95, figure=figure,
              tables=("linreg/gd/predictions.csv",) + (("linreg/gd/seeds.csv",) if len(seeds) > 1 else ()),
              compute=cosine),
    ]


def claims(config: dict) -> list:
    """Every claim of study 1, in the order of its figures."""
    return linreg_claims(config) + linreg_matching_claims(config) + linreg_probes_claims(config) + linreg_gd_claims(config)
