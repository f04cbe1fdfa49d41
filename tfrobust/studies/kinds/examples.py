"""Adversarial examples and interpolations (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from tfrobust.config import ConfigError, check_int
from tfrobust.registry import ATTACKS, NORMS, register
from tfrobust.studies.kinds.common import plain, predict, save_npz

__all__ = ["EXAMPLES_CW_KAPPA", "EXAMPLES_PGD_DEFAULTS", "attack_options", "check_params", "examples_kind"]

#: What the kind changes of PGD's own defaults: Tsipras's "iteratively following the loss gradient" from the
#: image itself (no random start), 100 steps. With ``objective: cw`` the cap ``kappa`` is set out of reach too.
EXAMPLES_PGD_DEFAULTS: dict[str, Any] = {"steps": 100, "random_start": False}
#: The CW cap of ``objective: cw`` (:func:`tfrobust.theory.large_eps_examples`): past the decision boundary.
EXAMPLES_CW_KAPPA = 1e6
_BATCH = 256


def attack_options(attack: str, options: Mapping[str, Any] | None, *, kind: str) -> dict[str, Any]:
    """The options ``attack`` runs with: for ``pgd`` :data:`EXAMPLES_PGD_DEFAULTS` under ``options``, checked.

    Raises:
        ConfigError: an unknown attack, or an option it does not take (one line
            naming ``<kind>.options``).
    """
    entry = ATTACKS[attack]
    given = dict(options or {})
    if attack == "pgd":
        given = {**EXAMPLES_PGD_DEFAULTS, **given}
        if given.get("objective") == "cw" and "kappa" not in given:
            given["kappa"] = EXAMPLES_CW_KAPPA
    return entry.parse(given, prefix=f"{kind}.options")


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """What the examples kind refuses before loading anything; returns the attack's options.

    ``params`` are the kind's params as its signature converts them (missing
    ones take the signature's defaults).

    Raises:
        ConfigError: one line naming ``examples.<param>``.
    """
    eps = params.get("eps")
    if eps is not None and eps < 0:
        raise ConfigError(f"examples.eps must be >= 0 (data units, e.g. linf 0.3, l2 4), got {eps!r}")
    check_int(params.get("n", 8), name="examples.n", minimum=1)
    if check_int(params.get("interpolation", 0), name="examples.interpolation", minimum=0) == 1:
        raise ConfigError("examples.interpolation: give >= 2 points (both ends) or 0 for none, got 1")
    check_int(params.get("seed", 0), name="examples.seed", minimum=0)
    norm = params.get("norm", "l2")
    if norm not in NORMS:
        raise ConfigError(f"examples.norm: unknown norm {norm!r}; choose from: {', '.join(NORMS.names())}")
    return attack_options(params.get("attack", "pgd"), params.get("options"), kind="examples")


@register("kinds", "examples")
def examples_kind(
    deps: Mapping[str, Path],
    out_dir: Path,
    *,
    eps: float,
    norm: str = "l2",
    attack: str = "pgd",
    options: Mapping[str, Any] | None = None,
    n: int = 8,
    interpolation: int = 0,
    split: Literal["train", "test"] = "test",
    seed: int = 0,
) -> Mapping[str, Any]:
    """Adversarial examples (and interpolations) of the one dependency ``train`` cell's model.

    Any registered attack (:data:`tfrobust.registry.ATTACKS`) within the
    ``norm`` ball of radius ``eps``, clipped to the data's bounds. The
    default, PGD, runs from the image itself (no random start) for 100 steps
    (:data:`EXAMPLES_PGD_DEFAULTS`; its step size defaults to 2.5 eps /
    steps), as :func:`tfrobust.theory.large_eps_examples`: large radii give
    Tsipras's large-eps examples (Table 3, MNIST on [0, 1]: linf 0.3, l2 4),
    small ones Kim's Fig. 2 examples. With ``objective: cw`` PGD runs with
    Tsipras's out-of-reach cap (``kappa`` 1e6), i.e. past the boundary.

    Params: ``eps`` (required, data units, ``8/255`` allowed), ``norm``,
    ``attack`` (a name of ATTACKS), ``options`` (the attack's options, e.g.
    ``{steps: 40, step_size: 2.0, objective: xent}`` for PGD), ``n``
    (images), ``interpolation`` (points including both ends, >= 2; 0: none),
    ``split``, ``seed`` (batch b of 256 images attacks with ``seed + b``).
    The data are the first ``n`` images of the train cell's dataset, bounds
    and classes.

    Writes ``images.npz``: ``x`` (n, H, W, C) float32, ``x_adv``, ``y`` (n,)
    int, ``pred`` and ``pred_x_adv`` (n,) int (the prediction on ``x_adv``),
    ``pred_x`` (on ``x``), ``bounds`` (2,) float32 and, with interpolation,
    ``path`` (n, S, H, W, C) from ``x`` (``path[:, 0]``) to ``x_adv``
    (``path[:, -1]``) (:func:`tfrobust.theory.interpolate`) and ``pred_path``
    (n, S) int, the prediction at every step.

    Returns:
        ``fooled`` (fraction with pred != y), ``mean_l2`` and ``mean_linf``
        (of x_adv - x), ``n``.
    """
    opts = check_params({"eps": eps, "norm": norm, "n": n, "interpolation": interpolation, "seed": seed,
                         "attack": attack, "options": options})

    import numpy as np

    from tfrobust.attacks import Attack
    from tfrobust.theory import interpolate
    from tfrobust.training.rundir import dependency_run

    run = dependency_run("examples", deps)
    ds = run.load_split(split, limit=n, seed=int(run.config.get("seed") or 0))
    x = np.asarray(ds.x, np.float32)
    y = np.asarray(ds.y).astype(np.int64)
    bounds = (float(ds.bounds[0]), float(ds.bounds[1]))
    adversary = Attack.build(attack, norm=norm, eps=eps, bounds=bounds, options=opts, input_shape=x.shape[1:],
                             prefix="examples.options")  # refuses e.g. a PGD step longer than the ball
    model = run.load_model()
    x_adv = np.concatenate([
        np.asarray(adversary(model, x[i:i + _BATCH], y[i:i + _BATCH], seed=seed + i // _BATCH), np.float32)
        for i in range(0, len(x), _BATCH)])
    pred = predict(model, x_adv)
    arrays: dict[str, Any] = {"x": x, "x_adv": x_adv, "y": y, "pred": pred, "pred_x": predict(model, x),
                              "pred_x_adv": pred, "bounds": np.asarray(bounds, np.float32),
                              "class_names": np.asarray(ds.class_names, dtype=str)}
    if interpolation:
        path = np.moveaxis(interpolate(x, x_adv, interpolation), 0, 1)
        arrays["path"] = path
        arrays["pred_path"] = predict(model, path.reshape(-1, *x.shape[1:])).reshape(path.shape[:2])
    save_npz(out_dir / "images.npz", **arrays)
    delta = (x_adv.astype(np.float64) - x).reshape(len(x), -1)
    return {"fooled": plain(np.mean(pred != y)), "mean_l2": plain(np.linalg.norm(delta, axis=1).mean()),
            "mean_linf": plain(np.abs(delta).max(axis=1).mean()), "n": len(x)}
