"""Datasets for tfrobust: original files, synthetic distributions, tf.data pipelines.

Public API (docs/architecture.md, Data)::

    ds = load_dataset("mnist", "train", data_dir="~/data", classes=(5, 7), limit=1000)
    ds.x, ds.y, ds.bounds          # (N, 28, 28, 1) float32 in bounds, (N,) int32
    train = ds.pipeline(128, shuffle=True, seed=0)

``augment_pair`` and the pipeline module import TensorFlow on first use, so
``load_dataset`` / ``dataset_info`` stay light (e.g. for ``tfrobust data info``).
This package imports nothing from other tfrobust subpackages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .datasets import (
    CLASS_NAMES,
    DATASET_OPTIONS,
    DATASETS,
    Dataset,
    DatasetSpec,
    class_name,
    dataset_info,
    load_dataset,
    locate_dataset,
)
from .errors import CorruptDataError, DatasetNotFoundError

if TYPE_CHECKING:
    from .pipeline import augment_pair

__all__ = [
    "CLASS_NAMES",
    "class_name",
    "DATASETS",
    "DATASET_OPTIONS",
    "DatasetSpec",
    "Dataset",
    "load_dataset",
    "locate_dataset",
    "dataset_info",
    "augment_pair",
    "DatasetNotFoundError",
    "CorruptDataError",
]


def __getattr__(name: str) -> Any:
    if name == "augment_pair":
        from .pipeline import augment_pair

        return augment_pair
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
