"""Distance of clean and adversarial images to the data manifold (Kim et al. 2019 sec. 2.1).

Ref: Kim, Seo & Jeon 2019, sec. 2.1 (``d_pi(x) = ||x - pi(x)||_2`` with a
VAE-GAN projection ``pi``; Fig. 1 histograms, Fig. 2 examples) and appendix
B.1 (the analysed attacks: l2 PGD, 40 iterations, cross-entropy, eps = 12).

Units: eps and distances are l2 norms in the data's own units. Kim normalises
every dataset to [-1, 1] (A.1), so the default ``eps=12`` is B.1's value for
[-1, 1] images; for data in [0, 1] the same geometry is ``eps=6``. On a 28x28
image in [-1, 1] the largest possible l2 distance is 56, so eps = 12 is a
large attack: against a standard classifier almost every attack succeeds.

Failed attacks are dropped, as in the paper ("attacks which failed to change
the prediction are removed"): an adversarial example counts when the
classifier's prediction on it differs from its prediction on the clean image.

The attack is any registered one (:data:`tfrobust.registry.ATTACKS`, the
attack protocol of :mod:`tfrobust.attacks.protocol`). The default, PGD, runs
as the authors' code (1202kbs/Robustness-and-Interpretability, ``2.3 FMNIST
Gradient Analysis.ipynb``, ``evaluate``) attacks: ``GM(eps=12, step_size=2,
n_steps=40, norm='2')``, i.e. no random start (``attacks.py``:
``random_start=False``), a fixed step of 2 along the normalised gradient
(:data:`KIM_STEP_SIZES`, cut to the ball's diameter ``2 * eps``) and, for the
CW objective, the cap 500 (:data:`KIM_PGD_DEFAULTS`, merged under the
caller's options by :func:`manifold_attack_options`). Their projection is a sampled
reconstruction ``dec(mean + sigma * e)`` (``vae_gans.py``, ``reconstruct``
returns ``X_tilde``): :func:`sampled_projection`. One difference stays: they
judge success with the *standard* model's predictions for every attacked
model (here: the attacked classifier's).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfrobust.attacks import Attack, call_model
from tfrobust.attacks.checks import check_eps
from tfrobust.config import ConfigError, check_int, parse_number
from tfrobust.evaluation.distance import manifold_distance
from tfrobust.evaluation.figures import atomic_savefig, display_images
from tfrobust.evaluation.vaegan_training import (  # re-exported: they lived here before
    VAEGAN_BATCH_SIZE,
    VAEGAN_BOUNDS,
    VAEGAN_CONFIG_KEYS,
    read_history,
    read_vaegan_config,
    train_vaegan,
    vaegan_settings,
    write_reconstructions,
)
from tfrobust.registry import ATTACKS

__all__ = ["KIM_EPS", "KIM_KAPPA", "KIM_PGD_DEFAULTS", "KIM_STEPS", "KIM_STEP_SIZES", "VAEGAN_BATCH_SIZE",
           "VAEGAN_BOUNDS", "VAEGAN_CONFIG_KEYS", "manifold_attack", "manifold_attack_options", "manifold_distance",
           "manifold_study", "plot_adversarial_grid", "plot_manifold_histogram", "read_history", "read_vaegan_config",
           "sampled_projection", "train_vaegan", "vaegan_settings", "write_reconstructions"]

#: Kim et al. 2019 B.1: the analysed attacks (l2, eps 12 on [-1, 1] data, PGD-40, cross-entropy).
KIM_EPS = 12.0
KIM_STEPS = 40
#: Kim's code: fixed steps (l2: 2 along the normalised gradient; linf: 0.02 sign steps), no random start.
KIM_STEP_SIZES: dict[str, float] = {"l2": 2.0, "linf": 0.02}
#: Kim's code: the CW surrogate ``min(max_{j != y} z_j - z_y, 500)``, i.e. practically uncapped.
KIM_KAPPA = 500.0
#: What the manifold study changes of PGD's own defaults (Kim's code); the step size comes from
#: :data:`KIM_STEP_SIZES` (see :func:`manifold_attack_options`).
KIM_PGD_DEFAULTS: dict[str, Any] = {"steps": KIM_STEPS, "random_start": False, "kappa": KIM_KAPPA}


def _radius(eps: Any) -> float:
    return check_eps(parse_number(eps, name="eps") if isinstance(eps, str) else eps)


def manifold_attack_options(attack: str = "pgd", options: Mapping[str, Any] | None = None, *, norm: str,
                            eps: Any, prefix: str = "options") -> dict[str, Any]:
    """The options ``attack`` runs with in :func:`manifold_study`, parsed by its registry entry.

    For ``pgd``, Kim's code's values (:data:`KIM_PGD_DEFAULTS`; ``step_size``
    :data:`KIM_STEP_SIZES` of ``norm`` cut to the ball's diameter ``2 * eps``,
    for ``eps > 0`` and a norm listed there) lie under ``options``: an option
    given wins (``step_size: None`` is PGD's own ``2.5 * eps / steps``).
    Other attacks get ``options`` alone.

    Raises:
        ValueError: an unknown attack, an option it does not take or of the
            wrong type, or a bad ``eps`` (one line naming ``prefix``).
    """
    entry = ATTACKS[attack]
    if options is not None and not isinstance(options, Mapping):
        raise ValueError(f"{prefix} must be a mapping of the attack's options, got {options!r}")
    given = dict(options or {})
    if attack == "pgd":
        radius = _radius(eps)
        defaults: dict[str, Any] = dict(KIM_PGD_DEFAULTS)
        if norm in KIM_STEP_SIZES and radius > 0:
            defaults["step_size"] = min(KIM_STEP_SIZES[norm], 2 * radius)
        given = {**defaults, **given}
    return entry.parse(given, prefix=prefix)


def manifold_attack(attack: str = "pgd", options: Mapping[str, Any] | None = None, *, norm: str, eps: Any,
                    bounds: Any, input_shape: Any = None, prefix: str = "options") -> Attack:
    """The attack of :func:`manifold_study`, checked: ``attack`` with :func:`manifold_attack_options`.

    Raises:
        ValueError: one line; what :meth:`tfrobust.attacks.Attack.build` refuses
            (an unknown attack or norm, a bad option, a PGD step longer than the
            ball's diameter, ...), starting with ``prefix`` where it names an option.
    """
    parsed = manifold_attack_options(attack, options, norm=norm, eps=eps, prefix=prefix)
    try:
        return Attack.build(attack, norm=norm, eps=_radius(eps), bounds=bounds, options=parsed,
                            input_shape=input_shape, prefix=prefix)
    except ValueError as err:
        text = " ".join(str(err).split())
        if text.startswith(prefix) or not any(text.startswith(name) for name in parsed):
            raise
        raise ConfigError(f"{prefix}: {text}") from None


def sampled_projection(vaegan: Any, *, seed: int = 0) -> Callable[[Any], np.ndarray]:
    """The projection of Kim's code, ``dec(mean + sigma * e)`` with fresh ``e ~ N(0, I)`` per call.

    A projector for :func:`manifold_distance` / :func:`manifold_study`: call
    ``c`` decodes latents drawn with seed ``(seed, c)`` (the same draws for the
    same sequence of calls), so batches get independent noise.
    """
    calls = itertools.count()

    def project(x: Any) -> np.ndarray:
        return vaegan.project(x, sample=True, seed=int(seed) * 1_000_003 + next(calls))

    return project


def _predict(classifier: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    preds = [np.argmax(np.asarray(call_model(classifier, x[s:s + batch_size])), axis=-1)
             for s in range(0, len(x), batch_size)]
    return np.concatenate(preds).astype(np.int64) if preds else np.zeros(0, np.int64)


def _data_arrays(data: Any, bounds: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    if hasattr(data, "x") and hasattr(data, "y"):
        x, y = data.x, data.y
        bounds = bounds if bounds is not None else getattr(data, "bounds", None)
    else:
        try:
            x, y = data
        except (TypeError, ValueError):
            raise ValueError("data must be a tfrobust Dataset or a pair (x, y)") from None
    if bounds is None:
        raise ValueError("bounds: give the data's value range (a Dataset carries it)")
    x = np.asarray(x, np.float32)
    y = np.asarray(y).astype(np.int64).reshape(-1)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
    if len(x) == 0:
        raise ValueError("data is empty")
    lo, hi = (float(b) for b in bounds)
    return x, y, (lo, hi)


def manifold_study(
    classifier: Any,
    projector: Callable[[Any], Any],
    data: Any,
    *,
    eps: float = KIM_EPS,
    norm: str = "l2",
    attack: str = "pgd",
    options: Mapping[str, Any] | None = None,
    bounds: tuple[float, float] | None = None,
    batch_size: int = 256,
    seed: int = 0,
    examples: int = 8,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """d_pi of clean test images and of successful adversarial examples (Kim et al. 2019 sec. 2.1).

    Attacks every example with a registered attack (PGD as Kim's code by
    default), keeps the adversarial examples that change the classifier's
    prediction and measures the distance of both populations to the manifold.

    Args:
        classifier: a Keras classifier (logits) or logits callable.
        projector: ``pi``, see :func:`manifold_distance`.
        data: a :class:`tfrobust.data.Dataset` or a pair ``(x, y)``: (N, ...)
            float32 within ``bounds`` and (N,) int labels.
        eps: attack radius in data units (default 12: B.1 for [-1, 1] data).
        norm: a registered norm: ``"l2"`` (the paper's analysis), ``"linf"``, ...
        attack: a name of :data:`tfrobust.registry.ATTACKS`.
        options: the attack's options; for ``pgd`` over Kim's code's values
            (:func:`manifold_attack_options`: 40 steps, step 2 for l2 and
            0.02 for linf cut to ``2 * eps``, no random start, CW cap 500).
        bounds: value range; default ``data.bounds``.
        batch_size: examples per attack / projection batch.
        seed: attack seed (batch b uses ``seed + b``).
        examples: how many of the first examples to keep in ``"examples"`` for
            :func:`plot_adversarial_grid`.
        progress: optional ``progress(message)`` called per batch.

    Returns:
        A dict with
        ``clean`` (N,) d_pi of the clean images;
        ``adversarial`` (M,) d_pi of the successful adversarial examples;
        ``adversarial_index`` (M,) their example indices;
        ``success`` (N,) bool, the attack changed the prediction;
        ``success_rate`` M / N; ``clean_accuracy`` and ``adversarial_accuracy``
        (accuracy on the attacked images) in [0, 1];
        ``n``, ``eps``, ``norm``, ``attack`` (its name), ``options`` (the
        options it ran with, Kim's defaults included) and ``settings`` (what
        its checker reported; PGD: ``steps``, the ``step_size`` it took,
        ``objective``);
        ``examples``: dict of arrays ``index``, ``x``, ``x_projection``,
        ``x_adv``, ``x_adv_projection``, ``success`` for the first ``examples``
        images.

    Raises:
        ValueError: bad arguments or options (one line) or data outside ``bounds``.
    """
    size = check_int(batch_size, name="batch_size", minimum=1)
    x, y, lo_hi = _data_arrays(data, bounds)
    examples = check_int(examples, name="examples", minimum=0)
    adversary = manifold_attack(attack, options, norm=norm, eps=eps, bounds=lo_hi, input_shape=x.shape[1:])
    n = len(x)
    x_adv = np.empty_like(x)
    batches = math.ceil(n / size)
    for b, start in enumerate(range(0, n, size)):
        x_adv[start:start + size] = np.asarray(
            adversary(classifier, x[start:start + size], y[start:start + size], seed=seed + b))
        if progress is not None:
            progress(f"attacked {min(start + size, n)}/{n} (batch {b + 1}/{batches})")
    clean_pred = _predict(classifier, x, size)
    adv_pred = _predict(classifier, x_adv, size)
    success = adv_pred != clean_pred
    index = np.flatnonzero(success)
    d_clean = manifold_distance(projector, x, batch_size=size)
    d_adv = manifold_distance(projector, x_adv[index], batch_size=size)
    k = min(int(examples), n)
    shown = {
        "index": np.arange(k),
        "x": x[:k],
        "x_projection": np.asarray(projector(x[:k]), np.float32) if k else x[:0],
        "x_adv": x_adv[:k],
        "x_adv_projection": np.asarray(projector(x_adv[:k]), np.float32) if k else x[:0],
        "success": success[:k],
    }
    return {
        "clean": d_clean,
        "adversarial": d_adv,
        "adversarial_index": index,
        "success": success,
        "success_rate": float(success.mean()),
        "clean_accuracy": float(np.mean(clean_pred == y)),
        "adversarial_accuracy": float(np.mean(adv_pred == y)),
        "n": n,
        "eps": adversary.eps,
        "norm": norm,
        "attack": adversary.name,
        "options": dict(adversary.options),
        "settings": dict(adversary.settings),
        "examples": shown,
    }


def plot_manifold_histogram(results_by_model: Mapping[str, Mapping[str, Any]], out_png: str | os.PathLike, *,
                            bins: int = 50, title: str | None = None) -> Path:
    """Histograms of d_pi in the layout of Kim et al. 2019 Fig. 1 (one dataset's panel).

    Draws the clean test images once (as reference, when every model saw the
    same images; else once per model) and the successful adversarial
    examples of each classifier, as density-normalised step histograms on
    shared bins. Written with matplotlib's Agg backend, atomically.

    Args:
        results_by_model: label -> :func:`manifold_study` result (needs
            ``clean`` and ``adversarial``), in legend order.
        out_png: the PNG path.
        bins: number of shared bins.
        title: panel title (e.g. the dataset name).

    Returns:
        The PNG path.
    """
    from matplotlib.figure import Figure

    if not results_by_model:
        raise ValueError("results_by_model is empty")
    cleans = [np.asarray(r["clean"], np.float64) for r in results_by_model.values()]
    shared = all(c.shape == cleans[0].shape and np.allclose(c, cleans[0]) for c in cleans)
    series: list[tuple[str, np.ndarray, str]] = []
    if shared:
        series.append(("test images", cleans[0], "--"))
    for label, result in results_by_model.items():
        if not shared:
            series.append((f"test images ({label})", np.asarray(result["clean"], np.float64), "--"))
        adv = np.asarray(result["adversarial"], np.float64)
        series.append((f"{label} (adv., n={adv.size})", adv, "-"))
    values = np.concatenate([s[1] for s in series if s[1].size])
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, int(bins) + 1)
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for label, d, style in series:
        if d.size:
            ax.hist(d, bins=edges.tolist(), density=True, histtype="step", linestyle=style, linewidth=1.5, label=label)
        else:
            ax.plot([], [], linestyle=style, label=f"{label}: none")
    ax.set_xlabel(r"$d_\pi(x) = \|x - \pi(x)\|_2$")
    ax.set_ylabel("density")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return atomic_savefig(fig, out_png)


def plot_adversarial_grid(results_by_model: Mapping[str, Mapping[str, Any]], out_png: str | os.PathLike, *,
                          bounds: Sequence[float]) -> Path:
    """Clean images, adversarial examples and their projections (Kim et al. 2019 Fig. 2).

    One row per example; columns: the clean image and its projection, then
    for each classifier its adversarial example and that example's
    projection. Adversarial examples whose attack failed (dropped from the
    histograms) are labelled "failed".

    Args:
        results_by_model: label -> :func:`manifold_study` result (its ``examples``).
        out_png: the PNG path.
        bounds: (lo, hi) value range of the images.

    Returns:
        The PNG path.
    """
    from matplotlib.figure import Figure

    if not results_by_model:
        raise ValueError("results_by_model is empty")
    lo, hi = (float(b) for b in bounds)
    if not lo < hi:
        raise ValueError(f"bounds must satisfy lo < hi, got {tuple(bounds)}")
    first = next(iter(results_by_model.values()))["examples"]
    rows = len(first["x"])
    if rows == 0:
        raise ValueError("the results hold no examples to draw")
    columns: list[tuple[str, np.ndarray, np.ndarray | None]] = [
        ("clean", first["x"], None), (r"$\pi$(clean)", first["x_projection"], None)]
    for label, result in results_by_model.items():
        ex = result["examples"]
        columns.append((f"adv. {label}", ex["x_adv"], np.asarray(ex["success"])))
        columns.append((r"$\pi$" + f"(adv. {label})", ex["x_adv_projection"], None))
    fig = Figure(figsize=(1.3 * len(columns), 1.3 * rows + 0.5))
    axes = fig.subplots(rows, len(columns), squeeze=False)
    for c, (title, images, success) in enumerate(columns):
        shown = display_images(np.asarray(images, np.float32), (lo, hi))
        for r in range(rows):
            ax = axes[r, c]
            ax.imshow(shown[r], cmap="gray" if shown.ndim == 3 else None, vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=7)
            if success is not None and not success[r]:
                ax.set_xlabel("failed", fontsize=7, color="tab:red")
    fig.tight_layout()
    return atomic_savefig(fig, out_png)
