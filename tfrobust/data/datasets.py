"""Dataset registry, the in-memory :class:`Dataset`, and :func:`load_dataset`.

Names (docs/architecture.md, Contracts): ``fashion_mnist``, ``mnist``, ``cifar10``
(file-backed, see :mod:`tfrobust.data.sources`), ``toy2d`` (Kim et al. 2019,
A.1) and ``tsipras`` (Tsipras et al. 2019, eq. 3) (synthetic, see
:mod:`tfrobust.data.synthetic`). Class subsets such as ``classes=(5, 7)``
(the binary MNIST task of Tsipras 2.3) are a load option.

Images are scaled linearly from 0..255 onto ``bounds``:
``x = lo + (hi - lo) * v / 255`` (default (0, 1); Kim et al. use (-1, 1)).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tfrobust.config import check_int

from . import sources, synthetic

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "DatasetSpec",
    "DATASETS",
    "DATASET_OPTIONS",
    "SPLITS",
    "Dataset",
    "load_dataset",
    "locate_dataset",
    "dataset_info",
    "CLASS_NAMES",
    "class_name",
]

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetSpec:
    """Static description of a registered dataset.

    Attributes:
        name: registry / CLI name.
        input_shape: shape of one example: (H, W, C) for images, (F,) for
            vectors; for ``tsipras`` (d + 1,) with the default d = 1000.
        num_classes: number of labels.
        class_names: one name per label.
        default_bounds: value range (lo, hi) of x when ``bounds`` is not given.
        synthetic: generated in code rather than read from files.
    """

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    class_names: tuple[str, ...]
    default_bounds: tuple[float, float]
    synthetic: bool


_FASHION_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_CIFAR10_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

#: The registry, keyed by CLI name.
DATASETS: dict[str, DatasetSpec] = {
    "fashion_mnist": DatasetSpec(
        "fashion_mnist", (28, 28, 1), 10, _FASHION_NAMES, (0.0, 1.0), False
    ),
    "mnist": DatasetSpec(
        "mnist", (28, 28, 1), 10, tuple(str(i) for i in range(10)), (0.0, 1.0), False
    ),
    "cifar10": DatasetSpec("cifar10", (32, 32, 3), 10, _CIFAR10_NAMES, (0.0, 1.0), False),
    "toy2d": DatasetSpec("toy2d", (2,), 2, ("class 1", "class 2"), (-1.0, 1.0), True),
    "tsipras": DatasetSpec(
        "tsipras", (synthetic.TSIPRAS_D + 1,), 2, ("y=-1", "y=+1"), (-math.inf, math.inf), True
    ),
}

#: Human-readable class names per registered dataset, indexed by original label
#: (Fashion-MNIST and CIFAR-10: the names their authors publish; MNIST: the digits).
CLASS_NAMES: dict[str, tuple[str, ...]] = {name: spec.class_names for name, spec in DATASETS.items()}


def class_name(dataset: str, label: int, *, classes: Sequence[int] | None = None) -> str:
    """The readable name of one label, for figure titles and table cells.

    Args:
        dataset: a registry name (e.g. ``"fashion_mnist"``); any other text is
            accepted and gives ``str(label)``.
        label: an integer label (Python or NumPy integer).
        classes: for a class subset (``load_dataset(classes=...)``), the
            original labels in subset order: ``label`` i then names original
            label ``classes[i]``.

    Returns:
        The class name (``class_name("cifar10", 3) == "cat"``), or
        ``str(label)`` when the dataset is unknown or the label lies outside
        its classes (or outside ``classes``).

    Raises:
        ValueError: ``label`` is not an integer (one line).
    """
    if isinstance(label, bool) or not isinstance(label, numbers.Integral):
        raise ValueError(f"label: expected an integer class label, got {label!r}")
    index = int(label)
    names = CLASS_NAMES.get(dataset) if isinstance(dataset, str) else None
    if names is None or index < 0:
        return str(index)
    if classes is not None:
        subset = list(classes)
        if index >= len(subset):
            return str(index)
        original = subset[index]
        if isinstance(original, bool) or not isinstance(original, numbers.Integral):
            return str(index)
        index = int(original)
    return names[index] if 0 <= index < len(names) else str(index)


#: Dataset-specific ``load_dataset(**options)`` and their defaults
#: (``eta=None`` means 3 / sqrt(d)).
DATASET_OPTIONS: dict[str, dict[str, Any]] = {
    "fashion_mnist": {},
    "mnist": {},
    "cifar10": {},
    "toy2d": {"n_per_class": synthetic.TOY2D_N_PER_CLASS, "geometry": "kim_notebook"},
    "tsipras": {
        "d": synthetic.TSIPRAS_D,
        "eta": None,
        "p": synthetic.TSIPRAS_P,
        "n": synthetic.TSIPRAS_N,
    },
}


# --------------------------------------------------------------------------
# validation helpers


def _spec(name: str) -> DatasetSpec:
    spec = DATASETS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return spec


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")


def _resolve_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    allowed = DATASET_OPTIONS[name]
    for key in options:
        if key not in allowed:
            valid = ", ".join(allowed) if allowed else "none"
            raise ValueError(f"unknown option {key!r} for dataset {name} (valid options: {valid})")
    resolved = {**allowed, **options}
    if name == "tsipras":
        resolved["d"] = check_int(resolved["d"], name="d", minimum=1)
        resolved["n"] = check_int(resolved["n"], name="n", minimum=1)
        resolved["p"] = synthetic.validate_tsipras_p(resolved["p"])
        resolved["eta"] = synthetic.validate_tsipras_eta(resolved["eta"], resolved["d"])
    elif name == "toy2d":
        resolved["n_per_class"] = check_int(resolved["n_per_class"], name="n_per_class", minimum=1)
        if resolved["geometry"] not in synthetic.TOY2D_GEOMETRIES:
            raise ValueError(f"geometry: expected one of {', '.join(synthetic.TOY2D_GEOMETRIES)} for dataset "
                             f"toy2d, got {resolved['geometry']!r}")
    return resolved


def _check_bounds(bounds: object, *, finite: bool) -> tuple[float, float]:
    if not isinstance(bounds, Sequence) or isinstance(bounds, str) or len(bounds) != 2:
        raise ValueError(f"bounds: expected a pair (lo, hi), got {bounds!r}")
    lo, hi = bounds
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v):
            raise ValueError(f"bounds: expected two numbers, got {bounds!r}")
    lo, hi = float(lo), float(hi)
    if finite and not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"bounds: image datasets need finite bounds, got {bounds!r}")
    if not lo < hi:
        raise ValueError(f"bounds: lo must be < hi, got {bounds!r}")
    return lo, hi


def _check_limit(limit: object) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    return int(limit)


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)


def _check_classes(classes: object, num_classes: int) -> tuple[int, ...] | None:
    if classes is None:
        return None
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence | np.ndarray):
        raise ValueError(f"classes: expected a sequence of labels, got {classes!r}")
    out: list[int] = []
    for c in list(classes):
        if isinstance(c, bool) or not isinstance(c, numbers.Integral):
            raise ValueError(f"classes: labels must be integers, got {c!r}")
        if not 0 <= int(c) < num_classes:
            raise ValueError(
                f"classes: unknown class {int(c)} (valid labels are 0..{num_classes - 1})"
            )
        if int(c) in out:
            raise ValueError(f"classes: duplicate class {int(c)}")
        out.append(int(c))
    if not out:
        raise ValueError("classes: expected at least one class, got an empty sequence")
    return tuple(out)


def _scale_lut(lo: float, hi: float) -> np.ndarray:
    """(256,) float32 table mapping uint8 v to lo + (hi - lo) * v / 255, inside [lo, hi]."""
    v = np.arange(256, dtype=np.float64)
    lut = (lo + (hi - lo) * (v / 255.0)).astype(np.float32)
    return np.clip(lut, np.float32(lo), np.float32(hi))


# --------------------------------------------------------------------------
# Dataset


@dataclass(frozen=True, eq=False)
class Dataset:
    """One split of a dataset, in memory.

    Attributes:
        name: registry name (e.g. ``"mnist"``).
        split: ``"train"`` or ``"test"``.
        x: (N, H, W, C) float32 channels-last images, or (N, F) float32
            vectors (toy2d, tsipras); all values within ``bounds``; read-only.
        y: (N,) int32 labels in [0, num_classes); read-only.
        bounds: (lo, hi) value range of x, in data units (attacks clip to it).
        num_classes: number of labels of this Dataset (k for a class subset).
        class_names: one name per label.
        source: where it came from: a directory path, ``"tfds:<name>"`` or
            ``"synthetic"``.
        classes: for a class subset, the original labels in the order given:
            label i of this Dataset is original label ``classes[i]``; else None.
    """

    name: str
    split: str
    x: np.ndarray
    y: np.ndarray
    bounds: tuple[float, float]
    num_classes: int
    class_names: tuple[str, ...]
    source: str
    classes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: expected a non-empty string, got {self.name!r}")
        if not isinstance(self.split, str) or not self.split:
            raise ValueError(f"split: expected a non-empty string, got {self.split!r}")
        if (
            isinstance(self.num_classes, bool)
            or not isinstance(self.num_classes, numbers.Integral)
            or self.num_classes < 1
        ):
            raise ValueError(f"num_classes: expected a positive integer, got {self.num_classes!r}")
        names = tuple(self.class_names)
        if len(names) != self.num_classes:
            raise ValueError(f"class_names: expected {self.num_classes} names, got {len(names)}")
        lo, hi = _check_bounds(self.bounds, finite=False)
        x = np.asarray(self.x)
        if x.dtype != np.float32:
            if x.dtype.kind not in "fiu":
                raise ValueError(f"x: expected a float32 array, got dtype {x.dtype}")
            x = x.astype(np.float32)
        if x.ndim < 2:
            raise ValueError(
                f"x: expected shape (N, ...) with at least 2 dimensions, got {x.shape}"
            )
        y = np.asarray(self.y)
        if y.dtype.kind not in "iu":
            raise ValueError(f"y: expected integer labels, got dtype {y.dtype}")
        if y.shape != (x.shape[0],):
            raise ValueError(f"y: expected shape ({x.shape[0]},) to match x, got {y.shape}")
        y = y.astype(np.int32, copy=False)
        if y.size and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ValueError(
                f"y: labels must lie in [0, {self.num_classes}), got {int(y.min())}..{int(y.max())}"
            )
        if x.size:
            x_min, x_max = x.min(), x.max()
            if not (x_min >= np.float32(lo) and x_max <= np.float32(hi)):
                raise ValueError(f"x: values {x_min}..{x_max} outside bounds ({lo}, {hi})")
        classes = self.classes
        if classes is not None:
            classes = tuple(int(c) for c in classes)
            if len(classes) != self.num_classes:
                raise ValueError(
                    f"classes: expected {self.num_classes} original labels, got {classes}"
                )
        x_view, y_view = x.view(), y.view()
        x_view.flags.writeable = False
        y_view.flags.writeable = False
        object.__setattr__(self, "x", x_view)
        object.__setattr__(self, "y", y_view)
        object.__setattr__(self, "bounds", (lo, hi))
        object.__setattr__(self, "num_classes", int(self.num_classes))
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "classes", classes)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"input_shape={self.input_shape}, num_classes={self.num_classes}, "
            f"bounds={self.bounds}, source={self.source!r}, classes={self.classes})"
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example: (H, W, C) or (F,)."""
        return tuple(int(s) for s in self.x.shape[1:])

    def pipeline(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        augment: str | None = None,
        targets: np.ndarray | None = None,
        cache: bool = True,
        drop_remainder: bool = False,
    ) -> tf.data.Dataset:
        """A ``tf.data`` pipeline over this split (see :mod:`tfrobust.data.pipeline`).

        Args:
            batch_size: examples per batch, >= 1.
            shuffle: reshuffle every epoch with a buffer of the whole split.
            seed: non-negative integer; same seed, same batches.
            augment: None or ``"crop_flip"`` (pad 4 with the lower bound,
                random H x W crop, random horizontal flip; images only).
            targets: optional (N, ...) array aligned with ``x`` (e.g. IR
                target maps); the pipeline then yields ``((x, target), y)``
                and augments x and target with one random draw.
            cache: cache the examples before shuffle and augmentation.
            drop_remainder: drop the last partial batch.

        Returns:
            ``tf.data.Dataset`` of ``(x, y)`` or ``((x, target), y)``:
            x (B, *input_shape) float32, y (B,) int32.
        """
        from .pipeline import make_pipeline  # lazy: TensorFlow only when needed

        lo = self.bounds[0]
        return make_pipeline(
            self.x,
            self.y,
            batch_size,
            shuffle=shuffle,
            seed=seed,
            augment=augment,
            targets=targets,
            cache=cache,
            drop_remainder=drop_remainder,
            fill=lo if math.isfinite(lo) else 0.0,
        )


# --------------------------------------------------------------------------
# public functions


def load_dataset(
    name: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    classes: Sequence[int] | None = None,
    limit: int | None = None,
    bounds: tuple[float, float] | None = None,
    seed: int = 0,
    **options: Any,
) -> Dataset:
    """Load one split of a registered dataset into memory.

    Args:
        name: one of :data:`DATASETS`.
        split: ``"train"`` or ``"test"``.
        data_dir: directory with the original files (CLI ``--data-dir``);
            searched first, see :mod:`tfrobust.data.locate` for the order.
        classes: keep only these original labels, relabelled 0..k-1 in the
            order given (e.g. (5, 7): 5 -> 0, 7 -> 1; Tsipras 2.3).
        limit: keep the first ``limit`` examples in file order (after class
            filtering); more than available keeps all.
        bounds: value range (lo, hi) of x; default the spec's
            ``default_bounds``. Images are mapped linearly from 0..255 onto
            it; synthetic data is clipped into it.
        seed: non-negative integer for the synthetic datasets (ignored by
            file-backed ones); train and test use different streams.
        **options: dataset-specific (see :data:`DATASET_OPTIONS`):
            toy2d ``n_per_class``, ``geometry`` (``"kim_notebook"``: the
            authors' notebook data, or ``"tilted"``); tsipras ``d``, ``eta``,
            ``p``, ``n``.

    Returns:
        The :class:`Dataset`.

    Raises:
        ValueError: unknown name, split or option; bad classes, limit, bounds.
        DatasetNotFoundError: the files were found nowhere (one line).
        CorruptDataError: a file is truncated or garbled (names the file).
    """
    spec = _spec(name)
    _check_split(split)
    opts = _resolve_options(name, dict(options))
    lo, hi = _check_bounds(
        spec.default_bounds if bounds is None else bounds, finite=not spec.synthetic
    )
    keep = _check_classes(classes, spec.num_classes)
    limit = _check_limit(limit)
    seed = _check_seed(seed)

    if spec.synthetic:
        if name == "toy2d":
            x, y = synthetic.toy2d(split, seed=seed, bounds=(lo, hi), **opts)
        else:
            x, y = synthetic.tsipras(split, seed=seed, bounds=(lo, hi), **opts)
        source = "synthetic"
    else:
        location = sources.search(name, data_dir)
        x, y = sources.read_split(location, split)  # uint8, cached, read-only
        source = location.source

    # Select in file order: class filter first, then the first `limit` examples.
    index: np.ndarray | slice
    if keep is None:
        index = slice(0, limit)
        labels = y[index]
    else:
        index = np.flatnonzero(np.isin(y, keep))[:limit]
        lookup = np.full(spec.num_classes, -1, dtype=np.int32)
        lookup[list(keep)] = np.arange(len(keep), dtype=np.int32)
        labels = lookup[y[index]]

    if spec.synthetic:
        x_out = x[index]
    else:
        x_out = _scale_lut(lo, hi)[x[index]]
    return Dataset(
        name=name,
        split=split,
        x=x_out,
        y=np.asarray(labels, dtype=np.int32),
        bounds=(lo, hi),
        num_classes=len(keep) if keep is not None else spec.num_classes,
        class_names=tuple(spec.class_names[c] for c in keep)
        if keep is not None
        else spec.class_names,
        source=source,
        classes=keep,
    )


def locate_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> str:
    """Where a dataset would be loaded from.

    Args:
        name: one of :data:`DATASETS`.
        data_dir: as for :func:`load_dataset`.

    Returns:
        The directory holding the files, ``"tfds:<name>"``, or ``"synthetic"``.

    Raises:
        ValueError: unknown name.
        DatasetNotFoundError: not found (one line: where it looked, how to provide it).
    """
    spec = _spec(name)
    if spec.synthetic:
        return "synthetic"
    return sources.search(name, data_dir).source


def dataset_info(
    name: str, data_dir: str | os.PathLike[str] | None = None, **options: Any
) -> dict[str, Any]:
    """Summary of a dataset for ``tfrobust data info``; reads headers only where possible.

    Args:
        name: one of :data:`DATASETS`.
        data_dir: as for :func:`load_dataset`.
        **options: dataset-specific options, as for :func:`load_dataset`.

    Returns:
        dict with ``name``, ``source``, ``train_size``, ``test_size``,
        ``input_shape``, ``num_classes``, ``class_names``, ``bounds`` (the
        default bounds), ``synthetic`` and ``options`` (resolved
        dataset-specific options, e.g. the computed tsipras ``eta``).

    The sizes are those of complete files: idx files are decompressed and
    counted against their headers (images and labels must agree), CIFAR-10
    binary batches must hold whole records and python batches are decoded, so a
    truncated file fails here as it would in :func:`load_dataset`.

    Raises:
        ValueError: unknown name or option.
        DatasetNotFoundError: the files were found nowhere.
        CorruptDataError: a file is truncated or garbled (one line naming it).
    """
    spec = _spec(name)
    opts = _resolve_options(name, dict(options))
    input_shape = spec.input_shape
    if name == "toy2d":
        source, train_size = "synthetic", 2 * opts["n_per_class"]
        test_size = train_size
    elif name == "tsipras":
        source, train_size, test_size = "synthetic", opts["n"], opts["n"]
        input_shape = (opts["d"] + 1,)
    else:
        location = sources.search(name, data_dir)
        source = location.source
        train_size = sources.split_size(location, "train")
        test_size = sources.split_size(location, "test")
    return {
        "name": name,
        "source": source,
        "train_size": int(train_size),
        "test_size": int(test_size),
        "input_shape": tuple(input_shape),
        "num_classes": spec.num_classes,
        "class_names": spec.class_names,
        "bounds": spec.default_bounds,
        "synthetic": spec.synthetic,
        "options": opts,
    }
