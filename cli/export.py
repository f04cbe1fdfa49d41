"""``tfrobust export``: a SavedModel that serves logits and explanations from a trained model."""

from __future__ import annotations

import math
from pathlib import Path

import click

from cli.runs import open_run


def _logits_choice(value: str | None) -> str | int | None:
    """``--logits``: an output index when it is an integer, else an output name."""
    if value is None:
        return None
    text = value.strip()
    return int(text) if text.lstrip("-").isdigit() else text


@click.command()
@click.option("--model", "model_path", required=True, type=click.Path(),
              help="Run directory holding model.keras, or a .keras file.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory to write the SavedModel to (new, empty, or an earlier export).")
@click.option("--logits", default=None, metavar="NAME|INDEX",
              help="The model output holding the logits, by name or index (needed when the model has several).")
@click.option("--inputs", default=None, metavar="NAME",
              help="The image input, by name (needed when the model has several inputs).")
@click.option("--smoothgrad-samples", default=50, show_default=True, type=click.IntRange(min=1),
              help="Noisy copies the smoothgrad signature averages (fixed in the export).")
@click.option("--smoothgrad-noise", default=0.15, show_default=True, type=click.FloatRange(min=0.0),
              help="SmoothGrad noise standard deviation as a fraction of the data's value range (hi - lo).")
@click.option("--smoothgrad-seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed of the SmoothGrad noise (fixed in the export: served maps are reproducible).")
@click.option("--bounds", default=None, help="Value range lo,hi (default: the model's training config, "
                                            "else the dataset's default).")
def export(model_path: str, out_dir: str, logits: str | None, inputs: str | None, smoothgrad_samples: int,
           smoothgrad_noise: float, smoothgrad_seed: int, bounds: str | None) -> None:
    """Export a trained model as a SavedModel serving logits and explanations.

    Signatures (batch size free; x float32 in the data's units, y int64 labels):
    serving_default (x -> logits), loss_gradient (x, y -> d cross-entropy / dx),
    logit_gradient (x, y -> d logit_y / dx) and smoothgrad (x, y -> mean logit
    gradient over --smoothgrad-samples noisy copies, noise std
    --smoothgrad-noise * (hi - lo)). They are the values tfrobust's own
    gradient, logit_gradient and smoothgrad attributions compute. The export
    loads with tf.saved_model.load (or TF Serving) without tfrobust; the
    settings are in assets/tfrobust_serving.json. Loading the model uses Keras
    safe mode: no arbitrary code is deserialized.

    OUT must be new, empty, or an earlier export (which is replaced only once
    the new one is complete); it may not be or contain the model file or its
    run directory. Nothing else is ever deleted.
    """
    from tfrobust.data.datasets import DATASETS
    from tfrobust.training.artifacts import check_export_target
    from tfrobust.training.serving import export_serving

    run = open_run(model_path)
    path = run.model_file
    protect = [path] + ([Path(model_path)] if Path(model_path).is_dir() else [])
    check_export_target(out_dir, protect)  # before the (slow) load
    data = run.data_for(bounds=bounds)
    spec = DATASETS.get(data.name)
    value_range = data.bounds or (spec.default_bounds if spec is not None else (0.0, 1.0))
    if not all(math.isfinite(b) for b in value_range):
        raise click.BadParameter(f"the data's value range {tuple(value_range)} is not finite; SmoothGrad's noise "
                                 "is a fraction of it: give one with --bounds lo,hi", param_hint="--bounds")
    model = run.load_model()
    target = export_serving(model, out_dir, logits=_logits_choice(logits), inputs=inputs,
                            smoothgrad_samples=smoothgrad_samples, smoothgrad_noise=smoothgrad_noise,
                            bounds=value_range, smoothgrad_seed=smoothgrad_seed, protect=protect)
    info_shape = ", ".join("None" if d is None else str(d) for d in _input_shape(target))
    click.echo(f"exported {path} -> {target}  (input (None, {info_shape}); bounds {tuple(value_range)}; "
               f"signatures serving_default, loss_gradient, logit_gradient, smoothgrad "
               f"[{smoothgrad_samples} samples, noise {smoothgrad_noise:g}])")


def _input_shape(target: Path) -> list[int | None]:
    import json

    from tfrobust.training.serving import SERVING_INFO

    return list(json.loads((target / "assets" / SERVING_INFO).read_text(encoding="utf-8"))["input_shape"])
