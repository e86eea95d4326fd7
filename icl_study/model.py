"""The one transformer of the study: a GPT-style decoder, read top to bottom.

Pre-LayerNorm blocks, learned positions, and two kinds of input: vectors read in by a linear layer
(in-context regression, few-shot classification on embeddings) or token ids (language). The
attention kind is one config field (`ModelConfig.attention`):

- `softmax`: ordinary causal softmax attention;
- `linear`: the same scores without the softmax (un-normalised linear attention), whose output is
  exactly W_ZSL q + dW_ICL q in Dai et al.'s dual form, and which von Oswald et al.'s
  gradient-descent construction uses;
- `regularized`, `augmented`, `negative`: softmax attention changed as Ren & Liu (2024) suggest
  from its dual model (icl_study/dual.py): a norm penalty on the dual weight down-weights each
  query's own pair by (1 - reg_alpha); learned residual MLPs transform keys and values
  (augmentation); each key's previous-token value, scaled by neg_beta, is subtracted as a
  negative pair. The choices are ours (no public code): see README, study `ren`;
- `momentum`: softmax attention plus an exponential moving average of the earlier value vectors,
  y_t = softmax-attention_t + sum_{i<t} momentum_eta^(t-i) v_i (Dai et al. 2022, Sec. 6).

Every activation a study reads has a named hook point (see icl_study/hooks.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from icl_study.config import ConfigError, ModelConfig
from icl_study.hooks import HookPoint

ATTENTION_KINDS = ("softmax", "linear", "regularized", "augmented", "negative", "momentum")
POSITION_KINDS = ("learned", "none")
# gpt2: N(0, 0.02) weights (GPT-2, Garg et al.); torch: PyTorch's defaults (Kaiming-uniform Linear,
# N(0, 1) embeddings). On in-context regression the small GPT-2 init sat on the loss plateau for
# thousands of steps where the torch init left it within ~700 (docs/design/linreg_default.md).
INIT_KINDS = ("gpt2", "torch")


def check_model_config(cfg: ModelConfig) -> None:
    """Errors the schema cannot express, one line each, naming the key."""
    if cfg.attention not in ATTENTION_KINDS:
        raise ConfigError(f"model.attention: {cfg.attention!r} is not one of {ATTENTION_KINDS}")
    if not 0.0 <= cfg.reg_alpha < 1.0:  # alpha = 1 would remove a query's only key at position 0
        raise ConfigError(f"model.reg_alpha: {cfg.reg_alpha} is not in [0, 1)")
    if not 0.0 <= cfg.momentum_eta < 1.0:  # eta >= 1 would let old values grow without bound
        raise ConfigError(f"model.momentum_eta: {cfg.momentum_eta} is not in [0, 1)")
    if cfg.init not in INIT_KINDS:
        raise ConfigError(f"model.init: {cfg.init!r} is not one of {INIT_KINDS}")
    if cfg.positions not in POSITION_KINDS:
        raise ConfigError(f"model.positions: {cfg.positions!r} is not one of {POSITION_KINDS}")
    if cfg.d_model % cfg.n_head:
        raise ConfigError(f"model.d_model: {cfg.d_model} is not divisible by model.n_head={cfg.n_head}")
    if (cfg.vocab_size > 0) == (cfg.n_dims_in > 0):
        raise ConfigError("model.vocab_size / model.n_dims_in: set exactly one of them above 0")


class Attention(nn.Module):
    """Causal multi-head self-attention with hook points on q, k, v, scores and pattern."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head, self.kind = cfg.n_head, cfg.attention
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        self.hook_scores, self.hook_pattern = HookPoint(), HookPoint()
        self.reg_alpha, self.neg_beta, self.momentum_eta = cfg.reg_alpha, cfg.neg_beta, cfg.momentum_eta
        if self.kind == "augmented":  # learned transforms of keys and values, shared by the heads
            d_head = cfg.d_model // cfg.n_head
            self.aug_k, self.aug_v = (nn.Sequential(nn.Linear(d_head, cfg.aug_hidden), nn.GELU(),
                                                    nn.Linear(cfg.aug_hidden, d_head)) for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        # (B, T, 3C) -> three (B, H, T, Dh)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                   for t in self.qkv(x).split(C, dim=2))
        if self.kind == "augmented":  # residual form: k + g(k), v + h(v), per token and head
            k, v = k + self.aug_k(k), v + self.aug_v(v)
        q, k, v = self.hook_q(q), self.hook_k(k), self.hook_v(v)
        if self.kind in ("softmax", "momentum") and not (self.hook_scores.active or self.hook_pattern.active):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # fused fast path
        else:
            y = self.pattern(q, k) @ self.contrast(v)  # (B, H, T, T) @ (B, H, T, Dh)
        if self.kind == "momentum":
            y = y + self.momentum(T, v.device, v.dtype) @ v  # (T, T) @ (B, H, T, Dh): EMA of earlier values
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, H, T, Dh) -> (B, T, C)
        return self.proj(y)

    def contrast(self, v: torch.Tensor) -> torch.Tensor:
        """Values (B, H, T, Dh); `negative`: v_i - neg_beta * v_{i-1} (key i paired with a wrong value)."""
        if self.kind != "negative":
            return v
        previous = F.pad(v, (0, 0, 1, 0))[:, :, :-1]  # (B, H, T, Dh): row i holds v_{i-1}, row 0 zeros
        return v - self.neg_beta * previous

    def momentum(self, T: int, device, dtype) -> torch.Tensor:
        """(T, T) decay weights: row t holds momentum_eta^(t-i) for i < t, zeros elsewhere."""
        lag = torch.arange(T, device=device)[:, None] - torch.arange(T, device=device)[None, :]  # t - i
        decay = self.momentum_eta ** lag.clamp(min=0).to(dtype)
        return torch.where(lag > 0, decay, torch.zeros((), dtype=dtype, device=device))

    def pattern(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Attention weights (B, H, T, T): softmax of scaled scores, or the masked scores themselves."""
        T = q.shape[-2]
        causal = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, H, T, T)
        if self.kind == "linear":
            scores = self.hook_scores(scores.masked_fill(~causal, 0.0))
            return self.hook_pattern(scores)
        if self.kind == "regularized":  # exp weight of the query's own pair times (1 - alpha)
            scores = scores + math.log1p(-self.reg_alpha) * torch.eye(T, device=q.device, dtype=q.dtype)
        scores = self.hook_scores(scores.masked_fill(~causal, float("-inf")))
        return self.hook_pattern(scores.softmax(dim=-1))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.d_mlp)
        self.proj = nn.Linear(cfg.d_mlp, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """Pre-LN block: x + attn(ln(x)), then x + mlp(ln(x)); the MLP is optional (attention-only)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        norm = nn.LayerNorm if cfg.layer_norm else (lambda _: nn.Identity())
        self.ln1, self.attn = norm(cfg.d_model), Attention(cfg)
        self.ln2 = norm(cfg.d_model) if cfg.d_mlp else None
        self.mlp = MLP(cfg) if cfg.d_mlp else None
        self.hook_resid_pre, self.hook_attn_out, self.hook_resid_mid = HookPoint(), HookPoint(), HookPoint()
        self.hook_mlp_out, self.hook_resid_post = HookPoint(), HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        x = self.hook_resid_mid(x + self.hook_attn_out(self.attn(self.ln1(x))))
        if self.mlp is not None:
            x = x + self.hook_mlp_out(self.mlp(self.ln2(x)))
        return self.hook_resid_post(x)


class GPT(nn.Module):
    """Decoder-only transformer over vectors (B, T, n_dims_in) or token ids (B, T)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        check_model_config(cfg)
        self.cfg = cfg
        if cfg.vocab_size:
            self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        else:
            self.read_in = nn.Linear(cfg.n_dims_in, cfg.d_model)
        # `positions: none` drops them (von Oswald et al.'s linear self-attention has none).
        self.pos = nn.Embedding(cfg.n_positions, cfg.d_model) if cfg.positions == "learned" else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model) if cfg.layer_norm else nn.Identity()
        self.read_out = nn.Linear(cfg.d_model, cfg.vocab_size or cfg.n_dims_out)
        self.hook_embed, self.hook_final = HookPoint(), HookPoint()
        if cfg.init == "gpt2":  # else `torch`: PyTorch's own layer initialisation, left as built
            self.apply(self._init_weights)
            # GPT-2: scale residual-path projections by 1/sqrt(2 L) so the residual stream stays O(1).
            for name, p in self.named_parameters():
                if name.endswith("proj.weight"):
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, T, n_dims_in) floats or (B, T) ids -> (B, T, n_dims_out) or logits (B, T, vocab)."""
        T = inputs.shape[1]
        if T > self.cfg.n_positions:
            raise ValueError(f"sequence of {T} tokens exceeds model.n_positions={self.cfg.n_positions}")
        x = self.embed(inputs) if self.cfg.vocab_size else self.read_in(inputs)  # (B, T, C)
        if self.pos is not None:
            x = x + self.pos(torch.arange(T, device=inputs.device))
        x = self.hook_embed(x)
        for block in self.blocks:
            x = block(x)
        return self.read_out(self.hook_final(self.ln_f(x)))

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def kv_masks(self) -> dict[str, torch.Tensor]:
        """{name: gradient mask} of every fused qkv weight and bias: 0 on the query third, 1 on k, v
        (Dai et al.'s finetuning updates key and value projections only)."""
        masks = {}
        for name, p in self.named_parameters():
            if name.endswith(("attn.qkv.weight", "attn.qkv.bias")):
                mask = torch.ones_like(p)
                mask[: p.shape[0] // 3] = 0.0  # rows [q | k | v]: the query projection stays frozen
                masks[name] = mask
        return masks
