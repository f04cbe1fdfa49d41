"""``tfrobust roar``: ROAR / KAR scores of attribution methods (remove or keep, and retrain)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.options import (
    ARCH_CHOICE,
    download_flag,
    entry_options,
    option_flag,
    parse_options,
    quiet_flag,
    show_progress,
)
from cli.outdir import check_out_dir
from cli.runs import parse_methods
from tfrobust.config import OptimizerConfig, parse_number
from tfrobust.data import DATASETS


def _one_line(err: object) -> str:
    return " ".join(str(err).split())


def _fractions(text: str) -> list[float]:
    """``--fractions 0.1,0.5``: numbers in (0, 1]; no empty items."""
    items = text.split(",")
    if not text.strip() or any(not f.strip() for f in items):
        raise click.BadParameter(f"expected comma-separated fractions in (0, 1], e.g. 0.1,0.5; got {text!r}",
                                 param_hint="--fractions")
    try:
        values = [parse_number(f, name="--fractions", finite=True) for f in items]
    except ValueError as err:
        raise click.UsageError(_one_line(err)) from None  # the message names --fractions
    bad = [f for f in values if not 0 < f <= 1]
    if bad:
        raise click.BadParameter(f"every fraction must be in (0, 1] (0 is always measured), got {text!r}",
                                 param_hint="--fractions")
    return values


def _number(text: str, hint: str) -> float:
    """A finite number that float32 holds (retraining and filling run in float32)."""
    try:
        return parse_number(text, name=hint, float32=True)
    except ValueError as err:
        raise click.UsageError(_one_line(err)) from None  # the message names the option


def _attribution_options(per_method: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """run_roar's ``method_options`` (method -> its options), left out when no method has any."""
    given = {name: values for name, values in per_method.items() if values}
    return {"method_options": given} if given else {}


@click.command(short_help="Remove (ROAR) or keep (KAR) pixels and retrain: attribution scores vs random.")
@click.option("--model", "model_path", required=True, type=click.Path(),
              help="Run directory (model.keras, config.yaml) or a .keras file: the evaluated model.")
@click.option("--dataset", type=click.Choice(list(DATASETS)), default=None,
              help="Dataset (default: the one the model was trained on).")
@click.option("--method", "method_text", required=True, metavar="NAME[,NAME...]",
              help="Attribution methods, comma-separated (`tfrobust list attributions`); include random for "
                   "the baseline of mu.")
@option_flag
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Results directory: roar.csv, scores.csv, curves.png, maps/, members/.")
@click.option("--fractions", "fraction_text", default="0.1,0.3,0.5,0.7,0.9", show_default=True,
              help="Fractions of pixels replaced (0 is always measured).")
@click.option("--repeats", type=int, default=3, show_default=True, help="Retrained classifiers per point (Kim: 3).")
@click.option("--keep", is_flag=True, help="KAR: replace the LEAST important pixels (default ROAR: the most).")
@click.option("--arch", type=ARCH_CHOICE, default=None,
              help="Architecture retrained, a name of tfrobust.models.MODELS (default: the evaluated model's).")
@click.option("--epochs", type=int, default=5, show_default=True, help="Epochs per retrained classifier.")
@click.option("--batch-size", type=int, default=128, show_default=True,
              help="Batch size of the retraining and of the maps.")
@click.option("--lr", default=None, help="Adam learning rate of the retraining (default 1e-3).")
@click.option("--limit", type=int, default=None, help="Use the first N training images.")
@click.option("--test-limit", type=int, default=None, help="Score on the first N test images.")
@click.option("--fill", default="mean", show_default=True,
              help="Replacement value: 'mean' (per-channel training mean) or a number in data units.")
@click.option("--signed", is_flag=True, help="Rank by the signed channel sum of a map instead of |map|.")
@click.option("--label", type=click.Choice(["predicted", "true"]), default="predicted", show_default=True,
              help="Whose map ranks the pixels: the evaluated model's predicted class (the authors' code, "
                   "3.4 CIFAR-10 ROAR KAR) or the dataset's true label.")
@click.option("--ties", type=click.Choice(["random", "index"]), default="random", show_default=True,
              help="Order of equal scores: random, seeded (the authors' code adds U(0, 1e-8) noise) or "
                   "index (reading order).")
@click.option("--end-point", type=click.Choice(["chance", "none"]), default="chance", show_default=True,
              help="Close the curves at (1, 1/K) before the areas of mu (the authors' code, 3.5 Result "
                   "Analysis) or not (none).")
@click.option("--sequential", is_flag=True, help="Train members one by one instead of as a batched ensemble.")
@click.option("--group-size", type=int, default=8, show_default=True, help="Members per batched ensemble.")
@click.option("--jit/--no-jit", "jit", default=None, help="XLA for the retraining (default: Keras auto).")
@click.option("--bounds", default=None, help="Value range lo,hi (default: the model's training config).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Directory with the dataset's original files (default: searched in $TFROBUST_DATA_DIR, "
                   "Debian's package path, tensorflow-datasets).")
@download_flag
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the retrained classifiers, the ties and the attributions' noise.")
@quiet_flag
def roar(model_path: str, dataset: str | None, method_text: str, options: tuple[str, ...], out_dir: str,
         fraction_text: str, repeats: int,
         keep: bool, arch: str | None, epochs: int, batch_size: int, lr: str | None, limit: int | None,
         test_limit: int | None, fill: str, signed: bool, label: str, ties: str, end_point: str, sequential: bool,
         group_size: int, jit: bool | None, bounds: str | None, data_dir: str | None, seed: int,
         quiet: bool) -> None:
    """Remove (ROAR) or keep (KAR) and retrain: attribution quality against a random baseline.

    Kim et al. 2019 sec. 3.2. Writes OUT/roar.csv (method, mode, fraction,
    repeat, accuracy), OUT/scores.csv (method, mode, area, mu) and
    OUT/curves.png. Re-running resumes: finished classifiers are never
    retrained; ROAR and --keep runs into the same OUT share one table.

    Options of the methods: `--option KEY=VALUE` goes to every chosen method
    that has KEY, `--option METHOD.KEY=VALUE` to METHOD only (e.g.
    `--option smoothgrad.samples=10`).
    """
    from cli.runs import open_run

    methods = parse_methods(method_text)
    per_method = entry_options("attributions", methods, parse_options(options))
    fractions = _fractions(fraction_text)
    for name, value in (("--epochs", epochs), ("--batch-size", batch_size), ("--repeats", repeats),
                        ("--group-size", group_size), ("--limit", limit), ("--test-limit", test_limit)):
        if value is not None and value < 1:
            raise click.BadParameter(f"must be >= 1, got {value}", param_hint=name)
    if seed < 0:
        raise click.BadParameter(f"must be >= 0, got {seed}", param_hint="--seed")
    fill_value: str | float = fill if fill == "mean" else _number(fill, "--fill")
    learning_rate = None if lr is None else _number(lr, "--lr")
    if learning_rate is not None and learning_rate <= 0:
        raise click.BadParameter(f"must be > 0, got {lr}", param_hint="--lr")
    check_out_dir(out_dir)
    run = open_run(model_path)
    path = run.model_file
    trained_model = run.config.get("model") if isinstance(run.config.get("model"), dict) else {}
    arch_name = arch or trained_model.get("arch")
    if not arch_name:
        raise click.UsageError("no config.yaml next to the model names its architecture: give --arch")
    arch_options = trained_model.get("options") or {} if arch is None else {}
    data = run.data_for(dataset=dataset, data_dir=data_dir, limit=limit, bounds=bounds)
    train_ds = run.load_split("train", seed=seed, data=data)
    test_ds = run.load_split("test", seed=seed, limit=test_limit, data=data)
    lo, hi = train_ds.bounds
    if isinstance(fill_value, float) and not lo <= fill_value <= hi:
        raise click.BadParameter(f"must lie within the data bounds [{lo:g}, {hi:g}], got {fill}", param_hint="--fill")
    model = run.load_model(tuple(train_ds.input_shape), data_name=data.name)
    from tfrobust.evaluation import format_scores, run_roar
    from tfrobust.reports import write_roar_figure

    optimizer = OptimizerConfig() if learning_rate is None else OptimizerConfig(learning_rate=learning_rate)
    mode = "kar" if keep else "roar"
    click.echo(f"{mode.upper()} of {', '.join(methods)} for {path} on {data.name} ({len(train_ds)} train / "
               f"{len(test_ds)} test images): retraining {arch_name}, fractions {fractions}, {repeats} repeat(s), "
               f"{epochs} epoch(s), {'sequential' if sequential else f'batched x{group_size}'}; maps of the "
               f"{label} class, {ties} ties, end point {end_point} -> {out_dir}")
    result = run_roar(model, train_ds, test_ds, out_dir=out_dir, methods=methods, arch=arch_name,
                      arch_options=arch_options, fractions=fractions, repeats=repeats, modes=(mode,),
                      epochs=epochs, batch_size=batch_size, optimizer=optimizer, fill=fill_value,
                      rank_mode="signed" if signed else "abs", label=label, ties=ties, end_point=end_point,
                      batched=not sequential, group_size=group_size,
                      seed=seed, jit_compile="auto" if jit is None else jit, progress=show_progress(quiet),
                      **_attribution_options(per_method))
    out = Path(out_dir)
    figure = write_roar_figure(out / "roar.csv", out / "curves.png")
    click.echo(format_scores(result.rows, result.scores))
    click.echo(f"trained {result.trained} classifier(s), reused {result.reused}")
    click.echo(f"results        {out / 'roar.csv'}, {out / 'scores.csv'}")
    click.echo(f"figure         {figure}")
