"""Exceptions raised by the data layer.

Both carry a one-line message meant to be printed as-is by the CLI
(docs/architecture.md, Data: a missing dataset is one error line that says where
it looked and how to provide the files).
"""

from __future__ import annotations

__all__ = ["DatasetNotFoundError", "CorruptDataError"]


class DatasetNotFoundError(FileNotFoundError):
    """A file-backed dataset was not found in any place of the search order.

    The message is one line: the places searched and how to provide the files.
    """


class CorruptDataError(ValueError):
    """A dataset file exists but is truncated, garbled or not of the expected format.

    The message is one line and names the offending file. Also raised by the
    restricted CIFAR-10 unpickler when a pickle asks for anything but plain
    containers, numbers, strings and numpy arrays.
    """
