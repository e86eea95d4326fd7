"""Typed configuration: frozen dataclasses whose fields equal the YAML keys.

The JSON schema Snakemake checks the config against is generated from these dataclasses and the
settings ones (icl_study/settings/schema.py): a field's range lies in its `metadata` (see `ranged`).
These dataclasses check keys and types again when the package receives a slice of the config, so
the package can be used without Snakemake. Defaults for the package live here; the default *tier*
lives in the settings (icl_study/settings) and config.yaml.
"""

from __future__ import annotations

import copy
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


def ranged(default: Any = dataclasses.MISSING, **schema: Any) -> Any:
    """A dataclass field with its default and its range: JSON-schema keywords (minimum, enum, minItems,
    pattern, ...) that the generated config schema checks (icl_study/settings/schema.py says how
    they apply). A mutable default (dict, list) is copied for each instance; without a default, the
    key is required."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=schema)
    return field(default=default, metadata=schema)


@dataclass(frozen=True)
class ModelConfig:
    n_layer: int = ranged(3, minimum=1)  # transformer blocks
    n_head: int = ranged(4, minimum=1)  # attention heads per block
    d_model: int = ranged(64, minimum=1)  # width of the residual stream
    d_mlp: int = ranged(256, minimum=0)  # 0 = attention-only blocks (no MLP)
    n_positions: int = ranged(64, minimum=1)  # longest sequence of tokens the model accepts
    # softmax | linear (un-normalised) | regularized | augmented | negative | momentum
    attention: str = ranged("softmax", enum=("softmax", "linear", "regularized", "augmented", "negative", "momentum"))
    layer_norm: bool = True  # LayerNorm in each block and before the read-out (false: none)
    n_dims_in: int = ranged(0, minimum=0)  # > 0: inputs are vectors read in by a linear layer
    n_dims_out: int = ranged(1, minimum=1)  # read-out size for vector inputs
    vocab_size: int = ranged(0, minimum=0)  # > 0: inputs are token ids and outputs are logits
    # learned | none (no positional embedding, e.g. for hand-built LSA)
    positions: str = ranged("learned", enum=("learned", "none"))
    # gpt2 (N(0, 0.02)) | torch (PyTorch's default layer initialisation)
    init: str = ranged("gpt2", enum=("gpt2", "torch"))
    # `regularized`: the query's own pair keeps weight (1 - reg_alpha)
    reg_alpha: float = ranged(0.5, minimum=0, exclusiveMaximum=1)
    aug_hidden: int = ranged(16, minimum=1)  # `augmented`: hidden width of the key and value transforms
    neg_beta: float = 0.5  # `negative`: weight of the subtracted negative-pair value
    # `momentum`: decay of the moving average of earlier values (Dai et al.)
    momentum_eta: float = ranged(0.5, minimum=0, exclusiveMaximum=1)


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

    dims_start: int = ranged(2, minimum=1)  # d at step 0
    dims_step: int = ranged(1, minimum=0)  # d grows by this every interval, up to n_dims
    points_start: int = ranged(5, minimum=1)  # (x, y) pairs at step 0
    points_step: int = ranged(2, minimum=0)  # pairs added every interval, up to n_points
    interval: int = ranged(2000, minimum=1)  # steps between two growths


@dataclass(frozen=True)
class RegressionTaskConfig:
    n_dims: int = ranged(5, minimum=1)  # d
    n_points: int = ranged(21, minimum=1)  # (x, y) pairs per sequence
    noise_std: float = ranged(0.0, minimum=0)  # sigma
    w_scale: float = ranged(1.0, exclusiveMinimum=0)  # tau: w ~ N(0, tau^2 I)
    pool_size: int = ranged(0, minimum=0)  # > 0: w drawn from a fixed pool of this many vectors
    curriculum: Curriculum | None = None  # null: train at n_dims and n_points from the first step


MAX_STEPS = 10**10  # more training steps than any tier can run: a typo such as 1e21 is refused


@dataclass(frozen=True)
class TrainConfig:
    steps: int = ranged(2000, minimum=1, maximum=MAX_STEPS)  # optimizer steps (AdamW)
    batch_size: int = ranged(64, minimum=1)  # sequences per step
    lr: float = ranged(1e-3, exclusiveMinimum=0)  # peak learning rate (after warmup)
    warmup_steps: int = ranged(200, minimum=0, maximum=MAX_STEPS)  # linear warmup before the cosine decay
    min_lr_ratio: float = ranged(0.1, minimum=0, maximum=1)  # cosine decays to lr * min_lr_ratio
    weight_decay: float = ranged(0.0, minimum=0)  # AdamW decoupled weight decay (matrices only)
    grad_clip: float = ranged(1.0, minimum=0)  # gradient norm clipped to this (0 = no clipping)
    seed: int = ranged(0, minimum=0)  # initialisation and training batches
    checkpoint_every: int = ranged(500, minimum=1, maximum=MAX_STEPS)  # steps between checkpoints
    keep_steps: tuple[int, ...] = ranged((), minimum=1)  # checkpoints kept for analysis (others are overwritten)
    log_every: int = ranged(100, minimum=1, maximum=MAX_STEPS)  # steps between logged training metrics
    device: str = ranged("auto", enum=("auto", "cpu", "cuda"))  # auto | cpu | cuda
    # auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16
    precision: str = ranged("auto", enum=("auto", "fp32", "bf16"))
    compile: bool = False  # wrap the model in torch.compile for training (helps on GPU)
    # runs of a group job trained as one stacked model (icl_study/stacked.py); 1 = one at a time
    members_per_job: int = ranged(1, minimum=1)


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


# The metadata of a study's model, train and task blocks (`dict` fields of the settings; see
# `setting` and icl_study/settings/schema.py): a study-wide block states every key a run config
# carries; an overrides block any subset.
MODEL = {"block": ModelConfig, "required": MODEL_KEYS}
MODEL_OVERRIDES = {"block": ModelConfig}
TRAIN = {"block": TrainConfig, "required": TRAIN_KEYS}
TRAIN_OVERRIDES = {"block": TrainConfig}
REGRESSION_TASK = {"block": RegressionTaskConfig, "required": "all"}
REGRESSION_TASK_OVERRIDES = {"block": RegressionTaskConfig}
# The names a config gives its runs, sizes, arms and tasks (they become file names and wildcards).
NAME = "^[A-Za-z0-9][A-Za-z0-9_.-]*$"


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
