"""``tfrobust manifold``: train a VAE-GAN and measure adversarial examples' distance to the manifold.

Ref: Kim et al. 2019 sec. 2.1 (d_pi, Fig. 1-2), A.3 (VAE-GAN), B.1 (l2 PGD-40,
cross-entropy, eps 12 on [-1, 1] data).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import click
import numpy as np

from cli import import_tensorflow_quietly
from cli.attack import attack_options
from cli.options import (
    SummaryGroup,
    download_flag,
    keras_verbose,
    option_flag,
    quiet_flag,
    registry_choice,
)
from cli.outdir import check_out_dir
from cli.runs import open_run
from tfrobust.config import parse_number
from tfrobust.data import DATASETS

KIM_BOUNDS = "-1,1"  # Kim A.1: every dataset normalised into [-1, 1] (the decoder's tanh range)


@click.group(cls=SummaryGroup, short_help="VAE-GAN projections and the manifold distance d_pi (Kim et al. 2019).")
def manifold() -> None:
    """VAE-GAN projections and the manifold distance d_pi (Kim et al. 2019 sec. 2.1)."""


# ------------------------------------------------------------------ train
def _one_line(err: object) -> str:
    return " ".join(str(err).split())


def _positive(value: int | None, hint: str) -> None:
    if value is not None and value < 1:
        raise click.BadParameter(f"must be >= 1, got {value}", param_hint=hint)


@manifold.command("train", short_help="Train the VAE-GAN of Kim et al. 2019 A.3 (resumable).")
@click.option("--dataset", type=click.Choice(list(DATASETS)), default=None,
              help="Image dataset with 28x28 or 32x32 images (default: fashion_mnist).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for vaegan.keras, config.yaml, history.csv, reconstructions.png, checkpoint/.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML config (configs/kim_vaegan_*.yaml); flags override it.")
@click.option("--epochs", type=int, default=None,
              help="Epochs (default: Kim A.3, 30 MNIST / 60 FMNIST / 150 CIFAR-10).")
@click.option("--limit", type=int, default=None, help="Train on the first N training images.")
@click.option("--batch-size", type=int, default=None, help="Batch size (default 100, Kim A.3).")
@click.option("--seed", type=int, default=None, help="Seed of weights, shuffling and latent draws (default 0).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Directory with the dataset's original files.")
@download_flag
@click.option("--bounds", default=None, help=f"Value range lo,hi (default {KIM_BOUNDS}, Kim A.1; tanh decoder).")
@quiet_flag
def train(dataset: str | None, out_dir: str, config_path: str | None, epochs: int | None, limit: int | None,
          batch_size: int | None, seed: int | None, data_dir: str | None, bounds: str | None, quiet: bool) -> None:
    """Train the VAE-GAN of Kim et al. 2019 A.3 on a dataset's training split.

    Defaults are the paper's values (encoder / Larsen decoder and
    discriminator for 28x28 images, zdim 10, Adam 5e-4 / 0.5 / 0.999, one
    discriminator update per step; Miyato decoder, SN discriminator, zdim 128,
    Adam 2e-4 / 0 / 0.9, five discriminator updates for 32x32). Re-running
    with the same OUT resumes after the last finished epoch; a larger
    --epochs continues a finished run.

    Quick setting (2-core CPU, a few minutes): --limit 5000 --epochs 1.
    """
    import_tensorflow_quietly()
    from tfrobust.evaluation.manifold import read_vaegan_config, train_vaegan, vaegan_settings

    for value, hint in ((epochs, "--epochs"), (limit, "--limit"), (batch_size, "--batch-size")):
        _positive(value, hint)
    if seed is not None and seed < 0:
        raise click.BadParameter(f"must be >= 0, got {seed}", param_hint="--seed")
    file_values = read_vaegan_config(config_path)
    if config_path is not None:
        if not file_values:
            raise click.BadParameter(f"{config_path} is empty (expected a VAE-GAN config mapping)",
                                     param_hint="--config")
        try:  # the file must be valid on its own, whatever the flags override
            vaegan_settings(file_values)
        except ValueError as err:
            raise click.BadParameter(f"{config_path}: {_one_line(err)}", param_hint="--config") from None
    settings = vaegan_settings(file_values, dataset=dataset, data_dir=data_dir, limit=limit,
                               bounds=bounds, epochs=epochs, batch_size=batch_size, seed=seed)
    _check_vaegan_out(check_out_dir(out_dir))
    result = train_vaegan(out_dir=out_dir, **settings, verbose=keras_verbose(quiet), progress=click.echo)
    if result["skipped"]:
        return  # nothing to do (said so)
    metrics = result["metrics"]
    click.echo(f"test d_pi (first {metrics['test_images']} test images): mean {metrics['test_d_pi_mean']:.3f}, "
               f"median {metrics['test_d_pi_median']:.3f}")
    click.echo(f"model           {result['model']}")
    click.echo(f"reconstructions {Path(out_dir) / 'reconstructions.png'}")


def _check_vaegan_out(out: Path) -> None:
    """Refuses an --out folder that holds files but is not a VAE-GAN directory (never write into those)."""
    from tfrobust.evaluation.vaegan_training import check_vaegan_dir

    try:
        check_vaegan_dir(out)
    except ValueError as err:
        raise click.BadParameter(_one_line(err).removeprefix("out_dir: "), param_hint="--out") from None


# --------------------------------------------------------------- distance
def load_model(path: Path) -> Any:
    """A saved model, Keras safe mode (:func:`tfrobust.training.artifacts.load_model`, imported on first use)."""
    import_tensorflow_quietly()
    from tfrobust.training.artifacts import load_model as load_saved_model

    return load_saved_model(path)


def _options_text(options: dict[str, Any]) -> str:
    """``steps=40, step_size=2, random_start=False``: options as one line."""
    return ", ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                     for key, value in options.items())


def _describe(attack: Any) -> str:
    """``pgd (steps=40, step_size=2, ...), l2 eps 12``: the attack as it will run."""
    settings = {**attack.options, **attack.settings}  # the checker's step_size is the one taken
    return f"{attack.name} ({_options_text(settings) or 'default options'}), {attack.norm} eps {attack.eps:g}"


def _labels(paths: list[Path]) -> list[str]:
    names = [p.parent.name if p.name == "model.keras" else p.stem for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(p.parent if p.name == "model.keras" else p) for p in paths]


@manifold.command("distance", short_help="d_pi of clean and adversarial test images per classifier (Kim Fig. 1-2).")
@click.option("--vaegan", "vaegan_path", required=True, type=click.Path(),
              help="A `manifold train` directory (vaegan.keras, config.yaml) or a .keras file.")
@click.option("--model", "model_text", required=True,
              help="Classifier run directories (or .keras files), comma-separated, e.g. runs/std,runs/adv.")
@click.option("--dataset", type=click.Choice(list(DATASETS)), default=None,
              help="Dataset (default: the VAE-GAN's).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for manifold.csv, summary.csv, histogram.png, grid.png.")
@click.option("--attack", "attack_name", type=registry_choice("attacks"), default="pgd", show_default=True,
              help="A registered attack (`tfrobust list attacks` shows each one's options). pgd runs as the "
                   "authors' code unless --option says otherwise: 40 steps, step_size (default 2, the authors' "
                   "code, cut to the ball's diameter 2*eps; step_size=none: 2.5*eps/steps), random_start=false, "
                   "kappa (objective cw; default 500, the authors' code).")
@click.option("--norm", type=registry_choice("norms"), default="l2", show_default=True,
              help="Threat model (`tfrobust list norms`; Kim B.1: l2).")
@click.option("--eps", "eps_text", default="12", show_default=True,
              help="Radius in data units (Kim B.1: l2 12 on [-1, 1] data; 6 is the same on [0, 1]).")
@option_flag
@click.option("--steps", type=int, default=None, help="Shorthand for --option steps=N (pgd: 40, Kim B.1).")
@click.option("--objective", type=registry_choice("objectives"), default=None,
              help="Shorthand for --option objective=NAME (`tfrobust list objectives`; pgd: xent, Kim B.1).")
@click.option("--projection", type=click.Choice(["mean", "sample"]), default="mean", show_default=True,
              help="pi(x): mean = dec(enc_mean(x)) (the paper); sample = dec(mean + sigma * e), the sampled "
                   "reconstruction the authors' code measures.")
@click.option("--optimize-steps", type=int, default=0, show_default=True,
              help="Project by K latent-optimisation steps from the encoder's latent (Kim footnote 2); "
                   "0: dec(enc(x)).")
@click.option("--limit", type=int, default=None,
              help="Use the first N test images (quick setting: 500).")
@click.option("--batch-size", type=int, default=256, show_default=True,
              help="Examples per batch of attacks and projections.")
@click.option("--bounds", default=None, help="Value range lo,hi (default: the VAE-GAN's).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Directory with the dataset's original files (default: searched in $TFROBUST_DATA_DIR, "
                   "Debian's package path, tensorflow-datasets).")
@download_flag
@click.option("--examples", type=int, default=8, show_default=True, help="Rows of grid.png.")
@click.option("--seed", type=int, default=0, show_default=True, help="Attack seed.")
def distance(vaegan_path: str, model_text: str, dataset: str | None, out_dir: str, attack_name: str, norm: str,
             eps_text: str, options: tuple[str, ...], steps: int | None, objective: str | None, projection: str,
             optimize_steps: int, limit: int | None, batch_size: int, bounds: str | None,
             data_dir: str | None, examples: int, seed: int) -> None:
    """d_pi of test images and of successful adversarial examples per classifier (Kim Fig. 1-2).

    Any registered attack (--attack, its options from --option KEY=VALUE and
    the shorthands --steps and --objective); the default is l2 PGD as the
    authors' code attacks (2.3 FMNIST Gradient Analysis): 40 steps of 2
    (cut to 2*eps), no random start, CW kappa 500. Every option is checked
    before any model is loaded. Failed attacks (prediction unchanged) are
    dropped, as in the paper.
    Writes OUT/manifold.csv (model, kind=clean|adversarial, index, distance),
    OUT/summary.csv (means, medians, attack success rate), OUT/histogram.png
    (Fig. 1 layout) and OUT/grid.png (Fig. 2: clean, adversarial, projections).
    """
    chosen = attack_options(options, {"steps": steps, "objective": objective})
    import_tensorflow_quietly()
    from tfrobust.evaluation import write_csv
    from tfrobust.evaluation.manifold import (
        manifold_attack,
        manifold_study,
        plot_adversarial_grid,
        plot_manifold_histogram,
        sampled_projection,
    )
    from tfrobust.training import atomic_json

    try:
        eps = parse_number(eps_text, name="--eps", minimum=0, float32=True)
    except ValueError as err:
        raise click.UsageError(_one_line(err)) from None  # the message names --eps
    for value, hint, low in ((steps, "--steps", 0), (optimize_steps, "--optimize-steps", 0),
                             (batch_size, "--batch-size", 1), (examples, "--examples", 0), (seed, "--seed", 0)):
        if value is not None and value < low:
            raise click.BadParameter(f"must be >= {low}, got {value}", param_hint=hint)
    _positive(limit, "--limit")
    if projection == "sample" and optimize_steps:
        raise click.UsageError("--projection sample and --optimize-steps are two different projections; give one")
    check_out_dir(out_dir)
    texts = [t.strip() for t in model_text.split(",") if t.strip()]
    if not texts:
        raise click.BadParameter("give at least one classifier run directory", param_hint="--model")
    runs = [open_run(t) for t in texts]
    model_paths = [run.model_file for run in runs]
    if len(set(model_paths)) != len(model_paths):
        raise click.BadParameter(f"a model is named twice in {model_text!r}", param_hint="--model")

    # Cheap checks (files, data, bounds) before any model is loaded.
    vaegan_run = open_run(vaegan_path, filename="vaegan.keras", what="VAE-GAN",
                          directory="a `tfrobust manifold train` directory")
    vaegan_file = vaegan_run.model_file
    trained = vaegan_run.data_section
    data = vaegan_run.data_for(dataset=dataset, data_dir=data_dir, limit=limit,
                               bounds=bounds if bounds is not None else trained.get("bounds", KIM_BOUNDS))
    test = vaegan_run.load_split("test", seed=seed, data=data)
    shape = tuple(test.input_shape)
    for run in runs:
        model_bounds = run.data_section.get("bounds")
        if model_bounds is not None and tuple(float(b) for b in model_bounds) != tuple(test.bounds):
            raise click.UsageError(f"{run.model_file} was trained on bounds {tuple(model_bounds)}, the data here "
                                   f"has {tuple(test.bounds)}; give matching --bounds")
    adversary = manifold_attack(attack_name, chosen, norm=norm, eps=eps, bounds=test.bounds, input_shape=shape,
                                prefix="--option")
    vaegan = load_model(vaegan_file)
    if not hasattr(vaegan, "project"):
        raise click.UsageError(f"{vaegan_file} is not a VAE-GAN (a `tfrobust manifold train` model)")
    vaegan_shape = tuple(vaegan.encoder.inputs[0].shape[1:])
    if shape != vaegan_shape:
        raise click.UsageError(f"the VAE-GAN takes inputs {vaegan_shape}, {data.name} has {shape}")
    classifiers = [run.load_model(shape, data_name=data.name) for run in runs]

    if projection == "sample":
        projector: Any = sampled_projection(vaegan, seed=seed)
        projection_text = "dec(enc_mean(x) + sigma * e)"
    elif optimize_steps == 0:
        projector, projection_text = vaegan, "dec(enc(x))"
    else:
        projector = functools.partial(vaegan.project, optimize_steps=optimize_steps, batch_size=batch_size)
        projection_text = f"{optimize_steps} latent steps"
    labels = _labels(model_paths)
    click.echo(f"manifold distance on {data.name} test ({len(test)} images, bounds {test.bounds}): "
               f"{_describe(adversary)}; projection {projection_text} -> {out_dir}")
    results: dict[str, dict[str, Any]] = {}
    for label, classifier in zip(labels, classifiers):
        click.echo(f"  {label}")
        results[label] = manifold_study(
            classifier, projector, test, eps=eps, norm=norm, attack=attack_name, options=chosen,
            batch_size=batch_size, seed=seed, examples=examples,
            progress=lambda message: click.echo(f"    {message}", err=True))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    for label, r in results.items():
        rows += [{"model": label, "kind": "clean", "index": i, "distance": float(d)} for i, d in enumerate(r["clean"])]
        rows += [{"model": label, "kind": "adversarial", "index": int(i), "distance": float(d)}
                 for i, d in zip(r["adversarial_index"], r["adversarial"])]
        adv = r["adversarial"]
        summary.append({
            "model": label, "n": r["n"], "clean_accuracy": r["clean_accuracy"],
            "adversarial_accuracy": r["adversarial_accuracy"], "attack_success_rate": r["success_rate"],
            "n_adversarial": int(adv.size),
            "clean_mean": float(r["clean"].mean()), "clean_median": float(np.median(r["clean"])),
            "adversarial_mean": float(adv.mean()) if adv.size else float("nan"),
            "adversarial_median": float(np.median(adv)) if adv.size else float("nan"),
            "attack": adversary.name, "norm": norm, "eps": eps,
            "step_size": adversary.settings.get("step_size", adversary.options.get("step_size")),
            "options": _options_text(adversary.options), "optimize_steps": optimize_steps, "projection": projection,
        })
    manifold_csv = write_csv(rows, out / "manifold.csv", ["model", "kind", "index", "distance"])
    summary_csv = write_csv(summary, out / "summary.csv", list(summary[0]))
    hist = plot_manifold_histogram(results, out / "histogram.png", title=f"{data.name}, {norm} eps {eps:g}")
    grid = plot_adversarial_grid(results, out / "grid.png", bounds=test.bounds) if examples else None
    atomic_json({"vaegan": str(vaegan_file), "models": dict(zip(labels, map(str, model_paths))),
                 "dataset": data.name, "bounds": list(test.bounds), "limit": limit, "attack": adversary.name,
                 "norm": norm, "eps": eps, "options": adversary.options, "settings": adversary.settings,
                 "optimize_steps": optimize_steps, "projection": projection, "seed": seed},
                out / "manifold.json")

    click.echo(f"{'model':<24} {'acc':>6} {'success':>8} {'d_pi clean':>11} {'d_pi adv':>9}")
    for s in summary:
        click.echo(f"{s['model']:<24} {s['clean_accuracy']:>6.3f} {s['attack_success_rate']:>8.3f} "
                   f"{s['clean_median']:>11.3f} {s['adversarial_median']:>9.3f}   (medians)")
    click.echo(f"distances      {manifold_csv}")
    click.echo(f"summary        {summary_csv}")
    click.echo(f"histogram      {hist}")
    if grid is not None:
        click.echo(f"grid           {grid}")

