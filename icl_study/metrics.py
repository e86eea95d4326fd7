"""Pure metric functions for comparing in-context predictors (definitions: shared DESIGN.md).

All functions take and return torch tensors, except `bootstrap_ci` and `cluster_bootstrap_ci`,
which work on numpy arrays because they run on finished per-task tables, not on model outputs (they
live in the torch-free icl_study.intervals and are re-exported here). None draws from a global RNG.
"""

import torch
from torch import Tensor

from icl_study.intervals import bootstrap_ci, cluster_bootstrap_ci  # noqa: F401  (torch-free; re-exported)


def squared_error(pred: Tensor, target: Tensor) -> Tensor:
    """Elementwise (pred − target)²."""
    return (pred - target) ** 2


def normalized_error(pred: Tensor, target: Tensor, n_dims: int) -> Tensor:
    """Elementwise squared error divided by the input dimension d (Garg et al. 2022).

    With x ~ N(0, I_d) and w ~ N(0, I_d), the zero predictor then scores ~1 at every d.
    """
    return squared_error(pred, target) / n_dims


def spd(pred_f: Tensor, pred_g: Tensor) -> Tensor:
    """Squared prediction difference per position: mean over the batch of (f − g)², shape (n,).

    pred_f, pred_g: (B, n), two predictors' outputs on the same prompts (SPD vs k in DESIGN.md).
    """
    return ((pred_f - pred_g) ** 2).mean(dim=0)


def fit_implicit_weights(xs_probe: Tensor, preds: Tensor) -> tuple[Tensor, Tensor]:
    """Least-squares weights ŵ, with an intercept, explaining a predictor's outputs on probe queries.

    xs_probe: (B, m, d) probe queries; preds: (B, m) the predictor's outputs for them, all m
    sharing task b's context. Fits pred_q ≈ w·x_q + b as Akyürek et al.'s code does (an intercept,
    which is then discarded: ILWD compares slopes only); minimum-norm if m < d + 1. Returns ŵ (B, d)
    and r2 (B,) = 1 − SS_res / SS_tot with SS_tot centred on the mean prediction, so r2 = 1 means the
    predictor is exactly affine in the query. r2 is NaN where all m predictions are equal
    (SS_tot = 0: undefined); aggregate with nanmean.
    """
    ones = torch.ones(*xs_probe.shape[:-1], 1, dtype=xs_probe.dtype)
    design = torch.cat((xs_probe, ones), dim=-1)  # (B, m, d+1): the last column fits the intercept
    coef = (torch.linalg.pinv(design) @ preds.unsqueeze(-1)).squeeze(-1)  # (B, d+1, m) @ (B, m, 1) -> (B, d+1)
    fitted = (design @ coef.unsqueeze(-1)).squeeze(-1)  # (B, m)
    ss_res = ((preds - fitted) ** 2).sum(-1)  # (B,)
    ss_tot = ((preds - preds.mean(-1, keepdim=True)) ** 2).sum(-1)  # (B,)
    r2 = torch.where(ss_tot > 0, 1 - ss_res / torch.where(ss_tot > 0, ss_tot, 1), torch.nan)
    return coef[:, :-1], r2


def ilwd(w_f: Tensor, w_g: Tensor) -> Tensor:
    """Implicit linear weight difference: mean over the batch and the d coordinates of (w_f − w_g)²,
    a scalar (averaged over coordinates as in Akyürek et al.'s code, so it does not grow with d).

    w_f, w_g: (B, d), e.g. from `fit_implicit_weights` or a baseline's closed-form weights.
    """
    return ((w_f - w_g) ** 2).mean(-1).mean()


def cosine(a: Tensor, b: Tensor, dim: int = -1) -> Tensor:
    """Cosine similarity along `dim`; 0 (not NaN) where either vector is zero."""
    dot = (a * b).sum(dim)
    norms = a.norm(dim=dim) * b.norm(dim=dim)
    # Divide by a safe denominator so the zero case stays finite in both value and gradient.
    safe = torch.where(norms > 0, norms, torch.ones_like(norms))
    return torch.where(norms > 0, dot / safe, torch.zeros_like(dot))


# --- Shen et al. 2023: does ICL do GD? (order, weights, adapted output distributions)


def order_spread(values: Tensor) -> Tensor:
    """Spread over demonstration orders: population std over dim 0 (orders) of (P, ...) values."""
    return values.std(dim=0, unbiased=False)


def sparsity(weight: Tensor, tau: float) -> Tensor:
    """Fraction of entries with |w| <= tau * max|w| (tau = 0: exact zeros; an all-zero tensor: 1)."""
    magnitude = weight.abs()
    return (magnitude <= tau * magnitude.max()).float().mean()


def perturbed(weight: Tensor, scale: float, noise: Tensor, rms: float | Tensor | None = None) -> Tensor:
    """W + s · rms · Z: Gaussian noise `noise` (same shape) at relative scale s.

    rms: the reference RMS entry; pass `parameters_rms` of the whole model so every tensor of a
    model (all-zero biases included) gets the same noise scale. None: W's own ||W||_F / sqrt(n),
    which leaves an all-zero tensor unperturbed.
    """
    rms = weight.norm() / weight.numel() ** 0.5 if rms is None else rms
    return weight + scale * rms * noise


def topk_overlap(logits_a: Tensor, logits_b: Tensor, k: int) -> Tensor:
    """|top-k(a) ∩ top-k(b)| / k along the last dim (k = 1: whether the argmaxes agree), shape (...)."""
    top_a, top_b = logits_a.topk(k, dim=-1).indices, logits_b.topk(k, dim=-1).indices  # (..., k)
    return (top_a.unsqueeze(-1) == top_b.unsqueeze(-2)).any(-1).float().sum(-1) / k


def kl_divergence(logp: Tensor, logq: Tensor) -> Tensor:
    """KL(p || q) = Σ p (log p − log q) along the last dim, from log-probabilities; 0·log 0 = 0."""
    p = logp.exp()
    return torch.where(p > 0, p * (logp - logq), torch.zeros_like(p)).sum(-1)



# --- Dai et al. (2022): ICL vs finetuning (definitions: shared DESIGN.md, study 2) ---------------


def label_word_nll(logits: Tensor, label_ids: list[int], targets: Tensor) -> Tensor:
    """Negative log-probability of the right label word among the label words: logits (..., V)
    (or log-probs: the renormalisation cancels the vocabulary's normaliser), targets (...) the right
    word's index in `label_ids` -> (...). What picks a finetuning or GD learning rate: a run that pours
    probability onto one label word for every query lowers the NLL over the whole vocabulary, not
    this one."""
    among = logits[..., label_ids].float().log_softmax(-1)  # (..., labels)
    return -among.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)


def rec2ftp(zs_correct: Tensor, ft_correct: Tensor, icl_correct: Tensor) -> Tensor:
    """Recall to finetuning predictions: |ZS wrong, FT right, ICL right| / |ZS wrong, FT right|.

    Boolean (N,) tensors over the same test examples; NaN when FT fixes none of ZS's errors.
    """
    fixed_by_ft = ~zs_correct & ft_correct
    n = fixed_by_ft.sum()
    return (fixed_by_ft & icl_correct).sum() / n if n > 0 else torch.tensor(float("nan"))


def simaou(h_icl: Tensor, h_zs: Tensor, h_ft: Tensor) -> Tensor:
    """Similarity of attention output updates: cos(h̄_ICL − h̄_ZS, h̄_FT − h̄_ZS), h̄ = h / ||h||.

    (..., C) attention outputs at the last prompt token (e.g. per layer) -> (...,).
    """
    unit = lambda h: h / h.norm(dim=-1, keepdim=True)  # noqa: E731
    return cosine(unit(h_icl) - unit(h_zs), unit(h_ft) - unit(h_zs))


def simam(scores_a: Tensor, scores_b: Tensor) -> Tensor:
    """Similarity of attention maps: cosine of pre-softmax scores (..., H, T), mean over heads."""
    return cosine(scores_a, scores_b).mean(-1)


def kendall_tau(x: Tensor, y: Tensor) -> Tensor:
    """Kendall's tau-b of two (n,) rankings (ties corrected, as scipy.stats.kendalltau); NaN if n < 2
    or either is constant. Counts all n² ordered pairs, so keep n in the thousands at most."""
    dx = torch.sign(x[:, None] - x[None, :])  # (n, n) pairwise orders
    dy = torch.sign(y[:, None] - y[None, :])
    concordant_minus_discordant = (dx * dy).sum() / 2
    untied_x, untied_y = dx.abs().sum() / 2, dy.abs().sum() / 2  # pairs not tied in x (in y)
    denom = (untied_x * untied_y).sqrt()
    return concordant_minus_discordant / denom if denom > 0 else torch.tensor(float("nan"), dtype=x.dtype)


# --- One noise scale per model (intervals over seeds: icl_study/intervals.py) -----------------


def parameters_rms(tensors) -> Tensor:
    """RMS entry over all given tensors together: sqrt(Σ ||W||_F² / Σ n), a scalar."""
    tensors = list(tensors)
    total = sum((t.detach().double() ** 2).sum() for t in tensors)
    return (total / sum(t.numel() for t in tensors)).sqrt().to(tensors[0].dtype)

