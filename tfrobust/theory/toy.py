"""Boundary tilting on Kim et al.'s 2-D toy data (Kim, Seo, Jeon 2019, sec. 2.2, Fig. 3b).

Kim et al. conjecture that a standard network's decision boundary is *tilted*
away from the direction that separates the classes, and that adversarial
training removes the tilt, the more so the larger the training eps. This module
makes the tilt a number (:func:`boundary_tilt`), runs the experiment of their
appendix B.2 (:func:`toy_experiment`: the A.2 two-layer ReLU DNN trained
standard and with l2 PGD adversarial training at eps 0.25 and 0.5) and draws
the Fig. 3b panels (:func:`plot_toy`: decision regions, data, l2 eps = 1
adversarial examples).

Data: ``toy2d`` (:func:`tfrobust.data.synthetic.toy2d`), by default the
geometry of the authors' notebook (``geometry="kim_notebook"``: means
+-(1.2, 0.1), covariance [[0.1, -0.01], [-0.01, 0.002]], min-max scaled into
[-1, 1]); ``geometry="tilted"`` is our earlier choice (``TOY2D_MEANS`` /
``TOY2D_COV``, measured then: tilt ~24 degrees standard, ~21 at eps 0.25,
~7.5 at eps 0.5).

Attacks: as the notebook's ``GM(eps, step_size=2, n_steps=40, norm='2')``,
PGD starts at the point itself (``random_start=False``) and steps 2 along the
normalised gradient (:data:`TOY_STEP_SIZE`), cut to the ball's diameter
``2 * eps`` when longer (PGD refuses longer steps). Without a random start
the first iterate is ``x + eps * g / ||g||`` for any step >= eps, and on this
data the cut changes no adversarial example (measured: mean distance 0.000
eps between step 2 and the cut step at eps 0.25 and 0.5).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfrobust.attacks import PGD, pgd
from tfrobust.config import check_int
from tfrobust.data import DATASETS, Dataset
from tfrobust.data.synthetic import toy2d
from tfrobust.models import build_model
from tfrobust.training import AdversarialModel

__all__ = [
    "TILT_COLUMNS",
    "TOY_STEP_SIZE",
    "boundary_tilt",
    "plot_toy",
    "toy_experiment",
    "toy_split",
    "toy_step_size",
    "train_toy_models",
    "evaluate_toy_models",
    "write_tilt_csv",
]

#: Columns of ``tilt.csv``, one row per training eps.
TILT_COLUMNS = (
    "train_eps",
    "tilt_degrees",
    "clean_accuracy",
    "robust_accuracy",
    "attack_eps",
    "perturbation_angle_degrees",
    "boundary_points",
)

#: Kim's notebook: every toy attack (training eps 0.25 / 0.5, drawn eps 1) steps 2.
TOY_STEP_SIZE = 2.0

_DataArg = Dataset | tuple[Any, Any]


def toy_step_size(step_size: float | None, eps: float) -> float | None:
    """``step_size`` cut to the ball's diameter ``2 * eps`` (None: PGD's default 2.5 eps / steps)."""
    if step_size is None:
        return None
    if not math.isfinite(float(step_size)) or float(step_size) <= 0:
        raise ValueError(f"step_size: expected a finite number > 0, got {step_size!r}")
    return min(float(step_size), 2.0 * float(eps)) if eps > 0 else float(step_size)




def toy_split(split: str, *, n: int, seed: int, geometry: str = "kim_notebook") -> Dataset:
    """The ``toy2d`` split of ``geometry`` (:func:`tfrobust.data.synthetic.toy2d`) as a Dataset in [-1, 1]."""
    spec = DATASETS["toy2d"]
    x, y = toy2d(split, n_per_class=n, seed=seed, bounds=spec.default_bounds, geometry=geometry)
    return Dataset(name="toy2d", split=split, x=x, y=y, bounds=spec.default_bounds, num_classes=spec.num_classes,
                   class_names=spec.class_names, source="synthetic")


def _arrays(data: _DataArg) -> tuple[np.ndarray, np.ndarray, tuple[float, float] | None]:
    if isinstance(data, Dataset):
        return np.asarray(data.x, np.float32), np.asarray(data.y), data.bounds
    if isinstance(data, tuple) and len(data) == 2:
        x, y = data
        return np.asarray(x, np.float32), np.asarray(y), None
    raise ValueError(f"data: expected a Dataset or an (x, y) pair, got {type(data).__name__}")


def _logit_margin(model: Callable[..., Any], x: tf.Tensor) -> tf.Tensor:
    """f(x) = z_1(x) - z_0(x) for two logits, z(x) for one; (N,)."""
    if isinstance(model, keras.layers.Layer):
        logits = model(x, training=False)
    else:
        logits = model(x)
    logits = tf.convert_to_tensor(logits)
    if logits.shape.rank != 2 or logits.shape[-1] not in (1, 2):
        raise ValueError(f"model: expected (N, 2) or (N, 1) logits of a binary classifier, got {logits.shape}")
    return logits[:, 0] if logits.shape[-1] == 1 else logits[:, 1] - logits[:, 0]


def _margin_values(model: Callable[..., Any], x: np.ndarray, batch_size: int) -> np.ndarray:
    out = [_logit_margin(model, tf.constant(x[i:i + batch_size])).numpy()
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


def _margin_gradients(model: Callable[..., Any], x: np.ndarray, batch_size: int) -> np.ndarray:
    out = []
    for i in range(0, len(x), batch_size):
        xb = tf.constant(x[i:i + batch_size])
        with tf.GradientTape() as input_tape:
            input_tape.watch(xb)
            margin = tf.reduce_sum(_logit_margin(model, xb))
        out.append(input_tape.gradient(margin, xb).numpy())
    return np.concatenate(out) if out else np.zeros((0, x.shape[1]), np.float32)


def _class_direction(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if not (np.any(y == 0) and np.any(y == 1)):
        raise ValueError("data: boundary_tilt needs examples of both classes 0 and 1")
    return x[y == 1].mean(0).astype(np.float64) - x[y == 0].mean(0).astype(np.float64)


def _boundary_points(model: Callable[..., Any], x: np.ndarray, u: np.ndarray,
                     bounds: tuple[float, float] | None, *, grid: int, batch_size: int) -> np.ndarray:
    """Per point, the boundary crossing nearest to it on the line x + t u (bisected)."""
    extent = float(np.ptp(x, axis=0).max()) if len(x) else 1.0
    if bounds is not None and math.isfinite(bounds[0]) and math.isfinite(bounds[1]):
        extent = max(extent, bounds[1] - bounds[0])
    ts = np.linspace(-extent, extent, 2 * grid + 1)
    lines = x[:, None, :] + ts[None, :, None] * u[None, None, :]  # (N, T, 2)
    n, t = lines.shape[:2]
    values = _margin_values(model, lines.reshape(n * t, -1).astype(np.float32), batch_size).reshape(n, t)
    valid = np.ones((n, t), bool)
    if bounds is not None:
        valid = np.all((lines >= bounds[0]) & (lines <= bounds[1]), axis=-1)
    sign = values > 0
    change = (sign[:, 1:] != sign[:, :-1]) & valid[:, 1:] & valid[:, :-1]
    found = change.any(1)
    if not found.any():
        return np.zeros((0, x.shape[1]), np.float32)
    # the crossing nearest to the point itself (t = 0)
    mid = 0.5 * (ts[1:] + ts[:-1])
    distance = np.where(change, np.abs(mid)[None, :], np.inf)
    k = distance.argmin(1)[found]
    x0 = x[found].astype(np.float64)
    lo, hi = ts[k], ts[k + 1]
    f_lo = values[found, k] > 0
    for _ in range(40):
        t_mid = 0.5 * (lo + hi)
        f_mid = _margin_values(model, (x0 + t_mid[:, None] * u).astype(np.float32), batch_size) > 0
        same = f_mid == f_lo
        lo = np.where(same, t_mid, lo)
        hi = np.where(same, hi, t_mid)
    return (x0 + (0.5 * (lo + hi))[:, None] * u).astype(np.float32)


def boundary_tilt(
    model: Callable[..., Any],
    data: _DataArg,
    *,
    where: str = "boundary",
    direction: Sequence[float] | None = None,
    max_points: int = 1000,
    grid: int = 100,
    batch_size: int = 16384,
    return_points: bool = False,
) -> Any:
    """The tilt of a binary classifier's decision boundary, in degrees.

    Let ``f(x) = z_1(x) - z_0(x)`` be the logit margin of class 1 over class 0
    (``z(x)`` for a single logit), so that the decision boundary is ``f = 0``
    and ``grad f`` is its normal, pointing towards class 1. Let
    ``u = (mu_1 - mu_0) / ||mu_1 - mu_0||`` be the unit direction separating
    the class means of ``data`` (or ``direction``). With ``where="boundary"``
    (default), every point x_i (the first ``max_points``) is moved along the
    line ``x_i + t u`` to the boundary crossing nearest to it (sign change of
    ``f`` on a grid of ``2 * grid + 1`` values of ``t`` covering the data /
    ``bounds``, then 40 bisection steps; lines that leave ``bounds`` or never
    cross are skipped); with ``where="data"`` the points themselves are used.
    At those points ``b_i`` the unit normals ``n_i = grad f(b_i) / ||grad
    f(b_i)||`` (zero gradients skipped) are averaged, and

        tilt = degrees(arccos(<mean_i n_i, u> / ||mean_i n_i||))  in [0, 180].

    The tilt is 0 for a boundary perpendicular to the mean difference (the
    normal along ``u``), grows as the normal turns towards the orthogonal
    (high-variance) axis, is 90 for a boundary parallel to ``u`` and 180 for a
    classifier with its labels swapped. For a linear classifier
    ``f(x) = <w, x> + b`` it is the angle between ``w`` and ``u``.

    Args:
        model: binary classifier, (N, D) float32 -> (N, 2) or (N, 1) logits;
            a Keras model runs with ``training=False``.
        data: a :class:`~tfrobust.data.Dataset` (its ``bounds`` limit the
            search) or an ``(x, y)`` pair: x (N, D) float32, y (N,) in {0, 1}.
        where: ``"boundary"`` or ``"data"`` (see above).
        direction: the reference direction ``u`` (any length); default
            ``mu_1 - mu_0`` of ``data``.
        max_points: use the first this many points (>= 1).
        grid: half the number of line-search samples (>= 1).
        batch_size: examples per model call.
        return_points: also return the (M, D) points the normals were taken at.

    Returns:
        The tilt in degrees (float; NaN when no boundary crossing is found or
        the normals cancel), or ``(tilt, points)`` with ``return_points``.

    Raises:
        ValueError: bad ``where``, ``direction``, data or model output.

    Ref: Kim et al. 2019, sec. 2.2, Fig. 3; Tanay & Griffin 2016.
    """
    if where not in ("boundary", "data"):
        raise ValueError(f"where: expected 'boundary' or 'data', got {where!r}")
    for name, value in (("max_points", max_points), ("grid", grid), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    x, y, bounds = _arrays(data)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"data: expected x (N, D) and y (N,), got {x.shape} and {y.shape}")
    u = _class_direction(x, y) if direction is None else np.asarray(direction, np.float64)
    if u.shape != (x.shape[1],) or not np.all(np.isfinite(u)) or np.linalg.norm(u) == 0:
        raise ValueError(f"direction: expected a finite non-zero vector of length {x.shape[1]}, got {u}")
    u = u / np.linalg.norm(u)
    x = x[:max_points]
    points = x if where == "data" else _boundary_points(model, x, u, bounds, grid=grid, batch_size=batch_size)
    nan = float("nan")
    if len(points) == 0:
        return (nan, points) if return_points else nan
    g = _margin_gradients(model, points, batch_size).astype(np.float64)
    norms = np.linalg.norm(g, axis=1)
    g = g[norms > 0] / norms[norms > 0, None]
    mean = g.mean(0) if len(g) else np.zeros_like(u)
    length = float(np.linalg.norm(mean))
    if length <= 1e-12:
        return (nan, points) if return_points else nan
    cosine = float(np.clip(mean @ u / length, -1.0, 1.0))
    tilt = math.degrees(math.acos(cosine))
    return (tilt, points) if return_points else tilt


# --------------------------------------------------------------------------
# the experiment (Kim B.2)


def _check_eps_list(eps_list: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(e) for e in eps_list)
    if not values:
        raise ValueError("eps_list: expected at least one training eps")
    if any(not math.isfinite(e) or e < 0 for e in values):
        raise ValueError(f"eps_list: every eps must be finite and >= 0, got {list(eps_list)}")
    if len(set(values)) != len(values):
        raise ValueError(f"eps_list: duplicate eps in {list(eps_list)}")
    return values


def train_toy_models(
    train: Dataset,
    *,
    eps_list: Sequence[float] = (0.0, 0.25, 0.5),
    epochs: int = 10,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    steps: int = 40,
    seed: int = 0,
    verbose: int = 0,
    step_size: float | None = TOY_STEP_SIZE,
    random_start: bool = False,
) -> dict[float, keras.Model]:
    """Trains one ``kim_toy_dnn`` per training eps (0: standard; > 0: l2 PGD adversarial).

    Every model starts from the same initial weights (``seed``) and sees the
    same batches, so the models differ only in the training eps.

    Args:
        train: the training split (``toy2d``; its ``bounds`` bound the attack).
        eps_list: l2 training radii in data units (Kim B.2: 0.25 weak, 0.5 strong).
        epochs: passes over ``train`` (Kim A.2: 10).
        batch_size: examples per step (not stated by Kim; 128).
        learning_rate: Adam's (Kim A.2: 1e-3).
        steps: PGD iterations of the training attack (Kim B: 40).
        seed: initial weights, shuffling and attack starts.
        verbose: Keras ``fit`` verbosity.
        step_size: PGD step (Kim's notebook: 2), cut to ``2 * eps``; None:
            ``2.5 * eps / steps``.
        random_start: start PGD from a random point of the ball (Kim's notebook: no).

    Returns:
        Training eps -> the trained base classifier (logits out), in order.

    Ref: Kim et al. 2019, appendix A.2 and B.2.
    """
    eps_values = _check_eps_list(eps_list)
    epochs = check_int(epochs, name="epochs", minimum=1)
    batch_size = check_int(batch_size, name="batch_size", minimum=1)
    steps = check_int(steps, name="steps", minimum=1)
    models: dict[float, keras.Model] = {}
    for eps in eps_values:
        keras.utils.set_random_seed(seed)
        base = build_model("kim_toy_dnn", input_shape=train.input_shape, num_classes=2)
        model: keras.Model = base
        if eps > 0:
            attack = PGD(norm="l2", eps=eps, steps=steps, bounds=train.bounds,
                         step_size=toy_step_size(step_size, eps), random_start=random_start)
            model = AdversarialModel(base, attack=attack.to_dict(), track_clean=False, seed=seed)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(train.pipeline(batch_size, shuffle=True, seed=seed), epochs=epochs, shuffle=False, verbose=verbose)
        models[eps] = base
    return models


def _adversarial(model: keras.Model, x: np.ndarray, y: np.ndarray, *, eps: float, steps: int,
                 bounds: tuple[float, float], seed: int, step_size: float | None = TOY_STEP_SIZE,
                 random_start: bool = False) -> np.ndarray:
    """l2 PGD maximising the cross-entropy (Kim B.2's visualised attack)."""
    return np.asarray(pgd(model, x, y, norm="l2", eps=eps, steps=steps, bounds=bounds, seed=seed,
                          step_size=toy_step_size(step_size, eps), random_start=random_start, jit_compile=False))


def evaluate_toy_models(
    models: Mapping[float, keras.Model],
    test: Dataset,
    *,
    attack_eps: float = 1.0,
    steps: int = 40,
    seed: int = 0,
    step_size: float | None = TOY_STEP_SIZE,
    random_start: bool = False,
) -> list[dict[str, float]]:
    """One row per model: tilt, clean and robust accuracy, perturbation geometry.

    Args:
        models: training eps -> binary classifier (as :func:`train_toy_models`).
        test: the test split.
        attack_eps: l2 radius of the evaluation attack (Kim B.2: 1).
        steps: PGD iterations (Kim B: 40).
        seed: attack random starts.
        step_size, random_start: as for :func:`train_toy_models`.

    Returns:
        Rows with :data:`TILT_COLUMNS`: ``tilt_degrees`` (:func:`boundary_tilt`
        on ``test``), ``clean_accuracy``, ``robust_accuracy`` (correct before and
        after l2 PGD at ``attack_eps``), ``perturbation_angle_degrees`` (mean angle between
        each adversarial perturbation and the line through the class means: 0
        when the attack moves points straight towards the other class's
        manifold, 90 when it moves them along their own) and
        ``boundary_points`` (how many boundary crossings the tilt averages).
    """
    if not math.isfinite(float(attack_eps)) or float(attack_eps) < 0:
        raise ValueError(f"attack_eps: expected a finite number >= 0, got {attack_eps!r}")
    x, y = np.asarray(test.x, np.float32), np.asarray(test.y)
    u = _class_direction(x, y)
    u /= np.linalg.norm(u)
    rows: list[dict[str, float]] = []
    for eps, model in models.items():
        tilt, points = boundary_tilt(model, test, return_points=True)
        clean = np.argmax(np.asarray(model.predict(x, batch_size=4096, verbose=0)), 1) == y
        x_adv = _adversarial(model, x, y, eps=float(attack_eps), steps=steps, bounds=test.bounds, seed=seed,
                             step_size=step_size, random_start=random_start)
        # a point counts as robust when it is classified correctly before and after the attack (the
        # last PGD iterate can land where the loss is lower than at the point itself)
        robust = clean & (np.argmax(np.asarray(model.predict(x_adv, batch_size=4096, verbose=0)), 1) == y)
        delta = (x_adv - x).astype(np.float64)
        size = np.linalg.norm(delta, axis=1)
        moved = size > 1e-8
        cosines = np.abs(delta[moved] @ u) / size[moved]
        angle = float(np.degrees(np.arccos(np.clip(cosines, 0, 1))).mean()) if moved.any() else float("nan")
        rows.append({
            "train_eps": float(eps),
            "tilt_degrees": float(tilt),
            "clean_accuracy": float(clean.mean()),
            "robust_accuracy": float(robust.mean()),
            "attack_eps": float(attack_eps),
            "perturbation_angle_degrees": angle,
            "boundary_points": float(len(points)),
        })
    return rows


def write_tilt_csv(rows: Sequence[Mapping[str, float]], out_csv: str | os.PathLike[str]) -> Path:
    """Writes rows with :data:`TILT_COLUMNS` to a CSV, atomically (temp file + ``os.replace``)."""
    out = Path(out_csv)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(TILT_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (int(row[k]) if k == "boundary_points" else row[k]) for k in TILT_COLUMNS})
    os.replace(tmp, out)
    return out


def toy_experiment(
    *,
    eps_list: Sequence[float] = (0.0, 0.25, 0.5),
    epochs: int = 10,
    n: int = 3000,
    seed: int = 0,
    attack_eps: float = 1.0,
    steps: int = 40,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    out_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
    geometry: str = "kim_notebook",
    step_size: float | None = TOY_STEP_SIZE,
    random_start: bool = False,
) -> list[dict[str, float]]:
    """Kim et al.'s toy experiment: tilt of standard vs. l2 adversarially trained DNNs.

    Loads ``toy2d`` (``n`` points per class and split, seeded, of ``geometry``), trains one
    ``kim_toy_dnn`` per training eps (:func:`train_toy_models`), measures each
    (:func:`evaluate_toy_models`) and, with ``out_dir``, writes
    ``out_dir/tilt.csv`` and ``out_dir/toy.png`` (:func:`plot_toy`).

    Args:
        eps_list: l2 training radii; 0 trains a standard model (Kim B.2: 0,
            0.25, 0.5).
        epochs: training epochs (Kim A.2: 10).
        n: points per class and split (Kim A.1: 3000).
        seed: data, weights, shuffling and attacks.
        attack_eps: l2 radius of the evaluated / drawn attack (Kim B.2: 1).
        steps: PGD iterations for training and evaluation (Kim B: 40).
        batch_size: training batch size.
        learning_rate: Adam's (Kim A.2: 1e-3).
        out_dir: directory for ``tilt.csv`` and ``toy.png`` (created).
        progress: called with one line per stage (e.g. ``click.echo``).
        geometry: ``"kim_notebook"`` (the authors' data) or ``"tilted"``
            (:func:`tfrobust.data.synthetic.toy2d`).
        step_size, random_start: the PGD of training, evaluation and figure
            (Kim's notebook: 2, cut to ``2 * eps``; no random start).

    Returns:
        One row per training eps, in the order given, with :data:`TILT_COLUMNS`.

    Ref: Kim et al. 2019, sec. 2.2, Fig. 3b, appendix A.1-A.2, B.2.
    """
    eps_values = _check_eps_list(eps_list)
    n = check_int(n, name="n", minimum=1)
    say = progress or (lambda message: None)
    train = toy_split("train", n=n, seed=seed, geometry=geometry)
    test = toy_split("test", n=n, seed=seed, geometry=geometry)
    pgd_options: dict[str, Any] = {"step_size": step_size, "random_start": random_start}
    models: dict[float, keras.Model] = {}
    for eps in eps_values:
        say(f"training kim_toy_dnn, {'standard' if eps == 0 else f'l2 PGD-{steps} eps {eps:g}'} "
            f"({epochs} epochs, {len(train)} points)")
        models.update(train_toy_models(train, eps_list=(eps,), epochs=epochs, batch_size=batch_size,
                                       learning_rate=learning_rate, steps=steps, seed=seed, **pgd_options))
    say(f"measuring tilt and l2 eps {attack_eps:g} robust accuracy on {len(test)} test points")
    rows = evaluate_toy_models(models, test, attack_eps=attack_eps, steps=steps, seed=seed, **pgd_options)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_tilt_csv(rows, out / "tilt.csv")
        plot_toy(models, test, out / "toy.png", attack_eps=attack_eps, steps=steps, seed=seed, **pgd_options)
    return rows


# --------------------------------------------------------------------------
# the figure (Kim Fig. 3b)


def plot_toy(
    models: Mapping[float, keras.Model],
    data: Dataset,
    out_png: str | os.PathLike[str],
    attack_eps: float = 1.0,
    *,
    steps: int = 40,
    seed: int = 0,
    points: int = 400,
    arrows: int = 25,
    resolution: int = 200,
    step_size: float | None = TOY_STEP_SIZE,
    random_start: bool = False,
) -> Path:
    """Kim Fig. 3b: one panel per model with its decision regions, the data and attacks.

    Each panel shades the predicted class on a ``resolution`` x ``resolution``
    grid over the bounds (the data's range when unbounded), draws the
    boundary (``f = 0``), ``points`` data points per class, and arrows from ``arrows`` class-1 points (Kim's
    "class 2") to their l2 eps = ``attack_eps`` PGD adversarial examples;
    the title gives the training eps and :func:`boundary_tilt`.

    Args:
        models: training eps -> binary classifier.
        data: the points to draw (e.g. the test split).
        out_png: PNG to write (atomically: temp file + ``os.replace``).
        attack_eps: l2 radius of the drawn attacks (Kim B.2: 1).
        steps: PGD iterations.
        seed: attack random starts and the choice of drawn points.
        points: data points drawn per class.
        arrows: attacked points drawn.
        resolution: grid points per axis.
        step_size, random_start: as for :func:`train_toy_models`.

    Returns:
        The path of the PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    if not models:
        raise ValueError("models: nothing to plot")
    out = Path(out_png)
    x, y = np.asarray(data.x, np.float32), np.asarray(data.y)
    rng = np.random.default_rng(seed)
    shown = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:points] for c in (0, 1)])
    attacked = rng.permutation(np.flatnonzero(y == 1))[:arrows]
    lo, hi = data.bounds
    if math.isfinite(lo) and math.isfinite(hi):  # the whole square of the bounds, as Kim's figure ([-1.1, 1.1]^2)
        x_lo, x_hi = np.full(2, lo - 0.05 * (hi - lo)), np.full(2, hi + 0.05 * (hi - lo))
    else:
        span = np.ptp(x, axis=0)
        x_lo, x_hi = x.min(0) - 0.15 * span - 0.1, x.max(0) + 0.15 * span + 0.1
    g1, g2 = np.meshgrid(np.linspace(x_lo[0], x_hi[0], resolution), np.linspace(x_lo[1], x_hi[1], resolution))
    grid = np.stack([g1.ravel(), g2.ravel()], 1).astype(np.float32)

    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 4.0), squeeze=False)
    for ax, (eps, model) in zip(axes[0], models.items()):
        margin = _margin_values(model, grid, 16384).reshape(g1.shape)
        ax.contourf(g1, g2, (margin > 0).astype(float), levels=[-0.5, 0.5, 1.5],
                    cmap=ListedColormap(["#c6dbef", "#fcbba1"]))
        if margin.min() < 0 < margin.max():
            ax.contour(g1, g2, margin, levels=[0.0], colors="k", linewidths=1.0)
        for c, colour in ((0, "#08519c"), (1, "#a50f15")):
            sel = shown[y[shown] == c]
            ax.scatter(x[sel, 0], x[sel, 1], s=4, c=colour, alpha=0.6, linewidths=0, label=f"class {c + 1}")
        if len(attacked):
            x_adv = _adversarial(model, x[attacked], y[attacked], eps=float(attack_eps), steps=steps,
                                 bounds=data.bounds, seed=seed, step_size=step_size, random_start=random_start)
            d = x_adv - x[attacked]
            ax.quiver(x[attacked, 0], x[attacked, 1], d[:, 0], d[:, 1], angles="xy", scale_units="xy",
                      scale=1.0, width=0.004, color="k")
            ax.scatter(x_adv[:, 0], x_adv[:, 1], s=10, marker="x", c="k", linewidths=0.8,
                       label=f"l2 eps={attack_eps:g} adv.")
        tilt = boundary_tilt(model, data)
        name = "standard" if eps == 0 else f"l2 adversarial, eps={eps:g}"
        ax.set_title(f"{name}\ntilt {tilt:.1f} deg", fontsize="medium")
        ax.set_xlim(x_lo[0], x_hi[0])
        ax.set_ylim(x_lo[1], x_hi[1])
        ax.set_aspect("equal")
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
    axes[0][0].legend(fontsize="x-small", loc="lower left")
    fig.tight_layout()
    tmp = out.with_name(f".{out.stem}.tmp{os.getpid()}.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, out)
    return out
