"""``tfrobust export``: a SavedModel with serving signatures from a trained model."""

from __future__ import annotations

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
    """
    from tfrobust.training import export_saved_model, load_model

    path = model_file(model_path)
    model = load_model(path)
    target = export_saved_model(model, out_dir)
    shape = tuple(model.inputs[0].shape[1:])
    click.echo(f"exported {path} -> {target}  (input (None, {', '.join(map(str, shape))}), "
               f"logits (None, {model.outputs[0].shape[-1]}); signature serving_default)")
