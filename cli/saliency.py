"""``tfrobust saliency``: attribution maps aligned with a dataset (IR targets) and a PNG grid.

Ref: Noack et al. 2021, sec. 3.1 and 4.1 (SmoothGrad targets: sigma 0.15 in
data units, 50 samples, logit-gradient base, threshold phi = 1) and 4.4
(permuted targets). The authors' code differs from the text in three places,
each an option here (docs/fidelity.md): ``--clip`` (noisy copies clipped to
the data's bounds), ``--include-clean`` (the clean input's map averaged in)
and ``--threshold-mode upper`` (only values above mean + phi std kept).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import click
import numpy as np

from cli.runs import parse_methods
from tfrobust.attribution import ATTRIBUTIONS
from tfrobust.attribution.gradient import BASE_MAPS
from tfrobust.config import parse_number
from tfrobust.data import DATASETS
from tfrobust.training.targets import THRESHOLD_MODES

#: Noack et al. 2021 sec. 4.1 SmoothGrad settings (sigma absolute, in data units).
SMOOTHGRAD_DEFAULTS: dict[str, Any] = {"samples": 50, "sigma": 0.15, "base": "logit_gradient"}


def _fraction(value: float | None, hint: str, hi: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value < 0 or (hi is not None and value > hi):
        where = f"in [0, {hi:g}]" if hi is not None else ">= 0"
        raise click.BadParameter(f"must be a number {where}, got {value:g}", param_hint=hint)
    return value


def _smoothgrad_options(samples: int | None, sigma: str | None, base: str | None,
                        methods: list[str], *, clip: bool = False, include_clean: bool = False) -> dict[str, Any]:
    """The smoothgrad options (Noack's defaults filled in); ``clip`` only checked here (the
    bounds are the loaded data's, see :func:`_clip_bounds`)."""
    given = {k: v for k, v in dict(samples=samples, sigma=sigma, base=base).items() if v is not None}
    if (given or clip or include_clean) and "smoothgrad" not in methods:
        raise click.UsageError("--samples/--sigma/--base/--clip/--include-clean apply to --method smoothgrad only")
    if include_clean:
        given["include_clean"] = True
    options = {**SMOOTHGRAD_DEFAULTS, **given}
    if isinstance(options["sigma"], str):
        options["sigma"] = parse_number(options["sigma"], name="--sigma", minimum=0.0, float32=True)
    if options["samples"] < 1:
        raise click.BadParameter(f"must be >= 1, got {options['samples']}", param_hint="--samples")
    if not math.isfinite(options["sigma"]) or options["sigma"] < 0:
        raise click.BadParameter(f"must be >= 0 (data units), got {sigma}", param_hint="--sigma")
    return options


def _clip_bounds(bounds: tuple[float, float]) -> list[float]:
    """The data's bounds as smoothgrad's ``bounds`` option (``--clip``); unbounded data are refused."""
    lo, hi = (float(b) for b in bounds)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise click.BadParameter(f"the data have no finite bounds to clip to ({lo:g}, {hi:g}); "
                                 "give --bounds or drop --clip", param_hint="--clip")
    return [lo, hi]


def _display_inputs(x: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3) values in [0, 1] for imshow; vectors become 1 x F strips."""
    images = x.reshape(x.shape[0], 1, -1, 1) if x.ndim == 2 else x
    lo, hi = bounds
    if math.isfinite(lo) and math.isfinite(hi):
        shown = (images - lo) / (hi - lo)
    else:  # unbounded data (tsipras): per-example min-max
        flat = images.reshape(images.shape[0], -1)
        low = flat.min(axis=1).reshape(-1, 1, 1, 1)
        span = np.maximum(flat.max(axis=1).reshape(-1, 1, 1, 1) - low, 1e-12)
        shown = (images - low) / span
    shown = np.clip(shown, 0.0, 1.0)
    if shown.shape[-1] == 3:
        return shown
    return shown.mean(axis=-1)


def _display_maps(maps: np.ndarray) -> np.ndarray:
    """Signed maps as (N, H, W, 3) blue-white-red images (Kim Fig. 6 channel sum, 99th pct clip)."""
    from tfrobust.attribution import channel_sum_clip, diverging_rgb

    images = maps.reshape(maps.shape[0], 1, -1) if maps.ndim == 2 else maps
    return diverging_rgb(channel_sum_clip(images))


def write_grid(path: Path, x: np.ndarray, y: np.ndarray, bounds: tuple[float, float],
               columns: dict[str, np.ndarray], class_names: tuple[str, ...]) -> Path:
    """A PNG: one row per example, the input first, then one column per method; atomic."""
    from matplotlib.figure import Figure

    rows, cols = x.shape[0], 1 + len(columns)
    fig = Figure(figsize=(1.5 * cols, 1.5 * rows + 0.3))
    axes = fig.subplots(rows, cols, squeeze=False)
    panels = [("input", _display_inputs(x, bounds))]
    panels += [(name, _display_maps(maps)) for name, maps in columns.items()]
    for c, (title, images) in enumerate(panels):
        for r in range(rows):
            ax = axes[r, c]
            ax.imshow(images[r], cmap="gray" if images.ndim == 3 else None, vmin=0, vmax=1,
                      interpolation="nearest", aspect="auto" if x.ndim == 2 else "equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=9)
            if c == 0:
                ax.set_ylabel(str(class_names[int(y[r])]), fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    return path


@click.command()
@click.option("--model", "model_path", required=True, type=click.Path(),
              help="Run directory (model.keras, config.yaml) or a .keras file.")
@click.option("--dataset", required=True, type=click.Choice(list(DATASETS)), help="Dataset name.")
@click.option("--method", "method_text", required=True,
              help=f"Attribution(s), comma-separated: {', '.join(ATTRIBUTIONS)}.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for <method>.npy, saliency.json and grid.png (usable as train --targets).")
@click.option("--split", type=click.Choice(["train", "test"]), default="train", show_default=True)
@click.option("--threshold", type=float, default=None,
              help="Zero values within mean +- PHI std of each map (Noack: 1).")
@click.option("--threshold-mode", type=click.Choice(list(THRESHOLD_MODES)), default="two_sided",
              show_default=True,
              help="two_sided: zero the band mean +- PHI std (the paper's text); upper: keep only values "
                   "above mean + PHI std (Noack et al.'s code). Needs --threshold.")
@click.option("--permute", type=float, default=None,
              help="Randomly permute this fraction of the pixels of each map, in [0, 1].")
@click.option("--limit", type=int, default=None, help="Use the first N examples.")
@click.option("--classes", default=None, help="Keep only these labels, e.g. 5,7 (default: the model's).")
@click.option("--bounds", default=None, help="Value range lo,hi (default: the model's training config).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.option("--samples", type=int, default=None, help="[smoothgrad] noisy copies (default 50).")
@click.option("--sigma", default=None, help="[smoothgrad] noise std, absolute in data units (default 0.15).")
@click.option("--base", type=click.Choice(sorted(BASE_MAPS)), default=None,
              help="[smoothgrad] map averaged (default logit_gradient).")
@click.option("--clip/--no-clip", default=False, show_default=True,
              help="[smoothgrad] clip the noisy copies to the data's bounds (Noack et al.'s code).")
@click.option("--include-clean", is_flag=True,
              help="[smoothgrad] average the clean input's map with the noisy ones, samples + 1 maps "
                   "(Noack et al.'s code).")
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the noise and permutation (and of synthetic data).")
@click.option("--grid", type=int, default=8, show_default=True,
              help="Examples drawn in grid.png (0: no grid).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def saliency(model_path: str, dataset: str, method_text: str, out_dir: str, split: str,
             threshold: float | None, threshold_mode: str, permute: float | None, limit: int | None,
             classes: str | None, bounds: str | None, data_dir: str | None, samples: int | None,
             sigma: str | None, base: str | None, clip: bool, include_clean: bool, batch_size: int,
             seed: int, grid: int, quiet: bool) -> None:
    """Attribution maps of every example, aligned with the dataset, plus a PNG grid.

    Writes OUT/<method>.npy (float32, the shape of the inputs, in example
    order) and OUT/saliency.json per method; with --split train the
    directory is usable as `tfrobust train --targets OUT`. Re-running with
    the same arguments resumes an interrupted run.
    """
    from cli.runs import model_and_data
    from tfrobust.training import compute_maps, saliency_index

    methods = parse_methods(method_text)
    phi = _fraction(threshold, "--threshold", None)
    if threshold_mode != "two_sided" and phi is None:
        raise click.UsageError(f"--threshold-mode {threshold_mode} needs --threshold")
    p = _fraction(permute, "--permute", 1.0)
    smooth = _smoothgrad_options(samples, sigma, base, methods, clip=clip, include_clean=include_clean)
    if batch_size < 1:
        raise click.BadParameter(f"must be >= 1, got {batch_size}", param_hint="--batch-size")
    if grid < 0:
        raise click.BadParameter(f"must be >= 0, got {grid}", param_hint="--grid")
    if seed < 0:
        raise click.BadParameter(f"must be >= 0, got {seed}", param_hint="--seed")
    model_file, model, ds = model_and_data(model_path, dataset=dataset, split=split, data_dir=data_dir,
                                           classes=classes, limit=limit, bounds=bounds, seed=seed)
    if clip:
        smooth["bounds"] = _clip_bounds(ds.bounds)
    extras = "".join([f", threshold phi={phi:g}" if phi is not None else "",
                      f" ({threshold_mode})" if phi is not None and threshold_mode != "two_sided" else "",
                      f", permute p={p:g}" if p is not None else "",
                      ", noisy copies clipped" if clip else "", ", clean map included" if include_clean else ""])
    click.echo(f"saliency of {model_file} on {ds.name} {split} ({len(ds)} examples, bounds {ds.bounds}): "
               f"{', '.join(methods)}{extras} -> {out_dir}")
    out = Path(out_dir)
    paths: dict[str, Path] = {}
    for method in methods:
        paths[method] = compute_maps(
            model, ds, method=method, out_dir=out, batch_size=batch_size,
            options=smooth if method == "smoothgrad" else None, threshold=phi, permute=p,
            threshold_mode=threshold_mode, seed=seed, progress=not quiet, model_source=str(model_file),
            limit=limit)
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
