"""Frozen, validated configuration objects and YAML loading.

This module is the bottom layer of tfrobust (docs/architecture.md, Layers): it imports
no TensorFlow and nothing else from the package. Every config validates in
``__post_init__`` and raises :class:`ConfigError` (a ``ValueError``) naming
the offending field.

Numbers may be written as fractions in YAML or on the command line
(``eps: 8/255``); :func:`parse_number` turns them into floats.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

__all__ = [
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "OptimizerConfig",
    "TrainConfig",
    "FLOAT32_MAX",
    "MODEL_SELECTIONS",
    "STRATEGIES",
    "FLOAT32_TINY",
    "check_bool",
    "check_int",
    "check_number",
    "parse_number",
    "parse_int_list",
    "load_yaml",
    "load_train_config",
    "train_config_from_dict",
    "to_dict",
    "dump_yaml",
    "replace",
]

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine")
#: How ``optimizer.weight_decay`` acts: Keras's decoupled decay or an L2 term added to the gradient.
WEIGHT_DECAY_MODES = ("decoupled", "coupled")
AUGMENTATIONS = ("crop_flip",)
JIT_CHOICES = ("auto", True, False)


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


_FRACTION = re.compile(r"^\s*([-+]?[0-9.eE+-]+)\s*/\s*([0-9.eE+-]+)\s*$")


#: The largest finite float32 value; radii and step sizes must not exceed it.
FLOAT32_MAX = 3.4028234663852886e38
#: The smallest normal float32 value; smaller non-zero magnitudes flush to 0 on some devices.
FLOAT32_TINY = 1.1754943508222875e-38


def check_number(value: float, *, name: str = "value", finite: bool = False, minimum: float | None = None,
                 float32: bool = False) -> float:
    """Range checks of an already parsed number (NaN is always an error).

    Args:
        value: the number.
        name: field name used in the error message.
        finite: refuse +-inf.
        minimum: refuse values below it.
        float32: the value must survive the cast to float32 unchanged in kind:
            finite, ``|value| <= FLOAT32_MAX`` and either 0 or
            ``|value| >= FLOAT32_TINY`` (implies ``finite``).

    Returns:
        ``value`` as a float.

    Raises:
        ConfigError: a one-line message naming ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name}: expected a number, got {value!r}")
    try:
        out = float(value)
    except OverflowError:  # an int beyond float64
        raise ConfigError(f"{name}: an integer with {len(str(value))} digits is too large for a float") from None
    if math.isnan(out):
        raise ConfigError(f"{name}: expected a number, got nan")
    if (finite or float32) and not math.isfinite(out):
        raise ConfigError(f"{name} must be a finite number, got {out!r}")
    if minimum is not None and out < minimum:
        raise ConfigError(f"{name} must be >= {minimum:g}, got {out:g}")
    if float32 and abs(out) > FLOAT32_MAX:
        raise ConfigError(f"{name}={out:g} overflows float32 (the largest float32 is {FLOAT32_MAX:.4g})")
    if float32 and 0 < abs(out) < FLOAT32_TINY:
        raise ConfigError(f"{name}={out:g} is too small for float32 (use 0 or a magnitude >= {FLOAT32_TINY:.4g})")
    return out


def parse_number(value: Any, *, name: str = "value", finite: bool = False, minimum: float | None = None,
                 float32: bool = False) -> float:
    """Parses an int, float or a fraction string such as ``"8/255"``.

    Args:
        value: a number or a string (``"0.3"``, ``"8/255"``, ``"1e-3"``).
        name: field name used in the error message.
        finite, minimum, float32: optional range checks, see :func:`check_number`
            (radii and step sizes use ``minimum=0, float32=True``). Without
            them ``"inf"`` is accepted (unbounded data has bounds ``-inf,inf``).

    Returns:
        The value as a float.

    Raises:
        ConfigError: if the value is not a number, is NaN, or fails a requested check.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{name}: expected a number, got {value!r}")
    if isinstance(value, numbers.Real):
        out: Any = value
    elif isinstance(value, str):
        match = _FRACTION.match(value)
        try:
            if match:
                den = float(match.group(2))
                if den == 0:
                    raise ConfigError(f"{name}: division by zero in {value!r}")
                out = float(match.group(1)) / den
            else:
                out = float(value)
        except ValueError as err:
            raise ConfigError(f"{name}: expected a number, got {value!r}") from err
    else:
        raise ConfigError(f"{name}: expected a number, got {value!r}")
    if isinstance(out, float) and math.isnan(out):
        raise ConfigError(f"{name}: expected a number, got {value!r}")
    return check_number(out, name=name, finite=finite, minimum=minimum, float32=float32)


def parse_int_list(value: Any, *, name: str = "value") -> tuple[int, ...] | None:
    """Parses ``"5,7"``, ``[5, 7]`` or ``None`` into a tuple of ints."""
    if value is None or value == "":
        return None
    items: Sequence[Any]
    if isinstance(value, str):
        items = value.replace(" ", "").split(",")
        if "" in items:
            raise ConfigError(f"{name}: empty item in {value!r} (write e.g. 5,7)")
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise ConfigError(f"{name}: expected a comma-separated list of integers, got {value!r}")
    out = []
    for item in items:
        try:
            if isinstance(item, bool) or float(item) != int(float(item)):
                raise ValueError
            out.append(int(float(item)))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{name}: {item!r} is not an integer") from err
    if not out:
        raise ConfigError(f"{name}: the list is empty")
    return tuple(out)


def check_int(value: Any, *, name: str = "value", minimum: int | None = None, allow_none: bool = False) -> Any:
    """``value`` as an int (an integral float is accepted; bool is not), at least ``minimum``.

    The one integer validator of the package: every layer uses it.

    Raises:
        ConfigError: not an integer, below ``minimum``, or None without ``allow_none``.
    """
    if value is None and allow_none:
        return None
    if (isinstance(value, bool) or not isinstance(value, (numbers.Integral, float)) or not math.isfinite(value)
            or int(value) != value):
        raise ConfigError(f"{name} must be an integer{'' if minimum is None else f' >= {minimum}'}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_bool(value: Any, *, name: str = "value") -> bool:
    """``value`` if it is a bool (``True``/``False``, not 0/1 or a string).

    Raises:
        ConfigError: ``{name} must be true or false, got ...``.
    """
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return value


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class DataConfig:
    """Which dataset to load and how.

    Attributes:
        name: dataset registry name (``fashion_mnist``, ``mnist``, ``cifar10``,
            ``toy2d``, ``tsipras``); checked against the registry by the data layer.
        data_dir: directory holding the original distribution files, or None
            for the search order of docs/architecture.md, Data.
        classes: keep only these original labels, remapped to 0..k-1 in order.
        limit: use the first ``limit`` examples of each split (None: all).
        test_limit: the first ``test_limit`` examples of the test split
            (None: ``limit``), e.g. to train on a subset and test on all
            (Tsipras Figs. 1, 6: accuracy against the training-set size).
        bounds: value range (lo, hi) in data units; None: the dataset default
            ((0, 1) for images, Kim et al. 2019 A.1 uses (-1, 1)).
        augment: None or ``"crop_flip"`` (CIFAR-10: pad 4, random crop, flip).
        options: dataset-specific options (``tsipras``: d, eta, p, n;
            ``toy2d``: n_per_class).
    """

    name: str = "fashion_mnist"
    data_dir: str | None = None
    classes: tuple[int, ...] | None = None
    limit: int | None = None
    test_limit: int | None = None
    bounds: tuple[float, float] | None = None
    augment: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"data.name must be a dataset name, got {self.name!r}")
        if self.data_dir is not None:
            _set(self, "data_dir", os.fspath(self.data_dir))
        _set(self, "classes", parse_int_list(self.classes, name="data.classes"))
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"data.classes has duplicates: {self.classes}")
        _set(self, "limit", check_int(self.limit, name="data.limit", minimum=1, allow_none=True))
        _set(self, "test_limit", check_int(self.test_limit, name="data.test_limit", minimum=1, allow_none=True))
        if self.bounds is not None:
            if isinstance(self.bounds, str):
                parts: Sequence[Any] = self.bounds.split(",")
            else:
                parts = list(self.bounds)
            if len(parts) != 2:
                raise ConfigError(f"data.bounds must be two numbers lo,hi, got {self.bounds!r}")
            lo = parse_number(parts[0], name="data.bounds")
            hi = parse_number(parts[1], name="data.bounds")
            if not lo < hi:
                raise ConfigError(f"data.bounds must satisfy lo < hi, got ({lo}, {hi})")
            _set(self, "bounds", (lo, hi))
        if self.augment is not None and self.augment not in AUGMENTATIONS:
            raise ConfigError(f"data.augment must be one of {AUGMENTATIONS} or null, got {self.augment!r}")
        if not isinstance(self.options, Mapping):
            raise ConfigError(f"data.options must be a mapping, got {self.options!r}")
        _set(self, "options", dict(self.options))


@dataclass(frozen=True)
class ModelConfig:
    """Which architecture to build.

    Attributes:
        arch: model registry name (``kim_mnist_cnn``, ``wrn_28_10``, ...).
        options: keyword options of the builder (``padding``, ``dropout``, ...).
    """

    arch: str = "kim_mnist_cnn"
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.arch, str) or not self.arch:
            raise ConfigError(f"model.arch must be an architecture name, got {self.arch!r}")
        if not isinstance(self.options, Mapping):
            raise ConfigError(f"model.options must be a mapping, got {self.options!r}")
        _set(self, "options", dict(self.options))


@dataclass(frozen=True)
class OptimizerConfig:
    """Optimizer and learning-rate schedule.

    Defaults are Kim et al. 2019 A.2 (Adam, lr 1e-3, beta 0.9/0.999). Noack et
    al. 2021 sec. 4.2 uses ``sgd`` with momentum 0.9, lr 0.01 and ``cosine``
    decay to zero; sec. 4.3 adds Nesterov and weight decay 5e-4.

    Attributes:
        name: ``adam`` or ``sgd``.
        learning_rate: initial learning rate.
        beta_1, beta_2, epsilon: Adam parameters.
        momentum, nesterov: SGD parameters.
        weight_decay: weight decay factor, or None.
        weight_decay_mode: ``decoupled`` (default; Keras: ``w -= lr * wd * w``
            each step, outside the momentum) or ``coupled`` (PyTorch
            ``torch.optim.SGD(weight_decay=wd)``, which the Noack et al. code
            uses: ``wd * w`` is added to the gradient before momentum, i.e. an
            L2 penalty ``wd/2 ||w||^2``; with momentum 0.9 it decays about 10x
            more than the decoupled form of the same value).
        schedule: ``constant`` or ``cosine`` (decays to 0 over all steps).
    """

    name: str = "adam"
    learning_rate: float = 1e-3
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float | None = None
    schedule: str = "constant"
    weight_decay_mode: str = "decoupled"

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ConfigError(f"optimizer.name must be one of {OPTIMIZERS}, got {self.name!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"optimizer.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        for name in ("learning_rate", "beta_1", "beta_2", "epsilon", "momentum"):
            value = parse_number(getattr(self, name), name=f"optimizer.{name}")
            if value < 0:
                raise ConfigError(f"optimizer.{name} must be >= 0, got {value}")
            _set(self, name, value)
        if self.learning_rate <= 0:
            raise ConfigError(f"optimizer.learning_rate must be > 0, got {self.learning_rate}")
        if not (self.beta_1 < 1 and self.beta_2 < 1 and self.momentum < 1):
            raise ConfigError("optimizer.beta_1, beta_2 and momentum must be < 1")
        if self.weight_decay is not None:
            wd = parse_number(self.weight_decay, name="optimizer.weight_decay")
            if wd < 0:
                raise ConfigError(f"optimizer.weight_decay must be >= 0, got {wd}")
            _set(self, "weight_decay", wd)
        if self.weight_decay_mode not in WEIGHT_DECAY_MODES:
            raise ConfigError(f"optimizer.weight_decay_mode must be one of {WEIGHT_DECAY_MODES}, "
                              f"got {self.weight_decay_mode!r}")
        check_bool(self.nesterov, name="optimizer.nesterov")


#: Which weights a training run keeps (``TrainConfig.model_selection``).
MODEL_SELECTIONS = ("last", "best_validation", "best_test_set")
#: How a run spreads its training over devices (TrainConfig.strategy).
STRATEGIES = ("none", "mirrored", "multiworker")


@dataclass(frozen=True)
class TrainConfig:
    """One training run: data, model, optimizer and the training method.

    Attributes:
        data: the dataset (:class:`DataConfig`).
        model: the architecture (:class:`ModelConfig`).
        optimizer: the optimizer (:class:`OptimizerConfig`).
        method: a name in the training-method registry
            (:data:`tfrobust.registry.METHODS`; ``tfrobust list methods``);
            the name and its options are checked by the training layer.
        method_options: the method's options (keyword-only parameters of its
            model wrapper, plus data options such as ``ir``'s ``targets``).
        epochs: passes over the training split.
        batch_size: examples per step.
        seed: seeds weights, shuffling and augmentation.
        jit_compile: ``auto`` (Keras: XLA on GPU only), true or false.
        deterministic: enable TensorFlow op determinism (slower on GPU).
        validate: evaluate on the test split after every epoch.
        model_selection: which weights the run keeps: ``last`` (the last
            epoch's), ``best_validation`` (the best validation accuracy after
            ``selection_start`` of training, on ``validation_size`` examples
            held out from the training split) or ``best_test_set`` (the same
            on the test split: Noack et al.'s code; selection on the test set,
            so its test numbers are optimistic). See docs/fidelity.md.
        validation_size: examples held out for ``best_validation`` (an
            integer, or a fraction of the training split).
        selection_start: fraction of the epochs after which an epoch may be
            selected (Noack's code: ``epoch > 0.5 * n_epochs``).
        strategy: how training is spread over devices: ``none`` (one
            device), ``mirrored`` (``tf.distribute.MirroredStrategy`` over the
            local GPUs, else the logical CPUs) or ``multiworker``
            (``tf.distribute.MultiWorkerMirroredStrategy``, cluster from
            ``TF_CONFIG``). ``batch_size`` is the global batch, split among
            the replicas. See :mod:`tfrobust.training.distribute`.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    method: str = "standard"
    method_options: Mapping[str, Any] = field(default_factory=dict)
    epochs: int = 5
    batch_size: int = 128
    seed: int = 0
    jit_compile: Any = "auto"
    deterministic: bool = False
    validate: bool = True
    model_selection: str = "last"
    validation_size: Any = 5000
    selection_start: float = 0.5
    strategy: str = "none"

    def __post_init__(self) -> None:
        for name, kind in (("data", DataConfig), ("model", ModelConfig), ("optimizer", OptimizerConfig)):
            if not isinstance(getattr(self, name), kind):
                raise ConfigError(f"{name} must be a {kind.__name__}")
        if not isinstance(self.method, str) or not self.method:
            raise ConfigError(f"method must be a method name, got {self.method!r}")
        if not isinstance(self.method_options, Mapping):
            raise ConfigError("method_options must be a mapping")
        _set(self, "method_options", dict(self.method_options))
        _set(self, "epochs", check_int(self.epochs, name="epochs", minimum=1))
        _set(self, "batch_size", check_int(self.batch_size, name="batch_size", minimum=1))
        _set(self, "seed", check_int(self.seed, name="seed", minimum=0))
        if self.jit_compile not in JIT_CHOICES:
            raise ConfigError(f"jit_compile must be auto, true or false, got {self.jit_compile!r}")
        for name in ("deterministic", "validate"):
            check_bool(getattr(self, name), name=name)
        if self.model_selection not in MODEL_SELECTIONS:
            raise ConfigError(f"model_selection must be one of {', '.join(MODEL_SELECTIONS)}, "
                              f"got {self.model_selection!r}")
        size = self.validation_size
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not (
                (isinstance(size, int) and size >= 1) or (isinstance(size, float) and 0.0 < size < 1.0)):
            raise ConfigError(f"validation_size must be an integer >= 1 or a fraction in (0, 1), got {size!r}")
        start = self.selection_start
        if isinstance(start, bool) or not isinstance(start, (int, float)) or not 0.0 <= float(start) < 1.0:
            raise ConfigError(f"selection_start must be a number in [0, 1), got {start!r}")
        _set(self, "selection_start", float(start))
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")


T = TypeVar("T")


def _from_mapping(cls: type[T], values: Mapping[str, Any] | None, prefix: str) -> T:
    values = dict(values or {})
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{prefix}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        return cls(**values)
    except TypeError as err:  # wrong value types that the dataclass itself rejects
        raise ConfigError(f"{prefix}: {err}") from err


def train_config_from_dict(values: Mapping[str, Any]) -> TrainConfig:
    """Builds a :class:`TrainConfig` from a nested mapping (parsed YAML).

    Unknown keys are errors (a typo must not be silently ignored). Top-level
    ``description`` and ``reference`` keys are allowed and ignored (configs
    cite the paper section they implement), and so are the record-only
    sections a run writes into its ``config.yaml`` (``resolved``,
    ``versions``, ``command``), so that a run's record re-runs it.
    """
    if not isinstance(values, Mapping):
        raise ConfigError("a training config must be a mapping")
    ignored = ("description", "reference", "resolved", "versions", "command")
    values = {k: v for k, v in values.items() if k not in ignored}
    nested = {
        "data": _from_mapping(DataConfig, values.pop("data", None), "data"),
        "model": _from_mapping(ModelConfig, values.pop("model", None), "model"),
        "optimizer": _from_mapping(OptimizerConfig, values.pop("optimizer", None), "optimizer"),
    }
    return _from_mapping(TrainConfig, {**values, **nested}, "config")


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a YAML mapping with ``yaml.safe_load`` (never executes tags).

    Raises:
        ConfigError: if the file is missing, unreadable or not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a UTF-8 text file (is it a YAML config?)") from err
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror or err}") from err
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else "invalid YAML"
        raise ConfigError(f"{path}: invalid YAML ({first})") from err
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return values


def load_train_config(path: str | os.PathLike) -> TrainConfig:
    """Loads and validates a training config file (see ``configs/``); an empty file is refused."""
    values = load_yaml(path)
    if not values:
        raise ConfigError(f"{path}: the config is empty (expected a mapping such as `model: {{arch: ...}}`)")
    return train_config_from_dict(values)


def to_dict(config: Any) -> Any:
    """Converts a config (nested dataclasses, tuples) into plain YAML types."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: to_dict(getattr(config, f.name)) for f in fields(config)}
    if isinstance(config, Mapping):
        return {str(k): to_dict(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    return config


def replace(config: T, **changes: Any) -> T:
    """``dataclasses.replace`` that re-runs validation (re-exported for users)."""
    return dataclasses.replace(config, **changes)  # type: ignore[type-var]


def dump_yaml(values: Any, path: str | os.PathLike) -> None:
    """Writes ``values`` as YAML atomically (temp file + ``os.replace``)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(yaml.safe_dump(to_dict(values), sort_keys=False), encoding="utf-8")
    os.replace(tmp, path)
