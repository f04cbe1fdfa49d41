"""``tfrobust study``: check and run a study from a config, show its status, write its results and report."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli.options import SummaryGroup, download_flag, quiet_flag

__all__ = ["study"]


@click.group(cls=SummaryGroup)
def study() -> None:
    """Run the papers' studies from config files, resumably (configs/studies/*.yaml)."""


def _report_failed(problems: tuple[str, ...], page: Path | None) -> str:
    """One line for report items in error: the first, how many more, and where to see them."""
    more = f" (and {len(problems) - 1} more report error(s))" if len(problems) > 1 else ""
    where = f"; see {page}" if page is not None else ""
    return f"error: {problems[0]}{more}{where}"


@study.command("check")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--preset", default=None,
              help="Check this preset only (default: the params as written and every preset).")
def check(config: str, preset: str | None) -> None:
    """Check CONFIG without running anything: fields, grid, stages, every cell's params, report items.

    Each report item's columns are checked against what the cells will produce
    (grid keys of its stages; a stage's metrics where its kind declares them,
    e.g. an attack stage's robust_<norm>_<eps>; with long: STAGE, its per-(norm,
    eps) columns). A kind's params: `tfrobust list kinds` or docs/kinds.md.
    Exits with status 2 and one line naming the stage, cell and param (or the
    report item and option) on the first problem.
    """
    from tfrobust.studies import load_study_spec
    from tfrobust.studies.check import check_study

    spec = load_study_spec(config)
    presets = [preset] if preset is not None else [None, *spec.presets]
    for name in presets:
        cells = check_study(spec, name)
        claims = f", {len(spec.claims)} claims" if spec.claims else ""
        click.echo(f"{spec.name} (preset {name or 'none'}): {len(cells)} cells ok{claims}")


@study.command("run")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Study directory: study.sqlite, cells/<id>/, results.csv. Re-use it to resume.")
@click.option("--preset", default=None,
              help="A preset from CONFIG's `presets:` (every shipped configs/studies/*.yaml has quick and paper); "
                   "default: the params as written.")
@click.option("--shard", "shard_text", default=None,
              help="i/n: run shard i (0-based) of n; each connected group of dependent cells runs "
                   "wholly in one shard, so all shards together run every cell once.")
@click.option("--executor", type=click.Choice(["sequential", "ray"]), default="sequential", show_default=True,
              help="sequential: one cell after another in this process; ray: cells whose dependencies are done "
                   "run at once as Ray tasks (a local Ray instance, or the cluster at --address).")
@click.option("--address", default=None,
              help="With --executor ray: join this Ray cluster (auto, HOST:PORT or ray://HOST:PORT); OUT must be "
                   "on storage every node mounts at the same path. Default: start a local Ray instance.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="With --executor ray: at most N cells at once (a local instance gets N CPUs; "
                   "default: every CPU).")
@quiet_flag
@download_flag
@click.option("--no-report", is_flag=True, help="Do not (re)write figures, tables and report.html at the end.")
def run(config: str, out_dir: str, preset: str | None, shard_text: str | None, executor: str,
        address: str | None, workers: int | None, quiet: bool, no_report: bool) -> None:
    """Run every cell of CONFIG not done yet into OUT; finished cells are never recomputed.

    With --quiet no line per cell is printed, only the summary.

    With --executor ray each cell asks Ray for its kind's CPUs, GPU fraction and
    memory (a stage's `resources:` overrides them); a cell whose worker dies is
    run again from an empty directory (twice at most), then recorded failed.
    Only this process writes the ledger; Ctrl-C cancels the running cells.

    Every cell's params are checked against its kind before any cell runs. Temp
    files a killed run left are removed. Ends by writing OUT/figures/,
    OUT/tables/ and OUT/report.html (the last line printed is the report's
    path). Exits 1 when a cell failed, 2 when a report item is in error (the
    report is still written, with the error in it).
    """
    from tfrobust.studies import load_study_spec, parse_shard, run_study

    if executor == "ray" and shard_text:
        raise click.UsageError("--shard is for the sequential executor; --executor ray runs every cell of the "
                               "study itself (drop --shard)")
    if executor != "ray" and (address is not None or workers is not None):
        raise click.UsageError("--address and --workers need --executor ray")
    spec = load_study_spec(config)
    shard = parse_shard(shard_text) if shard_text else None
    runner = None
    if executor == "ray":
        from tfrobust.studies.executor_ray import RayExecutor

        runner = RayExecutor(address, workers=workers)
    summary = run_study(spec, out_dir, preset=preset, shard=shard, progress=not quiet, report=not no_report,
                        executor=runner)
    if quiet:
        click.echo(f"study {spec.name}: {summary.cells} cells, {summary.ran} run, {summary.cached} cached, "
                   f"{len(summary.failed)} failed, {len(summary.skipped)} skipped")
        if summary.report is not None:
            click.echo(f"report: {summary.report}")
    if not summary.ok:
        click.echo(f"error: {len(summary.failed)} cell(s) failed, {len(summary.skipped)} skipped; "
                   f"see `tfrobust study status {out_dir}`", err=True)
    if summary.report_errors:
        click.echo(_report_failed(summary.report_errors, summary.report), err=True)
    if not summary.ok:
        sys.exit(1)
    if summary.report_errors:
        sys.exit(2)


def _claim_number(text: str) -> str:
    try:
        return f"{float(text):.3g}"
    except ValueError:
        return "–"


def _claim_lines(out_dir: Path, meta: dict[str, str]) -> list[str]:
    """One line per row of OUT_DIR/claims.csv (verdict, statistic [low, high], n, id), read with csv only
    (no pandas); a note when the study has claims but no claims.csv yet."""
    import csv
    import json

    try:
        declared = len(json.loads(meta.get("claims") or "[]"))
    except (TypeError, ValueError):
        declared = 0
    path = out_dir / "claims.csv"
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, csv.Error, UnicodeDecodeError):
        rows = []
    if not rows:
        return [f"claims: {declared}, not evaluated yet (`tfrobust study report {out_dir}`)"] if declared else []
    lines = [f"claims ({path}):"]
    for row in rows:
        interval = f" [{_claim_number(row.get('low', ''))}, {_claim_number(row.get('high', ''))}]" \
            if row.get("low") else ""
        lines.append(f"  {row.get('verdict', '?'):<12} {_claim_number(row.get('value', ''))}{interval} "
                     f"n={row.get('n', '?')}  {row.get('id', '?')}")
    return lines


@study.command("status")
@click.argument("out_dir", type=click.Path(file_okay=False))
def status(out_dir: str) -> None:
    """Cells per status, the verdict of each claim, and the error of every failed or skipped cell.

    Reads OUT_DIR/study.sqlite and OUT_DIR/claims.csv (written with results.csv
    and by `tfrobust study report`): one line per claim, its verdict, statistic
    [interval], the number of rows (cells, seeds) used and its id.
    """
    from tfrobust.studies.ledger import Ledger

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
    for line in _claim_lines(Path(out_dir), meta):
        click.echo(line)
    for row in rows:
        if row["status"] in ("failed", "skipped", "running"):
            click.echo(f"{row['status']:<8} {row['id']}: {row['error'] or 'started, not finished'}")


@study.command("report")
@click.argument("out_dir", type=click.Path(file_okay=False))
def report(out_dir: str) -> None:
    """(Re)write OUT_DIR/results.csv, the figures, tables and report.html of a study; print its results.

    Works on a partly finished study: items whose cells are not done yet show
    as placeholders. A report item in error (a missing column, a file no done
    cell has) shows in the page, and the command then exits with status 2.
    """
    import pandas as pd

    from tfrobust.reports import write_report
    from tfrobust.studies.runner import RESULTS_NAME, write_results

    rows = write_results(Path(out_dir))
    if not rows:
        click.echo("no finished cells yet")
    else:
        with pd.option_context("display.width", 200, "display.max_columns", None):
            click.echo(pd.DataFrame(rows, dtype=object).fillna("").to_string(index=False))
    click.echo(f"results        {Path(out_dir) / RESULTS_NAME}")
    written = write_report(Path(out_dir))
    claims = Path(out_dir) / "claims.csv"
    if claims.is_file():
        click.echo(f"claims         {claims}")
    click.echo(f"report         {written.path}")
    if written.problems:
        click.echo(_report_failed(written.problems, written.path), err=True)
        sys.exit(2)
