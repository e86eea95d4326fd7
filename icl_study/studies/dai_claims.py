"""Study 2's claims (Dai et al. 2022), measured on studies/dai.py's per-example and dual summary
tables and the momentum comparison. Torch-free, unlike dai.py: the ledger rule's inputs are resolved when Snakemake parses
the workflow.
"""

from __future__ import annotations

from icl_study.claims import LM_POWER, NO_DATA, Claim, Gate, Measurement, over_seeds
from icl_study.measures.rec2ftp import rec2ftp_ci
from icl_study.studies.lm_claims import text_pairs
from icl_study.jobs import figure_png
from icl_study.studies.dai_plan import (DAI_TABLE_FIGURE, DAI_LAYERS_FIGURE, DAI_DUAL_FIGURE,
                                        DAI_MOMENTUM_FIGURE)

# --- claims (Dai et al. 2022), measured on the summary tables and the momentum comparison ----------

DAI_PAPER = "Dai et al. 2022"
DUAL_TABLE, MOMENTUM_TABLE = "dai/summary/dual.csv", "dai/momentum/comparison.csv"
# One row per (model, task, variant, demo_seed, example): correctness and layer-mean metrics, so that
# a metric and its baseline, or the trained and the untrained copy, are differenced on the same rows.
EXAMPLES = "dai/summary/examples.csv"
BOOT_SEED = 0  # the ledger's cluster bootstraps: a fixed seed, so the ledger is a pure function of the tables


def _rows(tables: dict, model: str, task: str, variant: str):
    frame = tables[EXAMPLES]
    return frame[(frame["model"] == model) & (frame["task"] == task) & (frame["variant"] == variant)]


def _n_seeds(tables: dict, model: str, task: str) -> int | None:
    """Training seeds behind a model this study trained (its train_seed column; NaN for a
    pretrained LM): None where the table names none."""
    frame = _rows(tables, model, task, "trained")
    if "train_seed" not in frame:
        return None
    return int(frame["train_seed"].dropna().nunique()) or None


def _demo_sets(frame) -> int | None:
    """Demonstration sets behind every test example of `frame` (the fewest any example has)."""
    return int(frame.groupby("example")["demo_seed"].nunique().min()) if len(frame) else None


def paired_difference(rows, a: str, b: str, n_boot: int) -> Measurement:
    """Mean of a − b over rows measured on the same prompts (columns of `rows`, which also has
    `example` and `demo_seed`), with the interval of its independent units
    (intervals.examples_by_sets_ci): over test examples where each has one demonstration set
    (pipeline-gpt's episodes), the two-way bootstrap over examples x demonstration sets where they
    share several (a text LM's sets answer the same test examples). NaN rows dropped."""
    from icl_study.intervals import examples_by_sets_ci

    diff = rows.assign(diff=rows[a] - rows[b]).dropna(subset=["diff"])
    if diff.empty:
        return NO_DATA
    if diff.groupby("example")["demo_seed"].nunique().max() == 1:  # each example its own set: nothing more to resample
        table = diff.groupby("example")["diff"].mean().to_numpy()[:, None]  # (examples, 1)
    else:
        table = diff.pivot(index="example", columns="demo_seed", values="diff").to_numpy()  # (examples, sets)
    mean, low, high = examples_by_sets_ci(table, n_boot, seed=BOOT_SEED)
    return Measurement(mean, low, high, n_examples=len(table))


def _paired(model, task, a: tuple[str, str], b: tuple[str, str], n_boot: int, trained: bool):
    """(variant, column) a minus b on the same rows: one variant's metric and its baseline, or the
    trained and the untrained copy joined on (demo_seed, example), i.e. on the same prompt."""
    def compute(tables):
        x, y = _rows(tables, model, task, a[0]), _rows(tables, model, task, b[0])
        on = ["demo_seed", "example"]
        both = x[on + [a[1]]].merge(y[on + [b[1]]], on=on, suffixes=("_a", "_b"))
        if both.empty:
            return NO_DATA
        ca, cb = (f"{a[1]}_a", f"{b[1]}_b") if a[1] == b[1] else (a[1], b[1])
        m = paired_difference(both, ca, cb, n_boot)
        if m is NO_DATA:
            return NO_DATA
        return Measurement(m.value, m.ci_low, m.ci_high, m.n_examples,
                           n_seeds=_n_seeds(tables, model, task) if trained else None, n_demo_sets=_demo_sets(both))
    return compute


def _rec2ftp(model, task, trained: bool):
    def compute(tables):
        rows = _rows(tables, model, task, "trained")
        value, low, high, n = rec2ftp_ci(rows)
        if n == 0:
            return NO_DATA
        return Measurement(value, low, high, n_examples=n, n_seeds=_n_seeds(tables, model, task) if trained else None,
                           n_demo_sets=_demo_sets(rows))
    return compute


def _dual(model, task, metric, identity, trained: bool):
    """Over the trained model's layers: the identity's largest error over prompts, or the per-layer
    cluster-bootstrap intervals' envelope [lowest low, highest high] (every layer must agree)."""
    def compute(tables):
        seeds = _n_seeds(tables, model, task) if trained else None
        frame = tables[DUAL_TABLE]
        frame = frame[(frame["model"] == model) & (frame["task"] == task) & (frame["variant"] == "trained")
                      & (frame["metric"] == metric)]
        if frame.empty:
            return NO_DATA
        n, sets = int(frame["n_examples"].min()), int(frame["n_demo_sets"].min())
        if identity:
            worst = float(frame["max"].max())
            return Measurement(worst, worst, worst, n_examples=n, n_seeds=seeds, n_demo_sets=sets)
        return Measurement(float(frame["mean"].median()), float(frame["low"].min()), float(frame["high"].max()),
                           n_examples=n, n_seeds=seeds, n_demo_sets=sets)
    return compute


def _momentum_gain(tables):
    """Momentum minus softmax ICL accuracy on fresh labels at the largest k, paired by training seed."""
    frame = tables[MOMENTUM_TABLE]
    frame = frame[(frame["metric"] == "accuracy") & (frame["task"] == "concepts-fresh")]
    frame = frame[frame["k"] == frame["k"].max()]
    per_seed = frame.groupby(["kind", "seed"])["value"].mean().unstack("kind")  # (seeds, kinds)
    if not {"momentum", "softmax"} <= set(per_seed.columns):
        return NO_DATA
    diff = (per_seed["momentum"] - per_seed["softmax"]).dropna()
    return over_seeds(diff.to_numpy())


def claims(config: dict) -> list:
    """Dai et al.'s claims per model: pipeline-gpt on fresh-label episodes, and each text model on
    each task it runs (dai.text_tasks, or dai.model_tasks for that model). Every difference is paired on the same rows of the
    per-example table (a metric and its baseline on the same prompt; the trained and the untrained
    copy on the same prompt), with its interval over test examples. A claim that compares ICL with
    finetuning is gated on finetuning having learned (held-out FT − ZS accuracy > 0); a SimAOU or
    Kendall claim also on the trained model beating its untrained copy. pipeline-gpt is a model
    this study trained (its seeds count); SmolLM2 and other text models are pretrained."""

    settings = [("pipeline-gpt", config["dai"]["concepts_tasks"][0])] if config["dai"]["concepts_tasks"] else []
    settings += text_pairs(config, "dai", "text_tasks")
    table, layers, dual = figure_png(DAI_TABLE_FIGURE), figure_png(DAI_LAYERS_FIGURE), figure_png(DAI_DUAL_FIGURE)
    n_boot = config["dai"]["n_boot"]
    out = []
    for model, task in settings:
        where, ident = f"{model} on {task}", f"{model}.{task}"
        trained = model == "pipeline-gpt"  # the in-house model; text models are pretrained LMs

        def paired(a, b, model=model, task=task, trained=trained):
            return _paired(model, task, a, b, n_boot, trained)

        ft_learned = Gate("finetuning learned: held-out FT − ZS accuracy > 0",
                          paired(("trained", "ft_heldout_correct"), ("trained", "zs_correct")))
        beats = {m: Gate(f"trained − untrained {name} > 0", paired(("trained", m), ("untrained", m)))
                 for m, name in (("simaou", "SimAOU"), ("kendall_token", "Kendall τ"))}
        # a pretrained LM's claims need LM_MIN_EXAMPLES test examples x LM_MIN_DEMO_SETS sets to be decided
        common = dict(study="dai", trained=trained, **({} if trained else LM_POWER))
        out += [
            Claim(**common, paper=DAI_PAPER, claim_id=f"dai.dual_identity.{ident}",
                  claim="Linear attention has a dual form: the demonstrations act as a meta-gradient update of the zero-shot weights.",
                  measure=f"largest |W_V X (W_K X)ᵀ q − (W_ZSL + ΔW_ICL) q| over layers, heads and prompts (float64), {where}",
                  direction="identity", figure=dual, tables=(DUAL_TABLE, EXAMPLES),
                  compute=_dual(model, task, "exact_max_abs_error", True, trained)),
            Claim(**common, paper=DAI_PAPER, claim_id=f"dai.relaxation.{ident}",
                  claim="Softmax attention is approximated by its relaxed linear form, so the dual view carries over.",
                  measure=f"relative error |softmax output − relaxed form| / |softmax output| per layer (median of the "
                          f"layer means; interval: envelope of the per-layer intervals), {where}; the relaxed form is "
                          "no approximation where the error reaches 1",
                  direction="less", threshold=1.0, figure=dual, tables=(DUAL_TABLE, EXAMPLES),
                  compute=_dual(model, task, "relaxed_rel_error", False, trained)),
            Claim(**common, paper=DAI_PAPER, claim_id=f"dai.rec2ftp.{ident}",
                  claim="ICL recovers most of the predictions that finetuning fixes (Rec2FTP 86-89% in the paper).",
                  measure=f"Rec2FTP over the rows FT fixed (ZS wrong, FT right), Wilson interval counting each test "
                          f"example once, {where}; most means above 0.5",
                  direction="greater", threshold=0.5, figure=table, tables=(EXAMPLES,), gates=(ft_learned,),
                  compute=_rec2ftp(model, task, trained)),
            Claim(**common, paper=DAI_PAPER, claim_id=f"dai.simaou.{ident}",
                  claim="ICL updates the attention output in the same direction as finetuning (SimAOU above a random update).",
                  measure=f"SimAOU minus its zero-mean random-update baseline on the same prompt, mean over layers, "
                          f"paired interval over test examples, {where}",
                  direction="greater", figure=layers, tables=(EXAMPLES,), gates=(ft_learned, beats["simaou"]),
                  compute=paired(("trained", "simaou"), ("trained", "simaou_random"))),
            Claim(**common, paper="Dai et al. 2022 (control: Deutch et al. 2024)", claim_id=f"dai.simaou_trained.{ident}",
                  claim="The ICL-finetuning similarity reflects what pretraining learned, not the architecture.",
                  measure=f"SimAOU of the trained model minus that of an untrained copy on the same prompt, mean over "
                          f"layers, paired interval over test examples, {where}",
                  direction="greater", figure=layers, tables=(EXAMPLES,), gates=(ft_learned,),
                  compute=paired(("trained", "simaou"), ("untrained", "simaou"))),
            Claim(**common, paper=DAI_PAPER, claim_id=f"dai.kendall.{ident}",
                  claim="ICL attends to the demonstration tokens that finetuning weighs most (Kendall τ above random).",
                  measure=f"token-level Kendall τ between ICL's and FT's attention minus its random-ranking baseline on "
                          f"the same prompt, mean over layers, paired interval over test examples, {where}",
                  direction="greater", figure=layers, tables=(EXAMPLES,), gates=(ft_learned, beats["kendall_token"]),
                  compute=paired(("trained", "kendall_token"), ("trained", "kendall_token_random"))),
            Claim(**common, paper="Dai et al. 2022 (control: Deutch et al. 2024)", claim_id=f"dai.kendall_trained.{ident}",
                  claim="The ICL-finetuning attention agreement reflects what pretraining learned, not the architecture.",
                  measure=f"token-level Kendall τ of the trained model minus that of an untrained copy on the same "
                          f"prompt, mean over layers, paired interval over test examples, {where}",
                  direction="greater", figure=layers, tables=(EXAMPLES,), gates=(ft_learned,),
                  compute=paired(("trained", "kendall_token"), ("untrained", "kendall_token"))),
        ]
        if model != "pipeline-gpt":  # a one-token zero-shot query makes SimAM a cosine of scalars
            out.append(Claim(
                **common, paper=DAI_PAPER, claim_id=f"dai.simam.{ident}",
                claim="ICL changes the attention map like finetuning does (SimAM ICL-FT above ICL-ZS).",
                measure=f"SimAM(ICL, FT) minus SimAM(ICL, ZS) on the same prompt, mean over layers, paired interval "
                        f"over test examples, {where}",
                direction="greater", figure=layers, tables=(EXAMPLES,), gates=(ft_learned,),
                compute=paired(("trained", "simam_ft"), ("trained", "simam_zs"))))
    if config["dai"].get("momentum"):
        out.append(Claim(
            study="dai", paper=DAI_PAPER, claim_id="dai.momentum",
            claim="Momentum-based attention improves in-context learning.",
            measure="ICL accuracy on fresh labels at the largest k, momentum minus softmax attention, paired by "
                    "training seed; t-interval over seeds",
            direction="greater", figure=figure_png(DAI_MOMENTUM_FIGURE), tables=(MOMENTUM_TABLE,),
            compute=_momentum_gain))
    return out
