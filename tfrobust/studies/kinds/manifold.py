"""Distance to the VAE-GAN manifold (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError, DataConfig
from tfrobust.registry import register
from tfrobust.studies.kinds.common import (
    check_known,
    choice_param,
    int_param,
    load_split,
    model_run,
    plain,
    predict,
    radius_param,
    real_param,
    run_config,
    run_data,
    save_npz,
    write_rows,
)

__all__ = ["manifold_kind"]



MANIFOLD_PARAMS = ("eps", "steps", "norm", "objective", "limit", "batch_size", "seed", "examples", "step_size",
                   "random_start", "kappa", "projection")


def _bounds_of(run: Path) -> tuple[float, float] | None:
    bounds = (run_config(run).get("data") or {}).get("bounds")
    return None if bounds is None else (float(bounds[0]), float(bounds[1]))


@register("kinds", "manifold")
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

    check_known("manifold", params, MANIFOLD_PARAMS)
    eps = radius_param("manifold", params, "eps", KIM_EPS)
    steps = int(int_param("manifold", params, "steps", KIM_STEPS, 0) or 0)
    norm = choice_param("manifold", params, "norm", "l2", ("l2", "linf"))
    objective = choice_param("manifold", params, "objective", "xent", ("xent", "cw"))
    limit = int(int_param("manifold", params, "limit", 500, 1) or 500)
    batch_size = int(int_param("manifold", params, "batch_size", 256, 1) or 256)
    seed = int(int_param("manifold", params, "seed", 0, 0) or 0)
    n_examples = int(int_param("manifold", params, "examples", 8, 0) or 0)
    step_size = real_param("manifold", params, "step_size", min(KIM_STEP_SIZES[norm], 2 * eps) if eps > 0 else None)
    random_start = params.get("random_start", False)
    if not isinstance(random_start, bool):
        raise ConfigError(f"manifold.random_start must be true or false, got {random_start!r}")
    kappa = real_param("manifold", params, "kappa", KIM_KAPPA)
    projection = choice_param("manifold", params, "projection", "mean", ("mean", "sample"))
    vaegans = [path for path in deps.values() if (path / "vaegan.keras").is_file()]
    if len(vaegans) != 1:
        raise ValueError(f"manifold needs exactly one dependency with a vaegan.keras (a vaegan cell), got "
                         f"{len(vaegans)} ({', '.join(deps) or 'no dependencies'})")
    run = model_run("manifold", deps)

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
    trained = run_config(run)
    data = run_data(trained)
    data = DataConfig(name=data.name, data_dir=data.data_dir, classes=data.classes, bounds=vaegan_bounds,
                      options=data.options)
    test = load_split(data, "test", limit=limit, seed=int(trained.get("seed") or 0))
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
    write_rows(rows, out_dir / "distances.csv")
    shown = result["examples"]
    k = len(shown["x"])
    save_npz(out_dir / "images.npz", x=shown["x"], x_adv=shown["x_adv"], x_proj=shown["x_projection"],
              x_adv_proj=shown["x_adv_projection"], y=np.asarray(test.y[:k]).astype(np.int64),
              pred=predict(classifier, shown["x_adv"]), success=shown["success"],
              bounds=np.asarray(test.bounds, np.float32))
    label = {run.name: result}
    plot_manifold_histogram(label, out_dir / "histogram.png", title=f"{data.name}, {norm} eps {eps:g}")
    if k:
        plot_adversarial_grid(label, out_dir / "grid.png", bounds=test.bounds)
    clean, adversarial = result["clean"], result["adversarial"]
    return {
        "n": int(result["n"]), "attack_success": plain(result["success_rate"]),
        "clean_accuracy": plain(result["clean_accuracy"]), "n_adversarial": int(adversarial.size),
        "median_clean": plain(np.median(clean)), "mean_clean": plain(clean.mean()),
        "median_adversarial": plain(np.median(adversarial)) if adversarial.size else None,
        "mean_adversarial": plain(adversarial.mean()) if adversarial.size else None,
    }
