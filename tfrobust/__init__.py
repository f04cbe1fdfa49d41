"""tfrobust: adversarial robustness and gradient interpretability for Keras 3.

Subpackages are imported lazily so that ``tfrobust.config`` and
``tfrobust.reports`` stay free of TensorFlow (docs/architecture.md, Layers).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBPACKAGES = (
    "config",
    "data",
    "models",
    "attacks",
    "attribution",
    "training",
    "evaluation",
    "theory",
    "studies",
    "reports",
)

__all__ = ["__version__", *_SUBPACKAGES]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'tfrobust' has no attribute {name!r}")
