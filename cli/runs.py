"""Glue for the commands that read a trained run; the run itself is :func:`tfrobust.training.rundir.open_run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["model_and_data", "model_file", "open_run", "parse_methods"]


def open_run(path: str | Path, **kwargs: Any) -> Any:
    """:func:`tfrobust.training.rundir.open_run` (imports TensorFlow quietly first); see it for ``kwargs``.

    Raises:
        FileNotFoundError: no model file there; ConfigError: an unreadable
            ``config.yaml`` (one line naming the path).
    """
    from cli import import_tensorflow_quietly

    import_tensorflow_quietly()
    from tfrobust.training.rundir import open_run as open_trained_run

    return open_trained_run(path, **kwargs)


def model_file(model: str, *, filename: str = "model.keras", what: str = "trained model",
               directory: str = "a run directory") -> Path:
    """The model file of a run directory (``filename`` in it) or a path to one; FileNotFoundError if absent."""
    return open_run(model, filename=filename, what=what, directory=directory).model_file


def parse_methods(text: str) -> list[str]:
    """``--method a,b``: attribution names from ``tfrobust.registry.ATTRIBUTIONS``, no repeats."""
    from tfrobust.registry import ATTRIBUTIONS

    names = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in ATTRIBUTIONS]
    if bad or not names:
        raise click.BadParameter(f"choose from {', '.join(ATTRIBUTIONS)} (comma-separated), got {text!r}",
                                 param_hint="--method")
    if len(set(names)) != len(names):
        raise click.BadParameter(f"a method is named twice in {text!r}", param_hint="--method")
    return names


def model_and_data(model_path: str, *, dataset: str | None, split: str, data_dir: str | None,
                   classes: str | None, limit: int | None, bounds: str | None, seed: int) -> tuple[Path, Any, Any]:
    """A trained model (safe mode) and the data to run it on (:meth:`~tfrobust.training.rundir.Run.data_for`).

    Returns:
        ``(model_file, model, dataset)``.

    Raises:
        FileNotFoundError, ValueError: no model there, an unreadable run, bad
            data settings, or a model whose input shape does not fit the data.
    """
    run = open_run(model_path)
    data = run.data_for(dataset=dataset, data_dir=data_dir, classes=classes, limit=limit, bounds=bounds)
    ds = run.load_split(split, seed=seed, data=data)
    return run.model_file, run.load_model(tuple(ds.input_shape), data_name=data.name), ds
