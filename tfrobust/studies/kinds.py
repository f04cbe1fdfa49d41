"""Stage kinds: what a study cell does, by name.

:data:`KINDS` maps a stage's ``kind`` to a function
``fn(params, deps, out_dir) -> metrics``:

- ``params``: the cell's resolved params (a fresh copy; plain YAML types);
- ``deps``: dependency key -> artifact directory of that dependency cell (the
  key is the needed stage's name when it contributes one cell, else the
  dependency's cell id);
- ``out_dir``: the cell's own artifact directory ``cells/<id>/`` (exists);
- returns a flat mapping of JSON-serializable metrics (the ledger and
  ``results.csv`` columns).

Built in: ``train``, ``attack`` (PGD robust accuracy of a train cell's model),
``saliency`` (attribution maps of a train cell's model; an ``ir`` train cell
that needs it sets ``method_options.targets`` to the saliency stage's name,
see :func:`train_kind`), ``roar`` (ROAR / KAR of a train cell's model),
``tsipras`` and ``toy`` (the theory experiments; no dependencies), and from
:mod:`tfrobust.studies.analysis`: ``examples`` (adversarial examples and
interpolations of a train cell's model), ``gradients`` (its attribution
maps), ``jacobian`` (logit-Jacobian norms, IR target cosine), ``vaegan``
(Kim's VAE-GAN), ``manifold`` (distance to the manifold of clean and
adversarial images; needs a train and a vaegan cell) and ``linear``
(Tsipras's linear-classifier study; no dependencies).

Users and tests may register their own kinds (``KINDS["mine"] = fn``) before
loading a spec that uses them. TensorFlow is imported only when a kind runs.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError, DataConfig, load_yaml, parse_number, train_config_from_dict

__all__ = ["KINDS", "Kind", "attack_kind", "roar_kind", "saliency_kind", "toy_kind", "train_kind",
           "tsipras_kind"]

Kind = Callable[[dict[str, Any], dict[str, Path], Path], Mapping[str, Any]]


def train_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Trains one model: ``params`` is a training config (the layout of ``configs/*.yaml``).

    IR targets from a dependency: with ``method: ir``, ``method_options.targets``
    may name a dependency key instead of a path, e.g. ``targets: saliency``
    (the ``saliency`` stage's directory, holding one method's maps) or
    ``targets: saliency/smoothgrad.npy`` (one file of a directory holding
    several). The first path part is replaced by that dependency's artifact
    directory (a dependency key wins over a same-named relative path); the
    cell's hash stays independent of where the study lives, and changes with
    the saliency cell's hash. Without ``targets``, an ``ir`` cell whose
    dependencies include exactly one saliency directory (``saliency.json``)
    uses it.

    eps = 0 is standard training (Kim et al. 2019 B.1 count eps = 0 as the
    standard model): a cell with ``method: adversarial`` whose
    ``method_options.attack.eps`` is 0 trains as ``method: standard`` without
    method options (no PGD steps are spent on a zero-radius attack), so an eps
    grid may include 0; its ``config.yaml`` records ``method: standard`` and its
    metrics ``trained_as: standard``.

    Writes the artifacts of :func:`tfrobust.training.train` (``model.keras``,
    ``history.csv``, ``metrics.json``, ...) into ``out_dir``; a killed cell
    re-run into the same directory resumes from its last finished epoch.

    Returns:
        The values of the run's ``metrics.json`` (test accuracy and loss,
        throughput); plus ``trained_as: standard`` for an eps = 0 adversarial cell.
    """
    from tfrobust.training import train
    from tfrobust.training.run import is_finished_run

    standard = _zero_eps_adversarial(params)
    if standard:
        params = {**params, "method": "standard"}
        params.pop("method_options", None)
    _resolve_targets(params, deps)
    config = train_config_from_dict(params)  # validates; errors name the field
    if is_finished_run(out_dir):
        # Killed after train() returned but before the ledger said done: the runner re-uses a
        # cell directory only for the same cell config, so the finished run is this cell's.
        metrics = json.loads((Path(out_dir) / "metrics.json").read_text(encoding="utf-8"))
    else:
        metrics = dict(train(config, out_dir, verbose=2).metrics)
    if standard:
        metrics["trained_as"] = "standard"
    return metrics


def _zero_eps_adversarial(params: Mapping[str, Any]) -> bool:
    """True for ``method: adversarial`` with ``method_options.attack.eps`` equal to 0."""
    if params.get("method") != "adversarial":
        return False
    options = params.get("method_options")
    attack = options.get("attack") if isinstance(options, Mapping) else None
    if not isinstance(attack, Mapping) or "eps" not in attack:
        return False
    try:
        return parse_number(attack["eps"], name="method_options.attack.eps") == 0.0
    except (ConfigError, ValueError, TypeError):
        return False  # train_config_from_dict / the attack report it


def _resolve_targets(params: dict[str, Any], deps: Mapping[str, Path]) -> None:
    """Rewrites ``method_options.targets`` (a dependency reference) of a method that streams
    target maps (``ir``: ``"targets"`` in its ``data_options``) to a path, in place."""
    from tfrobust.training import METHODS

    method = METHODS.get(params.get("method"))  # type: ignore[arg-type]  # validated later
    if method is None or "targets" not in method.data_options:
        return
    options = params.get("method_options")
    if options is None:
        options = params["method_options"] = {}
    if not isinstance(options, dict):
        return  # train_config_from_dict reports it
    targets = options.get("targets")
    if targets is None:
        found = [path for path in deps.values() if (path / "saliency.json").is_file()]
        if len(found) == 1:
            options["targets"] = str(found[0])
        return
    if isinstance(targets, str):
        head, _, rest = targets.partition("/")
        if head in deps:
            options["targets"] = str(deps[head] / rest) if rest else str(deps[head])


ATTACK_PARAMS = ("norms", "eps", "steps", "step_size", "restarts", "objective", "l2_step", "limit",
                 "split", "batch_size", "seed", "step_size_factor", "long_steps")


def _count(params: Mapping[str, Any], name: str, default: int | None, minimum: int) -> int | None:
    value = params.get(name, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"attack.{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _radii(value: Any, name: str) -> list[float]:
    items = value if isinstance(value, (list, tuple)) else [value]
    radii = [parse_number(v, name=name) for v in items]
    if not radii or any(r < 0 for r in radii):
        raise ConfigError(f"{name}: give one or more radii >= 0, got {value!r}")
    return radii


def attack_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Robust accuracy under PGD of the model trained by the one dependency ``train`` cell.

    Params: ``norms`` (``l2``, ``linf``, a list, or ``"l2,linf"``), ``eps`` (a
    radius, a list, or a mapping norm -> list; ``8/255`` allowed; data units),
    ``steps`` (40), ``step_size`` (default 2.5 eps/steps), ``step_size_factor``
    (the 2.5 of that default: a number, or a mapping norm -> number for per-norm
    rules such as Noack et al.'s code, l2 5.1 and linf 10 on CIFAR-10; not with
    ``step_size``), ``restarts`` (1),
    ``objective`` (xent), ``l2_step`` (normalized), ``long_steps`` (refuse |
    cut: a step longer than the ball's diameter), ``limit`` (examples, None:
    all), ``split`` (test), ``batch_size`` (256), ``seed`` (0). The dataset,
    its bounds and classes are those the model was trained on (its ``config.yaml``).

    Writes ``robust_accuracy.csv`` (the table of
    :func:`tfrobust.evaluation.robust_accuracy_table`) into ``out_dir``.

    Returns:
        ``clean_accuracy``, ``n`` and ``robust_<norm>_<eps>`` (mean over
        restarts) per (norm, eps); with restarts > 1 also ``robust_worst_<norm>_<eps>``.
    """
    unknown = sorted(set(params) - set(ATTACK_PARAMS))
    if unknown:
        raise ConfigError(f"attack: unknown param(s) {', '.join(unknown)}; known: {', '.join(ATTACK_PARAMS)}")
    runs = [path for path in deps.values() if (path / "model.keras").is_file()]
    if len(runs) != 1:
        raise ValueError(f"attack needs exactly one dependency with a model.keras, got {len(runs)} "
                         f"({', '.join(deps) or 'no dependencies'})")
    norms_value = params.get("norms", "l2")
    norms = [n.strip() for n in norms_value.split(",")] if isinstance(norms_value, str) else list(norms_value)
    if not norms or any(n not in ("l2", "linf") for n in norms):
        raise ConfigError(f"attack.norms: choose from l2, linf, got {norms_value!r}")
    if "eps" not in params:
        raise ConfigError("attack.eps: give the radii to attack with")
    eps_value = params["eps"]
    eps: list[float] | dict[str, list[float]]
    if isinstance(eps_value, Mapping):
        missing = [n for n in norms if n not in eps_value]
        if missing:
            raise ConfigError(f"attack.eps: no radii for {', '.join(missing)}")
        eps = {n: _radii(eps_value[n], f"attack.eps.{n}") for n in norms}
    else:
        eps = _radii(eps_value, "attack.eps")
    steps = _count(params, "steps", 40, 0)
    restarts = _count(params, "restarts", 1, 1)
    limit = _count(params, "limit", None, 1)
    batch_size = _count(params, "batch_size", 256, 1)
    seed = _count(params, "seed", 0, 0)
    split = params.get("split", "test")
    if split not in ("train", "test"):
        raise ConfigError(f"attack.split: train or test, got {split!r}")
    step_size = params.get("step_size")
    size = None if step_size is None else parse_number(step_size, name="attack.step_size")
    factor_value = params.get("step_size_factor", 2.5)
    if step_size is not None and "step_size_factor" in params:
        raise ConfigError("attack: give step_size or step_size_factor, not both")
    if isinstance(factor_value, Mapping):
        if sorted(factor_value) != sorted(norms):
            raise ConfigError(f"attack.step_size_factor: give one factor per norm ({', '.join(norms)}), "
                              f"got {', '.join(map(str, factor_value)) or 'none'}")
        factors = {n: parse_number(factor_value[n], name=f"attack.step_size_factor.{n}") for n in norms}
    else:
        factors = dict.fromkeys(norms, parse_number(factor_value, name="attack.step_size_factor"))
    if any(f <= 0 for f in factors.values()):
        raise ConfigError(f"attack.step_size_factor must be > 0, got {factor_value!r}")

    from tfrobust.data import load_dataset
    from tfrobust.evaluation import robust_accuracy_table
    from tfrobust.training import load_model

    run = runs[0]
    trained = dict(load_yaml(run / "config.yaml").get("data") or {}) if (run / "config.yaml").is_file() else {}
    data = DataConfig(name=trained.get("name", "fashion_mnist"), data_dir=trained.get("data_dir"),
                      classes=trained.get("classes"), bounds=trained.get("bounds"),
                      options=trained.get("options") or {})
    ds = load_dataset(data.name, split, data_dir=data.data_dir, classes=data.classes, limit=limit,
                      bounds=data.bounds, seed=int(seed or 0), **data.options)
    model = load_model(run / "model.keras")
    # One table per distinct factor (norms sharing a factor share the clean pass).
    groups: dict[float, list[str]] = {}
    for n in norms:
        groups.setdefault(factors[n], []).append(n)
    import pandas as pd

    table = pd.concat([robust_accuracy_table(
        model, ds.pipeline(int(batch_size or 256)), norms=group,
        eps=eps if not isinstance(eps, dict) else {n: eps[n] for n in group}, bounds=ds.bounds,
        steps=int(steps or 0), step_size=size, step_size_factor=factor,
        objective=params.get("objective", "xent"), restarts=int(restarts or 1),
        l2_step=params.get("l2_step", "normalized"), seed=int(seed or 0),
        long_steps=params.get("long_steps", "refuse"),
    ) for factor, group in groups.items()], ignore_index=True)
    tmp = out_dir / f".robust_accuracy.csv.tmp{os.getpid()}"
    table.to_csv(tmp, index=False)
    os.replace(tmp, out_dir / "robust_accuracy.csv")
    metrics: dict[str, Any] = {"clean_accuracy": float(table["clean_accuracy"].iloc[0]),
                               "n": int(table["n"].iloc[0])}
    for _, row in table.iterrows():
        metrics[f"robust_{row['norm']}_{row['eps']:g}"] = float(row["robust_accuracy_mean"])
        if row["restarts"] > 1:
            metrics[f"robust_worst_{row['norm']}_{row['eps']:g}"] = float(row["robust_accuracy_worst"])
    return metrics


# --------------------------------------------------------------------------
# helpers of the kinds below


def _check_known(kind: str, params: Mapping[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ConfigError(f"{kind}: unknown param(s) {', '.join(unknown)}; known: {', '.join(known)}")


def _int(kind: str, params: Mapping[str, Any], name: str, default: int | None, minimum: int) -> int | None:
    value = params.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{kind}.{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _real(kind: str, params: Mapping[str, Any], name: str, default: float | None) -> float | None:
    value = params.get(name, default)
    return None if value is None else parse_number(value, name=f"{kind}.{name}")


def _names(kind: str, name: str, value: Any, choices: Sequence[str]) -> list[str]:
    """A list of names from a list or a comma-separated string, each one of ``choices``, no repeats."""
    items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
    if (not isinstance(items, (list, tuple)) or not items or any(v not in choices for v in items)
            or len(set(items)) != len(items)):
        raise ConfigError(f"{kind}.{name}: choose from {', '.join(choices)} (a list or comma-separated, "
                          f"no repeats), got {value!r}")
    return [str(v) for v in items]


def _model_run(kind: str, deps: Mapping[str, Path]) -> Path:
    """The one dependency directory holding a ``model.keras``."""
    runs = [path for path in deps.values() if (path / "model.keras").is_file()]
    if len(runs) != 1:
        raise ValueError(f"{kind} needs exactly one dependency with a model.keras, got {len(runs)} "
                         f"({', '.join(deps) or 'no dependencies'})")
    return runs[0]


def _run_config(run: Path) -> dict[str, Any]:
    return load_yaml(run / "config.yaml") if (run / "config.yaml").is_file() else {}


def _run_data(trained: Mapping[str, Any]) -> DataConfig:
    data = dict(trained.get("data") or {})
    return DataConfig(name=data.get("name", "fashion_mnist"), data_dir=data.get("data_dir"),
                      classes=data.get("classes"), limit=data.get("limit"), bounds=data.get("bounds"),
                      options=data.get("options") or {})


def _load_split(data: DataConfig, split: str, *, limit: int | None, seed: int) -> Any:
    from tfrobust.data import load_dataset

    return load_dataset(data.name, split, data_dir=data.data_dir, classes=data.classes, limit=limit,
                        bounds=data.bounds, seed=seed, **data.options)


def _write_rows(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Rows as a CSV, atomically (temp file + ``os.replace``)."""
    import pandas as pd

    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    pd.DataFrame(list(rows)).to_csv(tmp, index=False)
    os.replace(tmp, path)


def _plain(value: Any) -> Any:
    """A JSON-safe scalar: numpy scalars to Python, NaN and inf to None."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    number = float(value)
    if not math.isfinite(number):
        return None
    return int(value) if isinstance(value, int) else number


# --------------------------------------------------------------------------
# saliency

#: Noack et al. 2021 sec. 4.1 SmoothGrad settings (sigma absolute, in data units).
SMOOTHGRAD_OPTIONS: dict[str, Any] = {"samples": 50, "sigma": 0.15, "base": "logit_gradient"}
SALIENCY_PARAMS = ("methods", "split", "limit", "threshold", "permute", "samples", "sigma", "base",
                   "batch_size", "seed", "clip", "include_clean", "threshold_mode")


def saliency_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Attribution maps of the one dependency ``train`` cell's model, aligned with its data.

    Params: ``methods`` (a name, a list or ``"a,b"`` of
    :data:`tfrobust.attribution.ATTRIBUTIONS`; default ``smoothgrad``),
    ``split`` (``train``, usable as IR targets; or ``test``), ``limit`` (first
    N examples; default the train cell's ``data.limit``, which keeps the maps
    aligned with its training data), ``threshold`` (phi >= 0; None: none),
    ``permute`` (fraction in [0, 1]; None: none), ``samples``, ``sigma``,
    ``base`` (smoothgrad only; Noack sec. 4.1 defaults 50, 0.15, logit_gradient; None:
    the default; ``sigma`` is ignored without smoothgrad, so one stage can serve both),
    ``batch_size`` (128), ``seed`` (0: noise and permutation), ``clip`` and
    ``include_clean`` (smoothgrad only, default false: clip the noisy copies to
    the data's bounds / average the clean input's map in, as Noack et al.'s
    code does), ``threshold_mode`` (``two_sided``, the paper's text, or
    ``upper``, the authors' code; see :func:`tfrobust.training.compute_maps`).
    The dataset, bounds, classes and data seed are those of the train cell (its
    ``config.yaml``).

    Writes ``<method>.npy`` and ``saliency.json`` into ``out_dir``
    (:func:`tfrobust.training.compute_maps`: atomic, resumable). A later ``ir``
    train cell uses them with ``method_options: {targets: <this stage's name>}``
    (one method) or ``targets: <stage>/<method>.npy`` (see :func:`train_kind`).

    Returns:
        ``count`` (examples) and ``mean_abs_<method>`` (mean |map|) per method.
    """
    from tfrobust.attribution import ATTRIBUTIONS

    _check_known("saliency", params, SALIENCY_PARAMS)
    methods = _names("saliency", "methods", params.get("methods", "smoothgrad"), list(ATTRIBUTIONS))
    split = params.get("split", "train")
    if split not in ("train", "test"):
        raise ConfigError(f"saliency.split: train or test, got {split!r}")
    phi = _real("saliency", params, "threshold", None)
    fraction = _real("saliency", params, "permute", None)
    # None means "the default"; it lets one stage list methods with and without SmoothGrad options.
    smooth: dict[str, Any] = {k: params[k] for k in ("samples", "sigma", "base") if params.get(k) is not None}
    if "smoothgrad" not in methods and any(params.get(k) is not None for k in ("samples", "base")):
        raise ConfigError("saliency: samples and base apply to the smoothgrad method only")
    if "smoothgrad" not in methods:
        smooth = {}  # sigma alone may stay in a stage shared by simple-gradient cells
    if "sigma" in smooth:
        smooth["sigma"] = parse_number(smooth["sigma"], name="saliency.sigma")
    # Noack et al.'s code: noisy copies clipped to the data bounds, the clean input averaged in
    # (smoothgrad only; like sigma, ignored by other methods so one stage can serve both).
    for flag in ("clip", "include_clean"):
        if not isinstance(params.get(flag, False), bool):
            raise ConfigError(f"saliency.{flag} must be true or false, got {params[flag]!r}")
    if params.get("include_clean") and "smoothgrad" in methods:
        smooth["include_clean"] = True
    threshold_mode = params.get("threshold_mode", "two_sided")
    if threshold_mode not in ("two_sided", "upper"):
        raise ConfigError(f"saliency.threshold_mode: two_sided or upper, got {threshold_mode!r}")
    batch_size = int(_int("saliency", params, "batch_size", 128, 1) or 128)
    seed = int(_int("saliency", params, "seed", 0, 0) or 0)

    from tfrobust.training import compute_maps, load_model, saliency_index

    run = _model_run("saliency", deps)
    trained = _run_config(run)
    data = _run_data(trained)
    limit = _int("saliency", params, "limit", data.limit, 1)
    ds = _load_split(data, split, limit=limit, seed=int(trained.get("seed") or 0))
    model = load_model(run / "model.keras")
    if params.get("clip") and "smoothgrad" in methods:
        smooth["bounds"] = [float(b) for b in ds.bounds]
    for method in methods:
        compute_maps(model, ds, method=method, out_dir=out_dir, batch_size=batch_size,
                     options={**SMOOTHGRAD_OPTIONS, **smooth} if method == "smoothgrad" else None,
                     threshold=phi, permute=fraction, seed=seed, threshold_mode=threshold_mode, progress=False,
                     model_source=str(run / "model.keras"), limit=limit)
    index = saliency_index(out_dir)
    metrics: dict[str, Any] = {"count": len(ds)}
    for method in methods:
        metrics[f"mean_abs_{method}"] = _plain(index["maps"][method]["mean_abs"])
    return metrics


# --------------------------------------------------------------------------
# roar

ROAR_PARAMS = ("methods", "fractions", "repeats", "modes", "epochs", "batch_size", "limit", "test_limit",
               "group_size", "fill", "rank_mode", "learning_rate", "seed", "label", "ties", "end_point")


def roar_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """ROAR / KAR of attribution methods for the one dependency ``train`` cell's model.

    Params: ``methods`` (required; list or ``"a,b"``; include ``random``, the
    baseline of mu), ``fractions`` (default 0.1 ... 0.9), ``repeats`` (3),
    ``modes`` (``roar``, ``kar`` or both; default ``roar``), ``epochs`` (5),
    ``batch_size`` (128), ``limit`` / ``test_limit`` (first N train / test
    images; default the train cell's ``data.limit``), ``group_size`` (8),
    ``fill`` (``mean`` or a number), ``rank_mode`` (``abs``/``signed``),
    ``label`` (``predicted``: maps of the model's predicted class, Kim's code;
    or ``true``), ``ties`` (``random``, Kim's code, or ``index``),
    ``end_point`` (``chance``: curves end at (1, 1/K), Kim's code; or ``none``),
    ``learning_rate`` (Adam, 1e-3), ``seed`` (0). The retrained architecture,
    the dataset, bounds and classes are the train cell's (its ``config.yaml``).

    Writes (:func:`tfrobust.evaluation.run_roar`, resumable) ``roar.csv``,
    ``scores.csv``, ``maps/``, ``members/`` and ``curves.png``
    (:func:`tfrobust.reports.write_roar_figure`) into ``out_dir``.

    Returns:
        ``mu_<mode>_<method>`` and ``area_<mode>_<method>`` per (mode, method)
        (mu None where it is undefined), and ``members`` (retrained classifiers).
    """
    from tfrobust.attribution import ATTRIBUTIONS

    _check_known("roar", params, ROAR_PARAMS)
    if "methods" not in params:
        raise ConfigError("roar.methods: give the attribution methods (include random, the baseline)")
    methods = _names("roar", "methods", params["methods"], list(ATTRIBUTIONS))
    modes = _names("roar", "modes", params.get("modes", "roar"), ["roar", "kar"])
    fractions_value = params.get("fractions", [0.1, 0.3, 0.5, 0.7, 0.9])
    items = fractions_value if isinstance(fractions_value, (list, tuple)) else [fractions_value]
    fractions = [parse_number(v, name="roar.fractions") for v in items]
    repeats = int(_int("roar", params, "repeats", 3, 1) or 3)
    epochs = int(_int("roar", params, "epochs", 5, 1) or 5)
    batch_size = int(_int("roar", params, "batch_size", 128, 1) or 128)
    group_size = int(_int("roar", params, "group_size", 8, 1) or 8)
    seed = int(_int("roar", params, "seed", 0, 0) or 0)
    fill = params.get("fill", "mean")
    fill_value: str | float = fill if fill == "mean" else parse_number(fill, name="roar.fill")
    rank_mode = params.get("rank_mode", "abs")
    if rank_mode not in ("abs", "signed"):
        raise ConfigError(f"roar.rank_mode: abs or signed, got {rank_mode!r}")
    choices = {"label": ("predicted", "true"), "ties": ("random", "index"), "end_point": ("chance", "none")}
    chosen = {name: params.get(name, options[0]) for name, options in choices.items()}
    for name, value in chosen.items():
        if value not in choices[name]:
            raise ConfigError(f"roar.{name}: {' or '.join(choices[name])}, got {value!r}")
    learning_rate = _real("roar", params, "learning_rate", None)

    from tfrobust.config import OptimizerConfig
    from tfrobust.evaluation import run_roar
    from tfrobust.reports import write_roar_figure
    from tfrobust.training import load_model

    run = _model_run("roar", deps)
    trained = _run_config(run)
    model_section = dict(trained.get("model") or {})
    if not model_section.get("arch"):
        raise ValueError(f"roar: {run / 'config.yaml'} names no model.arch to retrain")
    data = _run_data(trained)
    train_ds = _load_split(data, "train", limit=_int("roar", params, "limit", data.limit, 1), seed=seed)
    test_ds = _load_split(data, "test", limit=_int("roar", params, "test_limit", data.limit, 1), seed=seed)
    optimizer = OptimizerConfig() if learning_rate is None else OptimizerConfig(learning_rate=learning_rate)
    result = run_roar(load_model(run / "model.keras"), train_ds, test_ds, out_dir=out_dir, methods=methods,
                      arch=str(model_section["arch"]), arch_options=dict(model_section.get("options") or {}),
                      fractions=fractions, repeats=repeats, modes=modes, epochs=epochs, batch_size=batch_size,
                      optimizer=optimizer, fill=fill_value, rank_mode=rank_mode, group_size=group_size,
                      seed=seed, progress=False, **chosen)
    write_roar_figure(out_dir / "roar.csv", out_dir / "curves.png")
    metrics: dict[str, Any] = {"members": result.trained + result.reused}
    for row in result.scores:
        metrics[f"mu_{row['mode']}_{row['method']}"] = _plain(row["mu"])
        metrics[f"area_{row['mode']}_{row['method']}"] = _plain(row["area"])
    return metrics


# --------------------------------------------------------------------------
# tsipras

TSIPRAS_PARAMS = ("d", "eta", "p", "eps", "n_train", "n_test", "epochs", "batch_size", "learning_rate",
                  "attack_steps", "seed", "trainings", "theorem")


def tsipras_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Tsipras et al. 2019 eq. 3: standard vs adversarially trained linear classifiers (no dependencies).

    Params (:func:`tfrobust.theory.linear_tsipras_experiment`): ``d`` (1000),
    ``eta`` (4/sqrt(d)), ``p`` (0.7), ``eps`` (2 eta), ``n_train``,
    ``n_test`` (10000 each), ``epochs`` (10), ``batch_size`` (100),
    ``learning_rate`` (1e-3), ``attack_steps`` (5), ``seed`` (0),
    ``trainings`` (``standard``, ``adversarial`` or both), ``theorem`` (true:
    also check Theorem 2.1 on the linear grid of
    :func:`tfrobust.theory.check_theorem_bound` at ``max(eps, 2 eta)``; closed
    form, cheap).

    Writes ``tsipras.csv`` (one row per training) and, with ``theorem``,
    ``theorem.csv`` into ``out_dir`` (atomically).

    Returns:
        ``standard_accuracy_<training>``, ``adversarial_accuracy_<training>``,
        ``adversarial_accuracy_pgd_<training>`` and
        ``population_standard_accuracy_<training>`` per training; with
        ``theorem``, ``theorem_classifiers`` and ``theorem_holds`` (how many
        satisfy the bound exactly).
    """
    _check_known("tsipras", params, TSIPRAS_PARAMS)
    trainings = _names("tsipras", "trainings", params.get("trainings", ["standard", "adversarial"]),
                       ["standard", "adversarial"])
    theorem = params.get("theorem", True)
    if not isinstance(theorem, bool):
        raise ConfigError(f"tsipras.theorem: true or false, got {theorem!r}")
    kwargs: dict[str, Any] = {}
    for name in ("d", "n_train", "n_test", "epochs", "batch_size", "attack_steps"):
        if name in params:
            kwargs[name] = _int("tsipras", params, name, None, 1)
    for name in ("eta", "p", "eps", "learning_rate"):
        if params.get(name) is not None:
            kwargs[name] = _real("tsipras", params, name, None)
    seed = int(_int("tsipras", params, "seed", 0, 0) or 0)

    from tfrobust.theory import check_theorem_bound, linear_tsipras_experiment

    rows = linear_tsipras_experiment(**kwargs, seed=seed, trainings=trainings)
    _write_rows(rows, out_dir / "tsipras.csv")
    metrics: dict[str, Any] = {}
    for row in rows:
        for key in ("standard_accuracy", "adversarial_accuracy", "adversarial_accuracy_pgd",
                    "population_standard_accuracy"):
            metrics[f"{key}_{row['training']}"] = _plain(row[key])
    if theorem:
        first = rows[0]  # the resolved setting (defaults filled in)
        eta = float(first["eta"])
        grid = check_theorem_bound(d=int(first["d"]), eta=eta, p=float(first["p"]),
                                   eps=max(float(first["eps"]), 2 * eta), n=int(first["n_test"]), seed=seed)
        _write_rows(grid, out_dir / "theorem.csv")
        metrics["theorem_classifiers"] = len(grid)
        metrics["theorem_holds"] = sum(bool(r["population_holds"]) for r in grid)
    return metrics


# --------------------------------------------------------------------------
# toy

TOY_PARAMS = ("eps", "epochs", "n", "seed", "attack_eps", "steps", "batch_size", "learning_rate", "geometry",
              "step_size", "random_start")


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
    _check_known("toy", params, TOY_PARAMS)
    eps_value = params.get("eps", [0.0, 0.25, 0.5])
    eps = _radii(eps_value, "toy.eps")
    if len(set(eps)) != len(eps):
        raise ConfigError(f"toy.eps: duplicate radii in {eps_value!r}")
    kwargs: dict[str, Any] = {"eps_list": eps}
    for name in ("epochs", "n", "steps", "batch_size"):
        if name in params:
            kwargs[name] = _int("toy", params, name, None, 1)
    for name in ("attack_eps", "learning_rate"):
        if params.get(name) is not None:
            kwargs[name] = _real("toy", params, name, None)
    seed = int(_int("toy", params, "seed", 0, 0) or 0)
    if "step_size" in params:  # null: PGD's default 2.5 eps / steps
        kwargs["step_size"] = _real("toy", params, "step_size", None)
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
        metrics[f"tilt_{label}"] = _plain(row["tilt_degrees"])
        metrics[f"clean_accuracy_{label}"] = _plain(row["clean_accuracy"])
        metrics[f"robust_accuracy_{label}"] = _plain(row["robust_accuracy"])
    return metrics


KINDS: dict[str, Kind] = {
    "train": train_kind,
    "attack": attack_kind,
    "saliency": saliency_kind,
    "roar": roar_kind,
    "tsipras": tsipras_kind,
    "toy": toy_kind,
}

from tfrobust.studies.analysis import ANALYSIS_KINDS  # noqa: E402  (analysis imports this module's helpers)

KINDS.update(ANALYSIS_KINDS)
