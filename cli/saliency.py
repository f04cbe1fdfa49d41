"""``tfrobust saliency``: attribution maps aligned with a dataset (IR targets) and a PNG grid.

Ref: Noack et al. 2021, sec. 3.1 and 4.1 (SmoothGrad targets: sigma 0.15 in
data units, 50 samples, logit-gradient base, which are smoothgrad's defaults;
threshold phi = 1) and 4.4 (permuted targets). The authors' code differs from the text
in three places, each an option here (docs/fidelity.md): smoothgrad's
``--option clip=true`` (noisy copies clipped to the data's bounds) and
``--option include_clean=true`` (the clean input's map averaged in), and
``--threshold-mode upper`` (only values above mean + phi std kept).
"""

from __future__ import annotations

import math
from pathlib import Path

import click
import numpy as np

from cli.options import (
    LazyChoice,
    download_flag,
    entry_options,
    option_flag,
    parse_options,
    quiet_flag,
    show_progress,
)
from cli.runs import parse_methods
from tfrobust.data import DATASETS


def threshold_modes() -> tuple[str, ...]:
    """:data:`tfrobust.training.targets.THRESHOLD_MODES` (imports TensorFlow, quietly)."""
    from cli import import_tensorflow_quietly

    import_tensorflow_quietly()
    from tfrobust.training.targets import THRESHOLD_MODES

    return tuple(THRESHOLD_MODES)


def _fraction(value: float | None, hint: str, hi: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value < 0 or (hi is not None and value > hi):
        where = f"in [0, {hi:g}]" if hi is not None else ">= 0"
        raise click.BadParameter(f"must be a number {where}, got {value:g}", param_hint=hint)
    return value


def write_grid(path: Path, x: np.ndarray, y: np.ndarray, bounds: tuple[float, float],
               columns: dict[str, np.ndarray], class_names: tuple[str, ...]) -> Path:
    """A PNG: one row per example (named by class), the input first, then one column per method, with a
    colour bar and sign legend (red positive, blue negative); atomic."""
    from tfrobust.evaluation.figures import atomic_savefig, saliency_grid

    return atomic_savefig(saliency_grid(x, y, columns, bounds=bounds, class_names=class_names), path)


@click.command(short_help="Attribution maps of a dataset's examples (.npy, aligned; IR targets) and a PNG grid.")
@click.option("--model", "model_path", required=True, type=click.Path(),
              help="Run directory (model.keras, config.yaml) or a .keras file.")
@click.option("--dataset", type=click.Choice(list(DATASETS)), default=None,
              help="Dataset (default: the one the model was trained on).")
@click.option("--method", "method_text", required=True, metavar="NAME[,NAME...]",
              help="Attribution(s), comma-separated (`tfrobust list attributions`).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for <method>.npy, saliency.json and grid.png (usable as train --option targets=OUT).")
@option_flag
@click.option("--split", type=click.Choice(["train", "test"]), default="train", show_default=True,
              help="Which split to map (train: usable as ir targets).")
@click.option("--threshold", type=float, default=None,
              help="Zero values within mean +- PHI std of each map (Noack: 1).")
@click.option("--threshold-mode", type=LazyChoice(threshold_modes, metavar="MODE"), default="two_sided",
              show_default=True,
              help="two_sided: zero the band mean +- PHI std (the paper's text); upper: keep only values "
                   "above mean + PHI std (Noack et al.'s code). Needs --threshold.")
@click.option("--permute", type=float, default=None,
              help="Randomly permute this fraction of the pixels of each map, in [0, 1].")
@click.option("--limit", type=int, default=None, help="Use the first N examples.")
@click.option("--classes", default=None, help="Keep only these labels, e.g. 5,7 (default: the model's).")
@click.option("--bounds", default=None, help="Value range lo,hi (default: the model's training config).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Directory with the dataset's original files (default: searched in $TFROBUST_DATA_DIR, "
                   "Debian's package path, tensorflow-datasets).")
@download_flag
@click.option("--batch-size", type=int, default=128, show_default=True, help="Examples per batch of maps.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the noise and permutation (and of synthetic data).")
@click.option("--grid", type=int, default=8, show_default=True,
              help="Examples drawn in grid.png (0: no grid).")
@quiet_flag
def saliency(model_path: str, dataset: str | None, method_text: str, out_dir: str, options: tuple[str, ...], split: str,
             threshold: float | None, threshold_mode: str, permute: float | None, limit: int | None,
             classes: str | None, bounds: str | None, data_dir: str | None, batch_size: int,
             seed: int, grid: int, quiet: bool) -> None:
    """Attribution maps of every example, aligned with the dataset, plus a PNG grid.

    Writes OUT/<method>.npy (float32, the shape of the inputs, in example
    order) and OUT/saliency.json per method; with --split train the
    directory is usable as `tfrobust train --method ir --option targets=OUT`.
    Re-running with the same arguments resumes an interrupted run.

    Options of the methods: `--option KEY=VALUE` goes to every chosen method
    that has KEY, `--option METHOD.KEY=VALUE` to METHOD only; e.g. Noack et
    al.'s code: `--method smoothgrad --option clip=true --option include_clean=true`.
    """
    from cli import import_tensorflow_quietly
    from cli.runs import model_and_data

    methods = parse_methods(method_text)
    per_method = entry_options("attributions", methods, parse_options(options))
    phi = _fraction(threshold, "--threshold", None)
    if threshold_mode != "two_sided" and phi is None:
        raise click.UsageError(f"--threshold-mode {threshold_mode} needs --threshold")
    p = _fraction(permute, "--permute", 1.0)
    if batch_size < 1:
        raise click.BadParameter(f"must be >= 1, got {batch_size}", param_hint="--batch-size")
    if grid < 0:
        raise click.BadParameter(f"must be >= 0, got {grid}", param_hint="--grid")
    if seed < 0:
        raise click.BadParameter(f"must be >= 0, got {seed}", param_hint="--seed")
    import_tensorflow_quietly()
    from tfrobust.training import compute_maps, saliency_index

    model_file, model, ds = model_and_data(model_path, dataset=dataset, split=split, data_dir=data_dir,
                                           classes=classes, limit=limit, bounds=bounds, seed=seed)
    given = "".join(f"; {name}: " + ", ".join(f"{k}={v}" for k, v in values.items())
                    for name, values in per_method.items() if values)
    extras = "".join([f", threshold phi={phi:g}" if phi is not None else "",
                      f" ({threshold_mode})" if phi is not None and threshold_mode != "two_sided" else "",
                      f", permute p={p:g}" if p is not None else "", given])
    click.echo(f"saliency of {model_file} on {ds.name} {split} ({len(ds)} examples, bounds {ds.bounds}): "
               f"{', '.join(methods)}{extras} -> {out_dir}")
    out = Path(out_dir)
    paths: dict[str, Path] = {}
    for method in methods:
        paths[method] = compute_maps(
            model, ds, method=method, out_dir=out, batch_size=batch_size, options=per_method[method] or None,
            threshold=phi, permute=p, threshold_mode=threshold_mode, seed=seed, progress=show_progress(quiet),
            model_source=str(model_file), limit=limit)
    index = saliency_index(out)
    for method, path in paths.items():
        entry = index["maps"][method]
        click.echo(f"{method:<15} {path}  shape {tuple(entry['shape'])}  mean |map| {entry['mean_abs']:.4g}")
    if grid:
        k = min(grid, len(ds))
        columns = {m: np.array(np.load(paths[m], mmap_mode="r", allow_pickle=False)[:k]) for m in methods}
        png = write_grid(out / "grid.png", np.asarray(ds.x[:k]), np.asarray(ds.y[:k]), ds.bounds,
                         columns, ds.class_names)
        click.echo(f"grid            {png}  ({k} examples)")
