"""``tfrobust data info``: where each dataset was found, its sizes and bounds."""

from __future__ import annotations

import json

import click

from cli.options import SummaryGroup, download_flag
from tfrobust.data import DATASETS, CorruptDataError, DatasetNotFoundError, dataset_info


@click.group(cls=SummaryGroup)
def data() -> None:
    """Inspect the datasets tfrobust can load."""


@data.command("info")
@click.option("--dataset", type=click.Choice(list(DATASETS)), default=None,
              help="One dataset (default: all).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Directory with the original distribution files.")
@download_flag
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def info(dataset: str | None, data_dir: str | None, as_json: bool) -> None:
    """Show where each dataset was found, its sizes, shape and bounds.

    Every file is checked to be complete (idx data against its header, images
    against labels, CIFAR-10 binary batches hold whole records, python batches
    are decoded); a truncated or corrupt
    file is an error naming it. Without --dataset the table is printed first,
    with such a dataset marked corrupt.
    """
    names = [dataset] if dataset else list(DATASETS)
    rows = []
    corrupt: list[CorruptDataError] = []
    for name in names:
        try:
            rows.append(dataset_info(name, data_dir))
        except DatasetNotFoundError as err:
            if dataset:  # asked for this one: a missing dataset is an error
                raise
            rows.append({"name": name, "source": "not found", "error": str(err)})
        except CorruptDataError as err:
            if dataset:
                raise
            corrupt.append(err)
            rows.append({"name": name, "source": "corrupt", "error": str(err)})
    _show(rows, as_json)
    if corrupt:  # the table is shown; the first broken file is the command's error
        raise corrupt[0]


def _show(rows: list[dict], as_json: bool) -> None:
    """Prints the rows as JSON or as a table."""
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    header = f"{'dataset':<14} {'train':>7} {'test':>7} {'shape':<12} {'classes':>7} {'bounds':<14} source"
    click.echo(header)
    for row in rows:
        if row.get("source") in ("not found", "corrupt"):
            click.echo(f"{row['name']:<14} {'-':>7} {'-':>7} {'-':<12} {'-':>7} {'-':<14} {row['source']}")
            continue
        shape = "x".join(str(s) for s in row["input_shape"])
        lo, hi = row["bounds"]
        click.echo(
            f"{row['name']:<14} {row['train_size']:>7} {row['test_size']:>7} {shape:<12} "
            f"{row['num_classes']:>7} {f'({lo:g}, {hi:g})':<14} {row['source']}"
        )
