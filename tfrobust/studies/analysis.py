"""Analysis stage kinds: pictures and diagnostics of trained models, the VAE-GAN and the linear study.

:data:`ANALYSIS_KINDS` (merged into :data:`tfrobust.studies.KINDS`):

- ``examples``: adversarial examples and interpolations of a train cell's
  model (Kim et al. 2019 Fig. 2; Tsipras et al. 2019 Figs. 3-4, Table 3);
- ``gradients``: attribution maps of a train cell's model on the first test
  images (Kim Fig. 6, Tsipras Fig. 2);
- ``jacobian``: logit-Jacobian norms and the cosine to IR targets (Noack et
  al. 2021 Figs. 3-4);
- ``vaegan``: trains Kim's VAE-GAN (A.3) for ``manifold`` cells;
- ``manifold``: distance of clean and adversarial images to the VAE-GAN's
  manifold (Kim Fig. 1);
- ``linear``: Tsipras sec. 2.3 linear classifiers (Table 4, Figs. 1-4, 6, 7).

Same contract as :mod:`tfrobust.studies.kinds`: ``fn(params, deps, out_dir)
-> metrics``; params are validated (one-line :class:`~tfrobust.config.ConfigError`
naming ``<kind>.<param>``, unknown params refused) before anything is
loaded; every artifact is written atomically. TensorFlow is imported only
when a kind runs.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError, DataConfig, parse_number
from tfrobust.studies.kinds import (
    Kind,
    _check_known,
    _int,
    _load_split,
    _model_run,
    _names,
    _plain,
    _real,
    _run_config,
    _run_data,
    _write_rows,
)

__all__ = ["ANALYSIS_KINDS", "examples_kind", "gradients_kind", "jacobian_kind", "linear_kind", "manifold_kind",
           "vaegan_kind"]


def _save_npz(path: Path, /, **arrays: Any) -> Path:
    """Arrays as an ``.npz`` (no pickles), atomically (temp file + ``os.replace``)."""
    import numpy as np

    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as handle:
        values: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}
        np.savez(handle, **values)
    os.replace(tmp, path)
    return path


def _choice(kind: str, params: Mapping[str, Any], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = params.get(name, default)
    if value not in choices:
        raise ConfigError(f"{kind}.{name}: choose from {', '.join(choices)}, got {value!r}")
    return str(value)


def _split(kind: str, params: Mapping[str, Any]) -> str:
    return _choice(kind, params, "split", "test", ("train", "test"))


def _radius(kind: str, params: Mapping[str, Any], name: str, default: float | None) -> float:
    value = _real(kind, params, name, default)
    if value is None:
        raise ConfigError(f"{kind}.{name}: give a radius in data units")
    if value < 0:
        raise ConfigError(f"{kind}.{name} must be >= 0, got {params.get(name)!r}")
    return value


def _first_images(kind: str, deps: Mapping[str, Path], split: str, n: int) -> tuple[Any, Any, Path]:
    """(model, the first ``n`` images of the train cell's ``split``, run directory)."""
    from tfrobust.training import load_model

    run = _model_run(kind, deps)
    trained = _run_config(run)
    ds = _load_split(_run_data(trained), split, limit=n, seed=int(trained.get("seed") or 0))
    return load_model(run / "model.keras"), ds, run


def _predict(model: Any, x: Any, batch_size: int = 256) -> Any:
    import numpy as np

    from tfrobust.attacks import call_model

    parts = [np.argmax(np.asarray(call_model(model, x[i:i + batch_size])), axis=-1)
             for i in range(0, len(x), batch_size)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


# --------------------------------------------------------------------------
# examples

EXAMPLES_PARAMS = ("norm", "eps", "steps", "step_size", "objective", "n", "interpolation", "split", "seed")


def examples_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Adversarial examples (and interpolations) of the one dependency ``train`` cell's model.

    PGD from the image itself (no random start), clipped to the data's
    bounds, through :func:`tfrobust.theory.large_eps_examples`; large radii
    give Tsipras's large-eps examples (Table 3, MNIST on [0, 1]: linf 0.3,
    l2 4), small ones Kim's Fig. 2 examples.

    Params: ``norm`` (``l2`` | ``linf``; default l2), ``eps`` (required, data
    units, ``8/255`` allowed), ``steps`` (100), ``step_size`` (default 2.5
    eps / steps), ``objective`` (``xent`` | ``cw``; default xent; cw runs with
    Tsipras's out-of-reach cap, i.e. past the boundary), ``n`` (images, 8),
    ``interpolation`` (points including both ends, >= 2; 0: none; default
    0), ``split`` (test), ``seed`` (0). The data are the first ``n`` images of
    the train cell's dataset, bounds and classes.

    Writes ``images.npz``: ``x`` (n, H, W, C) float32, ``x_adv``, ``y`` (n,)
    int, ``pred`` and ``pred_x_adv`` (n,) int (the prediction on ``x_adv``), ``pred_x`` (on ``x``), ``bounds`` (2,)
    float32 and, with interpolation, ``path`` (n, S, H, W, C) from ``x``
    (``path[:, 0]``) to ``x_adv`` (``path[:, -1]``) (:func:`tfrobust.theory.interpolate`) and
    ``pred_path`` (n, S) int, the prediction at every step.

    Returns:
        ``fooled`` (fraction with pred != y), ``mean_l2`` and ``mean_linf``
        (of x_adv - x), ``n``.
    """
    _check_known("examples", params, EXAMPLES_PARAMS)
    norm = _choice("examples", params, "norm", "l2", ("l2", "linf"))
    if "eps" not in params:
        raise ConfigError("examples.eps: give the attack radius in data units (e.g. linf 0.3, l2 4)")
    eps = _radius("examples", params, "eps", None)
    steps = int(_int("examples", params, "steps", 100, 1) or 100)
    step_size = _real("examples", params, "step_size", None)
    if step_size is not None and step_size <= 0:
        raise ConfigError(f"examples.step_size must be > 0, got {params['step_size']!r}")
    objective = _choice("examples", params, "objective", "xent", ("xent", "cw"))
    n = int(_int("examples", params, "n", 8, 1) or 8)
    points = int(_int("examples", params, "interpolation", 0, 0) or 0)
    if points == 1:
        raise ConfigError("examples.interpolation: give >= 2 points (both ends) or 0 for none, got 1")
    split = _split("examples", params)
    seed = int(_int("examples", params, "seed", 0, 0) or 0)

    import numpy as np

    from tfrobust.theory import interpolate, large_eps_examples

    model, ds, _ = _first_images("examples", deps, split, n)
    x = np.asarray(ds.x, np.float32)
    y = np.asarray(ds.y).astype(np.int64)
    bounds = (float(ds.bounds[0]), float(ds.bounds[1]))
    x_adv = np.concatenate([
        large_eps_examples(model, x[i:i + 256], y[i:i + 256], eps=eps, bounds=bounds, norm=norm, steps=steps,
                           step_size=step_size, objective=objective, seed=seed + i // 256)
        for i in range(0, len(x), 256)])
    pred = _predict(model, x_adv)
    arrays: dict[str, Any] = {"x": x, "x_adv": x_adv, "y": y, "pred": pred, "pred_x": _predict(model, x),
                              "pred_x_adv": pred, "bounds": np.asarray(bounds, np.float32)}
    if points:
        path = np.moveaxis(interpolate(x, x_adv, points), 0, 1)
        arrays["path"] = path
        arrays["pred_path"] = _predict(model, path.reshape(-1, *x.shape[1:])).reshape(path.shape[:2])
    _save_npz(out_dir / "images.npz", **arrays)
    delta = (x_adv.astype(np.float64) - x).reshape(len(x), -1)
    return {"fooled": _plain(np.mean(pred != y)), "mean_l2": _plain(np.linalg.norm(delta, axis=1).mean()),
            "mean_linf": _plain(np.abs(delta).max(axis=1).mean()), "n": len(x)}


# --------------------------------------------------------------------------
# gradients

GRADIENTS_PARAMS = ("methods", "n", "split", "seed")


def gradients_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Attribution maps of the one dependency ``train`` cell's model on its first images.

    Params: ``methods`` (names of :data:`tfrobust.attribution.ATTRIBUTIONS`,
    a list or ``"a,b"``; default ``gradient``), ``n`` (images, 8), ``split``
    (test), ``seed`` (0; ``random`` and ``smoothgrad`` noise). Each method
    runs with its defaults (SmoothGrad: Noack sec. 4.1, 50 samples, sigma
    0.15, logit gradient). The data are the first ``n`` images of the train
    cell's dataset, bounds and classes (Kim Fig. 6, Tsipras Fig. 2).

    Writes ``images.npz``: ``x`` (n, H, W, C) float32, ``y`` (n,) int,
    ``pred`` (n,) int (the clean prediction), ``bounds`` (2,) float32 and one
    (n, H, W, C) float32 array per method, named by the method.

    Returns:
        ``mean_abs_<method>`` (mean |map|) per method and ``n``.
    """
    from tfrobust.attribution import ATTRIBUTIONS

    _check_known("gradients", params, GRADIENTS_PARAMS)
    methods = _names("gradients", "methods", params.get("methods", "gradient"), list(ATTRIBUTIONS))
    n = int(_int("gradients", params, "n", 8, 1) or 8)
    split = _split("gradients", params)
    seed = int(_int("gradients", params, "seed", 0, 0) or 0)

    import numpy as np

    model, ds, _ = _first_images("gradients", deps, split, n)
    x = np.asarray(ds.x, np.float32)
    y = np.asarray(ds.y).astype(np.int64)
    arrays: dict[str, Any] = {"x": x, "y": y, "pred": _predict(model, x),
                              "bounds": np.asarray(ds.bounds, np.float32)}
    metrics: dict[str, Any] = {"n": len(x)}
    for method in methods:
        fn = ATTRIBUTIONS[method]
        options = {"seed": seed} if "seed" in inspect.signature(fn).parameters else {}
        maps = np.asarray(fn(model, x, y, **options), np.float32)
        arrays[method] = maps
        metrics[f"mean_abs_{method}"] = _plain(np.abs(maps).mean())
    _save_npz(out_dir / "images.npz", **arrays)
    return metrics


# --------------------------------------------------------------------------
# jacobian

JACOBIAN_PARAMS = ("n", "split", "batch_size", "cosine_n")


def jacobian_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Logit-Jacobian norms of the one dependency ``train`` cell's model (Noack et al. 2021 Figs. 3-4).

    ``||J_c(x)||_F`` of the label logit and the mean over the non-label
    logits of ``||J_k(x)||_F`` (:func:`tfrobust.attribution.logit_jacobian_norms`)
    on the first ``n`` images. For an ``ir`` train cell (``method: ir`` with
    ``method_options.targets``) also the mean cosine between the model's
    label-logit gradient and its target maps (0 for a zero map) on the first
    ``cosine_n`` training images, the ones the maps belong to (the train
    cell's data config, limit and seed; checked by
    :func:`tfrobust.training.load_targets`), as the
    :class:`~tfrobust.training.callbacks.JacobianNorm` callback logs it.

    Params: ``n`` (500), ``split`` (test), ``batch_size`` (256), ``cosine_n`` (500).

    Writes ``jacobian.csv`` (``index``, ``label``, ``label_norm``, ``other_norm``; one row per image).

    Returns:
        ``jacobian_label_norm`` and ``jacobian_other_norm`` (means), ``n``;
        for ``ir`` cells ``target_cosine`` and ``cosine_n``.
    """
    _check_known("jacobian", params, JACOBIAN_PARAMS)
    n = int(_int("jacobian", params, "n", 500, 1) or 500)
    split = _split("jacobian", params)
    batch_size = int(_int("jacobian", params, "batch_size", 256, 1) or 256)
    cosine_n = int(_int("jacobian", params, "cosine_n", 500, 1) or 500)

    import numpy as np

    from tfrobust.attribution import logit_jacobian_norms
    from tfrobust.training import load_targets
    from tfrobust.training.callbacks import JacobianNorm

    model, ds, run = _first_images("jacobian", deps, split, n)
    y = np.asarray(ds.y).astype(np.int64)
    norms = logit_jacobian_norms(model, ds.x, y, batch_size=batch_size)
    _write_rows([{"index": i, "label": int(c), "label_norm": float(a), "other_norm": float(b)}
                 for i, (c, a, b) in enumerate(zip(y, norms["label"], norms["other"]))], out_dir / "jacobian.csv")
    metrics: dict[str, Any] = {"jacobian_label_norm": _plain(norms["label"].mean()),
                               "jacobian_other_norm": _plain(norms["other"].mean()), "n": len(y)}
    trained = _run_config(run)
    targets = (trained.get("method_options") or {}).get("targets") if trained.get("method") == "ir" else None
    if targets:
        data = _run_data(trained)
        train_ds = _load_split(data, "train", limit=data.limit, seed=int(trained.get("seed") or 0))
        maps = load_targets(targets, train_ds)[:cosine_n]
        k = len(maps)
        measured = JacobianNorm(train_ds.x[:k], train_ds.y[:k], batch_size=batch_size, targets=maps).measure(model)
        metrics["target_cosine"] = _plain(measured["jacobian_target_cosine"])
        metrics["cosine_n"] = k
    return metrics


# --------------------------------------------------------------------------
# vaegan

VAEGAN_PARAMS = ("data", "config", "epochs", "batch_size", "seed", "vaegan")
_VAEGAN_DATA = ("name", "bounds", "limit", "data_dir", "classes")


def vaegan_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Trains Kim's VAE-GAN (Kim et al. 2019 A.3) on a dataset's training split, for ``manifold`` cells.

    Params: ``data`` (mapping: ``name``, ``bounds`` (default Kim's [-1, 1]),
    ``limit``, ``data_dir``, ``classes``), ``config`` (path of a VAE-GAN YAML
    such as ``configs/kim_vaegan_fmnist.yaml``; absent: the paper's values for
    the image size), ``epochs`` (default the config's, else Kim A.3: 30
    MNIST / 60 FMNIST / 150 CIFAR-10), ``batch_size`` (config's, else 64),
    ``seed`` (config's, else 0), ``vaegan`` (mapping of hyper-parameter
    overrides, e.g. ``{zdim: 4}``). Params override the config file.

    Writes what ``tfrobust manifold train`` writes
    (:func:`tfrobust.evaluation.manifold.train_vaegan`): ``vaegan.keras``,
    ``config.yaml``, ``history.csv``, ``reconstructions.png``,
    ``metrics.json`` and ``checkpoint/``; a killed cell resumes after its last
    finished epoch.

    Returns:
        The last epoch's losses (``recon_l1``, ``kl``, ``enc_loss``,
        ``dec_loss``, ``disc_loss``, ``d_real``, ``d_fake``, ``seconds``),
        ``epochs``, ``test_d_pi_mean`` and ``test_d_pi_median`` (first <= 1000 test images).
    """
    _check_known("vaegan", params, VAEGAN_PARAMS)
    data = params.get("data") or {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"vaegan.data must be a mapping (name, bounds, limit, data_dir, classes), got {data!r}")
    _check_known("vaegan.data", data, _VAEGAN_DATA)
    overrides = params.get("vaegan") or {}
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"vaegan.vaegan must be a mapping of VAE-GAN hyper-parameters, got {overrides!r}")
    counts: dict[str, Any] = {name: _int("vaegan", params, name, None, 0 if name == "seed" else 1)
                              for name in ("epochs", "batch_size", "seed")}
    config = params.get("config")
    if config is not None and (not isinstance(config, str) or not Path(config).is_file()):
        raise ConfigError(f"vaegan.config: no VAE-GAN config file at {config!r}")

    from tfrobust.evaluation.manifold import read_vaegan_config, train_vaegan, vaegan_settings

    values = read_vaegan_config(config)
    values["data"] = {**dict(values.get("data") or {}), **dict(data)}
    values["vaegan"] = {**dict(values.get("vaegan") or {}), **dict(overrides)}
    try:
        settings = vaegan_settings(values, **counts)
        from tfrobust.models.vaegan import VAEGANConfig

        VAEGANConfig.from_dict({**VAEGANConfig().to_dict(), **settings["vaegan"]})  # names a bad field now
    except ValueError as err:
        raise ConfigError(f"vaegan: {' '.join(str(err).split())}") from None
    result = train_vaegan(out_dir=out_dir, **settings, verbose=2)
    metrics: dict[str, Any] = {k: _plain(v) for k, v in result["last_epoch"].items() if k != "epoch"}
    metrics["epochs"] = int(result["epochs"])
    for key in ("test_d_pi_mean", "test_d_pi_median"):
        if key in result["metrics"]:
            metrics[key] = _plain(result["metrics"][key])
    return metrics


# --------------------------------------------------------------------------
# manifold

MANIFOLD_PARAMS = ("eps", "steps", "norm", "objective", "limit", "batch_size", "seed", "examples", "step_size",
                   "random_start", "kappa", "projection")


def _bounds_of(run: Path) -> tuple[float, float] | None:
    bounds = (_run_config(run).get("data") or {}).get("bounds")
    return None if bounds is None else (float(bounds[0]), float(bounds[1]))


def manifold_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Distance to the data manifold of clean test images and successful adversarial examples (Kim Fig. 1).

    Dependencies: exactly one ``train`` cell (a directory with
    ``model.keras``) and one ``vaegan`` cell (``vaegan.keras``). The data
    are the classifier's test split (its dataset, classes and options) in
    the VAE-GAN's bounds; the classifier must have been trained on the same
    bounds. Attacks: PGD as in Kim's code by default (no random start, fixed
    steps; see the params); failed attacks (prediction
    unchanged) are dropped, as in the paper
    (:func:`tfrobust.evaluation.manifold_study`; projection ``dec(enc(x))``).

    Params: ``eps`` (default :data:`tfrobust.evaluation.manifold.KIM_EPS`,
    12: Kim B.1 for [-1, 1] data), ``steps`` (40), ``norm`` (l2), ``objective``
    (xent), ``limit`` (first N test images, 500), ``batch_size`` (256),
    ``seed`` (0), ``examples`` (images kept in images.npz / grid.png, 8),
    ``step_size`` (default Kim's code: l2 2, linf 0.02, cut to the ball's
    diameter 2 eps for small eps), ``random_start`` (false, Kim's code),
    ``kappa`` (CW cap, 500 as Kim's code), ``projection`` (``mean``:
    ``dec(enc_mean(x))``, the paper's pi; ``sample``: ``dec(mean + sigma e)``,
    what Kim's code measures).

    Writes ``distances.csv`` (``kind`` in {clean, adversarial}, ``index``,
    ``distance``), ``images.npz`` (``x``, ``x_adv``, ``x_proj``,
    ``x_adv_proj``, ``y``, ``pred`` (the prediction on ``x_adv``),
    ``success``, ``bounds``), ``histogram.png`` (Fig. 1 layout) and, with
    examples, ``grid.png`` (Fig. 2).

    Returns:
        ``n``, ``attack_success`` (fraction), ``clean_accuracy``,
        ``n_adversarial``, ``median_clean``, ``median_adversarial``,
        ``mean_clean``, ``mean_adversarial`` (None without a successful attack).
    """
    from tfrobust.evaluation.manifold import KIM_EPS, KIM_KAPPA, KIM_STEP_SIZES, KIM_STEPS

    _check_known("manifold", params, MANIFOLD_PARAMS)
    eps = _radius("manifold", params, "eps", KIM_EPS)
    steps = int(_int("manifold", params, "steps", KIM_STEPS, 0) or 0)
    norm = _choice("manifold", params, "norm", "l2", ("l2", "linf"))
    objective = _choice("manifold", params, "objective", "xent", ("xent", "cw"))
    limit = int(_int("manifold", params, "limit", 500, 1) or 500)
    batch_size = int(_int("manifold", params, "batch_size", 256, 1) or 256)
    seed = int(_int("manifold", params, "seed", 0, 0) or 0)
    n_examples = int(_int("manifold", params, "examples", 8, 0) or 0)
    step_size = _real("manifold", params, "step_size", min(KIM_STEP_SIZES[norm], 2 * eps) if eps > 0 else None)
    random_start = params.get("random_start", False)
    if not isinstance(random_start, bool):
        raise ConfigError(f"manifold.random_start must be true or false, got {random_start!r}")
    kappa = _real("manifold", params, "kappa", KIM_KAPPA)
    projection = _choice("manifold", params, "projection", "mean", ("mean", "sample"))
    vaegans = [path for path in deps.values() if (path / "vaegan.keras").is_file()]
    if len(vaegans) != 1:
        raise ValueError(f"manifold needs exactly one dependency with a vaegan.keras (a vaegan cell), got "
                         f"{len(vaegans)} ({', '.join(deps) or 'no dependencies'})")
    run = _model_run("manifold", deps)

    import numpy as np

    from tfrobust.evaluation.manifold import (
        manifold_study,
        plot_adversarial_grid,
        plot_manifold_histogram,
        sampled_projection,
    )
    from tfrobust.training import load_model

    vaegan_bounds = _bounds_of(vaegans[0])
    model_bounds = _bounds_of(run)
    if vaegan_bounds is None:
        raise ValueError(f"manifold: {vaegans[0] / 'config.yaml'} records no data bounds")
    if model_bounds is not None and model_bounds != vaegan_bounds:
        raise ValueError(f"manifold: the classifier ({run.name}) was trained on bounds {model_bounds}, the VAE-GAN "
                         f"({vaegans[0].name}) on {vaegan_bounds}; train both on the same bounds")
    vaegan = load_model(vaegans[0] / "vaegan.keras")
    if not hasattr(vaegan, "project"):
        raise ValueError(f"manifold: {vaegans[0] / 'vaegan.keras'} is not a VAE-GAN")
    trained = _run_config(run)
    data = _run_data(trained)
    data = DataConfig(name=data.name, data_dir=data.data_dir, classes=data.classes, bounds=vaegan_bounds,
                      options=data.options)
    test = _load_split(data, "test", limit=limit, seed=int(trained.get("seed") or 0))
    shape = tuple(test.input_shape)
    vaegan_shape = tuple(vaegan.encoder.inputs[0].shape[1:])
    if shape != vaegan_shape:
        raise ValueError(f"manifold: the VAE-GAN takes inputs {vaegan_shape}, {data.name} has {shape}")
    classifier = load_model(run / "model.keras")
    projector = vaegan if projection == "mean" else sampled_projection(vaegan, seed=seed)
    result = manifold_study(classifier, projector, test, eps=eps, steps=steps, norm=norm, objective=objective,
                            step_size=step_size, random_start=random_start,
                            kappa=KIM_KAPPA if kappa is None else kappa,
                            batch_size=batch_size, seed=seed, examples=n_examples)
    rows = [{"kind": "clean", "index": i, "distance": float(d)} for i, d in enumerate(result["clean"])]
    rows += [{"kind": "adversarial", "index": int(i), "distance": float(d)}
             for i, d in zip(result["adversarial_index"], result["adversarial"])]
    _write_rows(rows, out_dir / "distances.csv")
    shown = result["examples"]
    k = len(shown["x"])
    _save_npz(out_dir / "images.npz", x=shown["x"], x_adv=shown["x_adv"], x_proj=shown["x_projection"],
              x_adv_proj=shown["x_adv_projection"], y=np.asarray(test.y[:k]).astype(np.int64),
              pred=_predict(classifier, shown["x_adv"]), success=shown["success"],
              bounds=np.asarray(test.bounds, np.float32))
    label = {run.name: result}
    plot_manifold_histogram(label, out_dir / "histogram.png", title=f"{data.name}, {norm} eps {eps:g}")
    if k:
        plot_adversarial_grid(label, out_dir / "grid.png", bounds=test.bounds)
    clean, adversarial = result["clean"], result["adversarial"]
    return {
        "n": int(result["n"]), "attack_success": _plain(result["success_rate"]),
        "clean_accuracy": _plain(result["clean_accuracy"]), "n_adversarial": int(adversarial.size),
        "median_clean": _plain(np.median(clean)), "mean_clean": _plain(clean.mean()),
        "median_adversarial": _plain(np.median(adversarial)) if adversarial.size else None,
        "mean_adversarial": _plain(adversarial.mean()) if adversarial.size else None,
    }


# --------------------------------------------------------------------------
# linear

LINEAR_PARAMS = ("dataset", "classes", "limit", "data_dir", "eps_train", "eps_test", "top_k", "sizes", "epochs",
                 "batch_size", "lr", "attack", "seed", "parts")

def _numbers(kind: str, params: Mapping[str, Any], name: str, default: list[float]) -> list[float]:
    value = params.get(name, default)
    items = value if isinstance(value, (list, tuple)) else [value]
    out = [parse_number(v, name=f"{kind}.{name}") for v in items]
    if not out or any(v < 0 for v in out):
        raise ConfigError(f"{kind}.{name}: give one or more numbers >= 0, got {value!r}")
    return out


def _integers(kind: str, params: Mapping[str, Any], name: str, default: list[int]) -> list[int]:
    value = params.get(name, default)
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in items):
        raise ConfigError(f"{kind}.{name}: give one or more integers >= 1, got {value!r}")
    return [int(v) for v in items]


def linear_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Tsipras et al. 2019 sec. 2.3 / 3 on linear classifiers of a binary digit task (no dependencies).

    Params (defaults: ``LINEAR_FEATURES_CONFIG["quick"]``): ``dataset``
    (fashion_mnist), ``classes`` ([5, 7]), ``limit`` (2000 images per split;
    None: all), ``data_dir``, ``eps_train`` ([0, 0.05, 0.1, 0.2]; linf, data
    units [0, 1]), ``eps_test`` ([0.05, 0.1, 0.2]), ``top_k`` ([5, ..., 784]),
    ``sizes`` ([50, ..., 2000]), ``epochs`` (20), ``batch_size`` (64), ``lr``
    (1e-2), ``attack`` (``closed_form`` | ``pgd``), ``seed`` (0), ``parts``
    (a subset of table, eps_train, features, top_k, train_size, large_eps;
    default all).

    Writes the files of :func:`tfrobust.theory.linear_features_experiment`
    for the chosen parts (``linear_table.csv``, ``eps_train.csv/png``,
    ``features.png``, ``top_k.csv/png``, ``train_size.csv/png``, ``large_eps.png``).

    Returns:
        With ``table``: per training eps E ``standard_train_<E>``,
        ``standard_test_<E>``, ``adversarial_test_<E>@<T>`` per test eps T and
        ``l1_weight_<E>`` (||w||_1); with ``top_k``: ``standard_test_top<k>``
        per k used; with ``train_size``: ``standard_test_n<n>_<E>``; and
        ``train_examples``, ``test_examples``.
    """
    _check_known("linear", params, LINEAR_PARAMS)
    from tfrobust.theory.linear_features import LINEAR_FEATURES_CONFIG, LINEAR_PARTS

    quick = LINEAR_FEATURES_CONFIG["quick"]
    dataset = _choice("linear", params, "dataset", quick["dataset"], ("fashion_mnist", "mnist", "cifar10"))
    classes = params.get("classes", list(quick["classes"]))
    if (not isinstance(classes, (list, tuple)) or len(classes) != 2 or classes[0] == classes[1]
            or any(isinstance(c, bool) or not isinstance(c, int) for c in classes)):
        raise ConfigError(f"linear.classes: two different labels [a, b], got {classes!r}")
    limit = None if "limit" in params and params["limit"] is None else _int("linear", params, "limit",
                                                                              quick["limit"], 1)
    eps_train = _numbers("linear", params, "eps_train", list(quick["eps_train"]))
    eps_test = _numbers("linear", params, "eps_test", list(quick["eps_test"]))
    top_k = _integers("linear", params, "top_k", list(quick["top_k"]))
    sizes = _integers("linear", params, "sizes", list(quick["sizes"]))
    epochs = int(_int("linear", params, "epochs", quick["epochs"], 1) or 1)
    batch_size = int(_int("linear", params, "batch_size", quick["batch_size"], 1) or 1)
    lr = _real("linear", params, "lr", quick["lr"])
    if lr is None or lr <= 0:
        raise ConfigError(f"linear.lr must be > 0, got {params.get('lr')!r}")
    attack = _choice("linear", params, "attack", "closed_form", ("closed_form", "pgd"))
    seed = int(_int("linear", params, "seed", 0, 0) or 0)
    parts = _names("linear", "parts", params.get("parts", list(LINEAR_PARTS)), LINEAR_PARTS)

    from tfrobust.data import load_dataset
    from tfrobust.theory import linear_features_experiment

    load: dict[str, Any] = {"data_dir": params.get("data_dir"), "classes": tuple(classes), "limit": limit,
                            "bounds": (0.0, 1.0)}
    train = load_dataset(dataset, "train", **load)
    test = load_dataset(dataset, "test", **load)
    summary = linear_features_experiment(
        train, test, out_dir=out_dir, eps_train_list=eps_train, eps_test_list=eps_test, top_k=top_k, sizes=sizes,
        epochs=epochs, batch_size=batch_size, lr=lr, attack=attack, seed=seed, parts=parts)
    metrics: dict[str, Any] = {"train_examples": len(train), "test_examples": len(test)}
    for row in summary.get("table", []):
        e = f"{float(row['eps_train']):g}"
        metrics[f"standard_train_{e}"] = _plain(row["standard_train"])
        metrics[f"standard_test_{e}"] = _plain(row["standard_test"])
        for key, value in row.items():
            if key.startswith("adversarial_test@"):
                metrics[f"adversarial_test_{e}@{key.partition('@')[2]}"] = _plain(value)
        metrics[f"l1_weight_{e}"] = _plain(row["w_l1"])
    for row in summary.get("top_k", []):
        metrics[f"standard_test_top{int(row['k'])}"] = _plain(row["standard_test"])
    for row in summary.get("train_size", []):
        metrics[f"standard_test_n{int(row['n_train'])}_{float(row['eps_train']):g}"] = _plain(row["standard_test"])
    return metrics


ANALYSIS_KINDS: dict[str, Kind] = {
    "examples": examples_kind,
    "gradients": gradients_kind,
    "jacobian": jacobian_kind,
    "vaegan": vaegan_kind,
    "manifold": manifold_kind,
    "linear": linear_kind,
}
