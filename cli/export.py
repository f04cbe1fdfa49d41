"""``tfrobust export``: a SavedModel with serving signatures from a trained model."""

from __future__ import annotations

from pathlib import Path

import click

from cli.runs import model_file


@click.command()
@click.option("--model", "model_path", required=True, type=click.Path(),
              help="Run directory holding model.keras, or a .keras file.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory to write the SavedModel to.")
def export(model_path: str, out_dir: str) -> None:
    """Export a trained model as a TensorFlow SavedModel returning logits.

    The SavedModel has a `serve` endpoint and a `serving_default` signature.
    Loading uses Keras safe mode: no arbitrary code is deserialized.

    OUT must be new, empty, or an earlier export (which is replaced only once
    the new one is complete); it may not be or contain the model file or its
    run directory. Nothing else is ever deleted.
    """
    from tfrobust.training.artifacts import check_export_target, export_saved_model, load_model

    path = model_file(model_path)
    protect = [path] + ([Path(model_path)] if Path(model_path).is_dir() else [])
    check_export_target(out_dir, protect)  # before the (slow) load
    model = load_model(path)
    target = export_saved_model(model, out_dir, protect=protect)
    shape = tuple(model.inputs[0].shape[1:])
    click.echo(f"exported {path} -> {target}  (input (None, {', '.join(map(str, shape))}), "
               f"logits (None, {model.outputs[0].shape[-1]}); signature serving_default)")
