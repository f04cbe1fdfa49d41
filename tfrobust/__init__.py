"""tfrobust: adversarial robustness and gradient interpretability for Keras 3.

Subpackages are imported lazily so that ``tfrobust.config`` and
``tfrobust.reports`` stay free of TensorFlow (docs/architecture.md, Layers).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
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

__all__ = ["__version__", "lazy_exports", *_SUBPACKAGES]


def lazy_exports(package: str, homes: Mapping[str, str], modules: Sequence[str] = ()
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """PEP 562 ``__getattr__`` and ``__dir__`` for a package that imports its modules on first use.

    Args:
        package: the package's ``__name__``.
        homes: public name -> the submodule (relative) that defines it.
        modules: submodules reachable as attributes of the package.

    Usage in a package's ``__init__.py``: ``__getattr__, __dir__ = lazy_exports(__name__, _HOMES, _MODULES)``.
    A loaded name is stored in the package, so later accesses skip ``__getattr__``.
    """

    def __getattr__(name: str) -> Any:
        if name in modules:
            return importlib.import_module(f"{package}.{name}")
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *homes, *modules})

    return __getattr__, __dir__


__getattr__, __dir__ = lazy_exports(__name__, {}, _SUBPACKAGES)
