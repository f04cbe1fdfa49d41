"""``tfrobust study``: run a study from a config, show its status, write its results table."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["study"]


@click.group()
def study() -> None:
    """Run the papers' studies from config files, resumably (configs/studies/*.yaml)."""


@study.command("run")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Study directory: study.sqlite, cells/<id>/, results.csv. Re-use it to resume.")
@click.option("--preset", default=None, help="A preset of the config (e.g. quick, paper).")
@click.option("--shard", "shard_text", default=None,
              help="i/n: run shard i (0-based) of n; each connected group of dependent cells runs "
                   "wholly in one shard, so all shards together run every cell once.")
@click.option("--quiet", is_flag=True, help="No line per cell (only the summary).")
@click.option("--no-report", is_flag=True, help="Do not (re)write figures, tables and report.html at the end.")
def run(config: str, out_dir: str, preset: str | None, shard_text: str | None, quiet: bool,
        no_report: bool) -> None:
    """Run every cell of CONFIG not done yet; finished cells are never recomputed.

    Ends by writing DIR/figures/, DIR/tables/ and DIR/report.html (the last line
    printed is the report's path).
    """
    from tfrobust.studies import load_study_spec, parse_shard, run_study

    spec = load_study_spec(config)
    shard = parse_shard(shard_text) if shard_text else None
    summary = run_study(spec, out_dir, preset=preset, shard=shard, progress=not quiet, report=not no_report)
    if quiet:
        click.echo(f"study {spec.name}: {summary.cells} cells, {summary.ran} run, {summary.cached} cached, "
                   f"{len(summary.failed)} failed, {len(summary.skipped)} skipped")
        if summary.report is not None:
            click.echo(f"report: {summary.report}")
    if not summary.ok:
        click.echo(f"error: {len(summary.failed)} cell(s) failed, {len(summary.skipped)} skipped; "
                   f"see `tfrobust study status {out_dir}`", err=True)
        sys.exit(1)


@study.command("status")
@click.argument("out_dir", type=click.Path(file_okay=False))
def status(out_dir: str) -> None:
    """Cells per status, and the error of every failed or skipped cell (from study.sqlite)."""
    from tfrobust.studies import Ledger

    with Ledger(Path(out_dir), create=False) as ledger:
        meta = ledger.meta()
        counts = ledger.counts()
        rows = ledger.rows()
    preset = meta.get("preset") or "none"
    click.echo(f"study {meta.get('name', '?')} (preset {preset}): {len(rows)} cells")
    for name, count in counts.items():
        click.echo(f"  {name:<8} {count}")
    seconds = sum(r["seconds"] or 0.0 for r in rows if r["status"] == "done")
    click.echo(f"  compute  {seconds:.1f} s in done cells")
    for row in rows:
        if row["status"] in ("failed", "skipped", "running"):
            click.echo(f"{row['status']:<8} {row['id']}: {row['error'] or 'started, not finished'}")


@study.command("report")
@click.argument("out_dir", type=click.Path(file_okay=False))
def report(out_dir: str) -> None:
    """(Re)write DIR/results.csv, the figures, tables and report.html of a study; print its results.

    Works on a partly finished study: items whose cells are not done yet show
    as placeholders.
    """
    import pandas as pd

    from tfrobust.reports import write_report
    from tfrobust.studies import RESULTS_NAME, write_results

    rows = write_results(Path(out_dir))
    if not rows:
        click.echo("no finished cells yet")
    else:
        with pd.option_context("display.width", 200, "display.max_columns", None):
            click.echo(pd.DataFrame(rows, dtype=object).fillna("").to_string(index=False))
    click.echo(f"results        {Path(out_dir) / RESULTS_NAME}")
    written = write_report(Path(out_dir))
    for error in written.errors:
        click.echo(f"warning: {error}", err=True)
    click.echo(f"report         {written.path}")
