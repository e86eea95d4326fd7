"""Typed configuration: frozen dataclasses whose fields equal the YAML keys.

The JSON schema (workflow/schemas/config.schema.yaml) checks config.yaml when the workflow loads;
these dataclasses check again when the package receives a slice of it, so the package can be
used without Snakemake. Defaults for the package live here; the default *tier* lives in
config.yaml.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any


class StudyError(Exception):
    """An error a user can act on (bad config or data, unusable checkpoint, a diverged run).

    Its message is one line naming the key or file; the command line prints it as
    `icl_study: <kind>: <message>` and exits with status 2, without a stack trace.
    """

    kind = "error"


class ConfigError(StudyError, ValueError):
    """A bad configuration value; the message is one line and names the key."""

    kind = "config error"


class DataError(StudyError, ValueError):
    """A user data file that cannot be read as configured; the message names the file and line."""

    kind = "data error"


@dataclass(frozen=True)
class ModelConfig:
    n_layer: int = 3
    n_head: int = 4
    d_model: int = 64
    d_mlp: int = 256  # 0 = attention-only blocks (no MLP)
    n_positions: int = 64  # longest sequence of tokens the model accepts
    attention: str = "softmax"  # softmax | linear (un-normalised) | regularized | augmented | negative | momentum
    layer_norm: bool = True
    n_dims_in: int = 0  # > 0: inputs are vectors read in by a linear layer
    n_dims_out: int = 1  # read-out size for vector inputs
    vocab_size: int = 0  # > 0: inputs are token ids and outputs are logits
    positions: str = "learned"  # learned | none (no positional embedding, e.g. for hand-built LSA)
    init: str = "gpt2"  # gpt2 (N(0, 0.02)) | torch (PyTorch's default layer initialisation)
    reg_alpha: float = 0.5  # `regularized`: the query's own pair keeps weight (1 - reg_alpha)
    aug_hidden: int = 16  # `augmented`: hidden width of the key and value transforms
    neg_beta: float = 0.5  # `negative`: weight of the subtracted negative-pair value
    momentum_eta: float = 0.5  # `momentum`: decay of the moving average of earlier values (Dai et al.)


# The ModelConfig fields each attention kind reads; no other kind reads them.
KIND_PARAMETERS = {"regularized": ("reg_alpha",), "augmented": ("aug_hidden",), "negative": ("neg_beta",),
                   "momentum": ("momentum_eta",)}


def model_for_kind(model: dict, kind: str) -> dict:
    """A model config section with `attention: kind`, without the parameters of the other kinds:
    so a run's params (and Snakemake's rerun decision) change only with settings the run reads,
    e.g. a new `neg_beta` retrains the `negative` runs and not their softmax baselines."""
    others = {key for other, keys in KIND_PARAMETERS.items() if other != kind for key in keys}
    return {key: value for key, value in model.items() if key not in others} | {"attention": kind}


@dataclass(frozen=True)
class Curriculum:
    """Garg et al.'s curriculum: start small, grow d and k by a step every `interval` steps."""

    dims_start: int = 2
    dims_step: int = 1
    points_start: int = 5
    points_step: int = 2
    interval: int = 2000


@dataclass(frozen=True)
class RegressionTaskConfig:
    n_dims: int = 5  # d
    n_points: int = 21  # (x, y) pairs per sequence
    noise_std: float = 0.0  # sigma
    w_scale: float = 1.0  # tau: w ~ N(0, tau^2 I)
    pool_size: int = 0  # > 0: w drawn from a fixed pool of this many vectors
    curriculum: Curriculum | None = None


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 500
    keep_steps: tuple[int, ...] = ()  # checkpoints kept for analysis (others are overwritten)
    log_every: int = 100
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16
    compile: bool = False  # wrap the model in torch.compile for training (helps on GPU)
    members_per_job: int = 1  # runs of a group job trained as one stacked model (icl_study/stacked.py); 1 = one at a time


# The keys every run config's train and model blocks carry (a run's config, and so Snakemake's
# rerun decision, carries exactly these plus a study's own choices; the model's widths and
# sequence length come from the task: icl_study/tasks/io.py).
TRAIN_KEYS = ("steps", "batch_size", "lr", "warmup_steps", "min_lr_ratio", "weight_decay", "grad_clip", "seed",
              "checkpoint_every", "keep_steps", "log_every", "device")
MODEL_KEYS = ("n_layer", "n_head", "d_model", "d_mlp", "attention", "layer_norm")


def train_block(**choices) -> dict:
    """A study's train settings: TrainConfig's defaults for TRAIN_KEYS, with `choices` on top."""
    defaults = to_dict(TrainConfig())
    return {key: defaults[key] for key in TRAIN_KEYS} | choices


def model_block(**choices) -> dict:
    """A study's model settings: ModelConfig's defaults for MODEL_KEYS, with `choices` on top."""
    defaults = to_dict(ModelConfig())
    return {key: defaults[key] for key in MODEL_KEYS} | choices


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run needs; its dict form is stored in every checkpoint."""

    task: str = "regression"
    task_config: dict = field(default_factory=dict)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def from_dict(cls: type, data: dict[str, Any] | None, path: str = "") -> Any:
    """Build dataclass `cls` from a dict, rejecting unknown keys and wrong types by name."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{path or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{_join(path, unknown[0])}: unknown key (allowed: {', '.join(sorted(names))})")
    kwargs = {key: _coerce(hints[key], value, _join(path, key)) for key, value in data.items()}
    return cls(**kwargs)


def to_dict(obj: Any) -> Any:
    """The plain-dict form of a config dataclass (tuples become lists, as in YAML)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def run_config(data: dict[str, Any]) -> RunConfig:
    """A RunConfig from {task, task_config, model, train} dicts."""
    data = dict(data)
    model = from_dict(ModelConfig, data.pop("model", None), "model")
    train = from_dict(TrainConfig, data.pop("train", None), "train")
    return from_dict(RunConfig, {**data, "model": model, "train": train})


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _coerce(hint: Any, value: Any, path: str) -> Any:
    """Check `value` against a type hint; build nested dataclasses; ints are accepted as floats."""
    if dataclasses.is_dataclass(value):
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _coerce(inner[0], value, path)
        for alternative in inner:  # e.g. `str | dict`: the first alternative the value fits
            try:
                return _coerce(alternative, value, path)
            except ConfigError:
                pass
        names = " or ".join(getattr(a, "__name__", str(a)) for a in inner)
        raise ConfigError(f"{path}: expected {names}, got {value!r}")
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, path)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        items = tuple(_coerce(args[0], v, path) for v in value)
        # every list of a config names distinct things (seeds, grid points, runs, tasks): a repeat
        # would run one twice under two names and count it twice
        if len({repr(v) if isinstance(v, dict) else v for v in items}) != len(items):
            raise ConfigError(f"{path}: {list(value)!r} has non-unique elements")
        return items
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool, dict):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: expected {hint.__name__}, got {value!r}")
    return value


def deep_merge(base: dict, overrides: dict) -> dict:
    """A copy of `base` with `overrides` merged in, key by key, at every depth."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
