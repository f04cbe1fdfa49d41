"""Distance to the VAE-GAN manifold (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from tfrobust.config import ConfigError, check_int
from tfrobust.registry import ATTACKS, NORMS, register
from tfrobust.studies.kinds.common import plain, predict, save_npz, write_rows

__all__ = ["check_params", "manifold_kind"]


def _bounds(section: Mapping[str, Any]) -> tuple[float, float] | None:
    bounds = section.get("bounds")
    return None if bounds is None else (float(bounds[0]), float(bounds[1]))


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """What the manifold kind refuses before loading anything; returns the attack's options as given.

    ``params`` are the kind's params as its signature converts them (missing
    ones take the signature's defaults). The attack's options are checked
    against its registry entry (names, types); Kim's PGD defaults are merged
    under them when the cell runs (:func:`tfrobust.evaluation.manifold.manifold_attack_options`).

    Raises:
        ConfigError: one line naming ``manifold.<param>``.
    """
    eps = params.get("eps", 12.0)
    if eps is not None and eps < 0:
        raise ConfigError(f"manifold.eps must be >= 0, got {eps!r}")
    norm = params.get("norm", "l2")
    if norm not in NORMS:
        raise ConfigError(f"manifold.norm: unknown norm {norm!r}; choose from: {', '.join(NORMS.names())}")
    for name, default, minimum in (("limit", 500, 1), ("batch_size", 256, 1), ("seed", 0, 0), ("examples", 8, 0)):
        check_int(params.get(name, default), name=f"manifold.{name}", minimum=minimum)
    try:
        entry = ATTACKS[params.get("attack", "pgd")]
    except ConfigError as err:
        raise ConfigError(f"manifold.attack: {' '.join(str(err).split())}") from None
    return entry.parse(params.get("options"), prefix="manifold.options")


@register("kinds", "manifold")
def manifold_kind(
    deps: Mapping[str, Path],
    out_dir: Path,
    *,
    eps: float = 12.0,
    norm: str = "l2",
    attack: str = "pgd",
    options: Mapping[str, Any] | None = None,
    limit: int = 500,
    batch_size: int = 256,
    seed: int = 0,
    examples: int = 8,
    projection: Literal["mean", "sample"] = "mean",
) -> Mapping[str, Any]:
    """Distance to the data manifold of clean test images and successful adversarial examples (Kim Fig. 1).

    Dependencies: exactly one ``train`` cell (a directory with
    ``model.keras``) and one ``vaegan`` cell (``vaegan.keras``). The data
    are the classifier's test split (its dataset, classes and options) in
    the VAE-GAN's bounds; the classifier must have been trained on the same
    bounds. The attack is any registered one; the default, PGD, runs as in
    Kim's code unless ``options`` say otherwise (40 steps, no random start,
    fixed steps: l2 2, linf 0.02, cut to the ball's diameter 2 eps; CW cap
    500; :func:`tfrobust.evaluation.manifold.manifold_attack_options`).
    Failed attacks (prediction unchanged) are dropped, as in the paper
    (:func:`tfrobust.evaluation.manifold.manifold_study`).

    Params: ``eps`` (:data:`tfrobust.evaluation.manifold.KIM_EPS`, 12: Kim
    B.1 for [-1, 1] data), ``norm`` (a registered norm), ``attack`` (a name
    of :data:`tfrobust.registry.ATTACKS`), ``options`` (the attack's, e.g.
    ``{steps: 20, objective: cw}``; ``step_size: null`` is PGD's own
    ``2.5 eps / steps``), ``limit`` (first N test images), ``batch_size``,
    ``seed``, ``examples`` (images kept in images.npz / grid.png),
    ``projection`` (``mean``: ``dec(enc_mean(x))``, the paper's pi;
    ``sample``: ``dec(mean + sigma e)``, what Kim's code measures).

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
    given = check_params({"eps": eps, "norm": norm, "attack": attack, "options": options, "limit": limit,
                          "batch_size": batch_size, "seed": seed, "examples": examples})
    vaegans = [Path(path) for path in deps.values() if (Path(path) / "vaegan.keras").is_file()]
    if len(vaegans) != 1:
        raise ValueError(f"manifold needs exactly one dependency with a vaegan.keras (a vaegan cell), got "
                         f"{len(vaegans)} ({', '.join(deps) or 'no dependencies'})")

    from tfrobust.training.rundir import dependency_run, open_run

    run = dependency_run("manifold", deps)
    vaegan_run = open_run(vaegans[0], filename="vaegan.keras", what="VAE-GAN", directory="a vaegan cell")
    vaegan_bounds = _bounds(vaegan_run.data_section)
    model_bounds = _bounds(run.data_section)
    if vaegan_bounds is None:
        raise ValueError(f"manifold: {vaegans[0] / 'config.yaml'} records no data bounds")
    if model_bounds is not None and model_bounds != vaegan_bounds:
        raise ValueError(f"manifold: the classifier ({run.directory.name}) was trained on bounds {model_bounds}, "
                         f"the VAE-GAN ({vaegans[0].name}) on {vaegan_bounds}; train both on the same bounds")

    import numpy as np

    from tfrobust.evaluation import manifold as library

    data = run.data_for(bounds=vaegan_bounds)
    test = run.load_split("test", limit=limit, seed=int(run.config.get("seed") or 0), data=data)
    shape = tuple(test.input_shape)
    # the attack as it will run, checked before any model is loaded (e.g. a PGD step longer than the ball)
    library.manifold_attack(attack, given, norm=norm, eps=eps, bounds=test.bounds, input_shape=shape,
                            prefix="manifold.options")
    vaegan = vaegan_run.load_model()
    if not hasattr(vaegan, "project"):
        raise ValueError(f"manifold: {vaegan_run.model_file} is not a VAE-GAN")
    vaegan_shape = tuple(vaegan.encoder.inputs[0].shape[1:])
    if shape != vaegan_shape:
        raise ValueError(f"manifold: the VAE-GAN takes inputs {vaegan_shape}, {data.name} has {shape}")
    classifier = run.load_model()
    projector = vaegan if projection == "mean" else library.sampled_projection(vaegan, seed=seed)
    result = library.manifold_study(classifier, projector, test, eps=eps, norm=norm, attack=attack, options=given,
                                    batch_size=batch_size, seed=seed, examples=examples)
    rows = [{"kind": "clean", "index": i, "distance": float(d)} for i, d in enumerate(result["clean"])]
    rows += [{"kind": "adversarial", "index": int(i), "distance": float(d)}
             for i, d in zip(result["adversarial_index"], result["adversarial"])]
    write_rows(rows, out_dir / "distances.csv")
    shown = result["examples"]
    k = len(shown["x"])
    save_npz(out_dir / "images.npz", x=shown["x"], x_adv=shown["x_adv"], x_proj=shown["x_projection"],
             x_adv_proj=shown["x_adv_projection"], y=np.asarray(test.y[:k]).astype(np.int64),
             class_names=np.asarray(test.class_names, dtype=str),
             pred=predict(classifier, shown["x_adv"]), success=shown["success"],
             bounds=np.asarray(test.bounds, np.float32))
    label = {run.directory.name: result}
    library.plot_manifold_histogram(label, out_dir / "histogram.png", title=f"{data.name}, {norm} eps {eps:g}")
    if k:
        library.plot_adversarial_grid(label, out_dir / "grid.png", bounds=test.bounds)
    clean, adversarial = result["clean"], result["adversarial"]
    return {
        "n": int(result["n"]), "attack_success": plain(result["success_rate"]),
        "clean_accuracy": plain(result["clean_accuracy"]), "n_adversarial": int(adversarial.size),
        "median_clean": plain(np.median(clean)), "mean_clean": plain(clean.mean()),
        "median_adversarial": plain(np.median(adversarial)) if adversarial.size else None,
        "mean_adversarial": plain(adversarial.mean()) if adversarial.size else None,
    }
