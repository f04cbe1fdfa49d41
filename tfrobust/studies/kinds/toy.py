"""Kim et al. 2019 boundary tilt on the 2-D toy (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError
from tfrobust.registry import register
from tfrobust.studies.kinds.common import (
    check_known,
    int_param,
    plain,
    radii,
    real_param,
)

__all__ = ["toy_kind"]



TOY_PARAMS = ("eps", "epochs", "n", "seed", "attack_eps", "steps", "batch_size", "learning_rate", "geometry",
              "step_size", "random_start")


@register("kinds", "toy")
def toy_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Kim et al. 2019 sec. 2.2: boundary tilt of toy DNNs per l2 training eps (no dependencies).

    Params (:func:`tfrobust.theory.toy_experiment`): ``eps`` (training radii,
    a number or a list; 0: standard; default [0, 0.25, 0.5]), ``epochs`` (10),
    ``n`` (3000 points per class and split), ``seed`` (0), ``attack_eps`` (1),
    ``steps`` (40), ``batch_size`` (128), ``learning_rate`` (1e-3),
    ``geometry`` (``kim_notebook``, the authors' data, or ``tilted``),
    ``step_size`` (PGD step, Kim's notebook 2, cut to 2 eps; null: 2.5
    eps / steps), ``random_start`` (false, Kim's notebook).

    Writes ``tilt.csv`` and ``toy.png`` into ``out_dir`` (atomically).

    Returns:
        ``tilt_<eps>`` (degrees), ``clean_accuracy_<eps>`` and
        ``robust_accuracy_<eps>`` per training eps.
    """
    check_known("toy", params, TOY_PARAMS)
    eps_value = params.get("eps", [0.0, 0.25, 0.5])
    eps = radii(eps_value, "toy.eps")
    if len(set(eps)) != len(eps):
        raise ConfigError(f"toy.eps: duplicate radii in {eps_value!r}")
    kwargs: dict[str, Any] = {"eps_list": eps}
    for name in ("epochs", "n", "steps", "batch_size"):
        if name in params:
            kwargs[name] = int_param("toy", params, name, None, 1)
    for name in ("attack_eps", "learning_rate"):
        if params.get(name) is not None:
            kwargs[name] = real_param("toy", params, name, None)
    seed = int(int_param("toy", params, "seed", 0, 0) or 0)
    if "step_size" in params:  # null: PGD's default 2.5 eps / steps
        kwargs["step_size"] = real_param("toy", params, "step_size", None)
    if not isinstance(params.get("random_start", False), bool):
        raise ConfigError(f"toy.random_start must be true or false, got {params['random_start']!r}")
    kwargs["random_start"] = params.get("random_start", False)
    geometry = params.get("geometry", "kim_notebook")
    if geometry not in ("kim_notebook", "tilted"):
        raise ConfigError(f"toy.geometry: kim_notebook or tilted, got {geometry!r}")

    from tfrobust.theory import toy_experiment

    rows = toy_experiment(**kwargs, seed=seed, out_dir=out_dir, geometry=geometry)
    metrics: dict[str, Any] = {}
    for row in rows:
        label = f"{float(row['train_eps']):g}"
        metrics[f"tilt_{label}"] = plain(row["tilt_degrees"])
        metrics[f"clean_accuracy_{label}"] = plain(row["clean_accuracy"])
        metrics[f"robust_accuracy_{label}"] = plain(row["robust_accuracy"])
    return metrics
