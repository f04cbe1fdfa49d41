"""``tfrobust data info``: where each dataset was found, its sizes and bounds."""

from __future__ import annotations

import json

import click

from tfrobust.data import DATASETS, DatasetNotFoundError, dataset_info


@click.group()
def data() -> None:
    """Inspect the datasets tfrobust can load."""


@data.command("info")
@click.option("--dataset", type=click.Choice(list(DATASETS)), default=None,
              help="One dataset (default: all).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Directory with the original distribution files.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def info(dataset: str | None, data_dir: str | None, as_json: bool) -> None:
    """Show where each dataset was found, its sizes, shape and bounds."""
    names = [dataset] if dataset else list(DATASETS)
    rows = []
    for name in names:
        try:
            rows.append(dataset_info(name, data_dir))
        except DatasetNotFoundError as err:
            if dataset:  # asked for this one: a missing dataset is an error
                raise
            rows.append({"name": name, "source": "not found", "error": str(err)})
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    header = f"{'dataset':<14} {'train':>7} {'test':>7} {'shape':<12} {'classes':>7} {'bounds':<14} source"
    click.echo(header)
    for row in rows:
        if row.get("source") == "not found":
            click.echo(f"{row['name']:<14} {'-':>7} {'-':>7} {'-':<12} {'-':>7} {'-':<14} not found")
            continue
        shape = "x".join(str(s) for s in row["input_shape"])
        lo, hi = row["bounds"]
        click.echo(
            f"{row['name']:<14} {row['train_size']:>7} {row['test_size']:>7} {shape:<12} "
            f"{row['num_classes']:>7} {f'({lo:g}, {hi:g})':<14} {row['source']}"
        )
