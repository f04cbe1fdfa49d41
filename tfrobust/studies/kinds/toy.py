"""Kim et al. 2019 boundary tilt on the 2-D toy (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from tfrobust.config import ConfigError, check_int
from tfrobust.registry import register
from tfrobust.studies.kinds.common import plain, radii

__all__ = ["check_params", "toy_kind"]


@register("kinds", "toy")
def toy_kind(
    deps: Mapping[str, Path],
    out_dir: Path,
    *,
    eps: float | Sequence[float] = (0.0, 0.25, 0.5),
    epochs: int = 10,
    n: int = 3000,
    seed: int = 0,
    attack_eps: float = 1.0,
    steps: int = 40,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    geometry: Literal["kim_notebook", "tilted"] = "kim_notebook",
    step_size: float | None = 2.0,
    random_start: bool = False,
) -> Mapping[str, Any]:
    """Kim et al. 2019 sec. 2.2: boundary tilt of toy DNNs per l2 training eps (no dependencies).

    Params (:func:`tfrobust.theory.toy_experiment`, same defaults): ``eps``
    (training radii, a number or a list; 0: standard; [0, 0.25, 0.5]),
    ``epochs`` (10), ``n`` (3000 points per class and split), ``seed`` (0),
    ``attack_eps`` (1), ``steps`` (40), ``batch_size`` (128),
    ``learning_rate`` (1e-3), ``geometry`` (``kim_notebook``, the authors'
    data, or ``tilted``), ``step_size`` (PGD step, Kim's notebook 2, cut to
    2 eps; None: 2.5 eps / steps), ``random_start`` (false, Kim's notebook).

    Writes ``tilt.csv`` and ``toy.png`` into ``out_dir`` (atomically).

    Returns:
        ``tilt_<eps>`` (degrees), ``clean_accuracy_<eps>`` and
        ``robust_accuracy_<eps>`` per training eps.
    """
    eps_list = _plan({"eps": eps, "epochs": epochs, "n": n, "steps": steps, "batch_size": batch_size,
                      "seed": seed, "step_size": step_size})

    from tfrobust.theory import toy_experiment

    rows = toy_experiment(eps_list=eps_list, epochs=epochs, n=n, seed=seed, attack_eps=attack_eps, steps=steps,
                          batch_size=batch_size, learning_rate=learning_rate, out_dir=out_dir, geometry=geometry,
                          step_size=step_size, random_start=random_start)
    metrics: dict[str, Any] = {}
    for row in rows:
        label = f"{float(row['train_eps']):g}"
        metrics[f"tilt_{label}"] = plain(row["tilt_degrees"])
        metrics[f"clean_accuracy_{label}"] = plain(row["clean_accuracy"])
        metrics[f"robust_accuracy_{label}"] = plain(row["robust_accuracy"])
    return metrics


def _plan(params: Mapping[str, Any]) -> list[float]:
    value = params.get("eps", (0.0, 0.25, 0.5))
    eps = radii(value, "toy.eps")
    if len(set(eps)) != len(eps):
        raise ConfigError(f"toy.eps: duplicate radii in {value!r}")
    for name in ("epochs", "n", "steps", "batch_size"):
        if name in params:
            check_int(params[name], name=f"toy.{name}", minimum=1)
    check_int(params.get("seed", 0), name="toy.seed", minimum=0)
    step_size = params.get("step_size")
    if step_size is not None and step_size <= 0:
        raise ConfigError(f"toy.step_size must be > 0, got {step_size!r}")
    return eps


def check_params(params: Mapping[str, Any]) -> None:
    """What the toy kind refuses before any work (one line naming ``toy.<param>``)."""
    _plan(params)
