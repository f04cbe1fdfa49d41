"""``tfrobust attack``: a robust-accuracy table (Noack et al. 2021 Tables 1-2 layout)."""

from __future__ import annotations

from pathlib import Path

import click

from tfrobust.config import parse_number
from tfrobust.data import DATASETS


def _eps_list(text: str) -> list[float]:
    values = [parse_number(v, name="--eps") for v in text.split(",") if v.strip()]
    if not values:
        raise click.BadParameter("give at least one radius, e.g. 0.5,1,1.5", param_hint="--eps")
    if any(v < 0 for v in values):
        raise click.BadParameter(f"eps must be >= 0, got {text}", param_hint="--eps")
    return values


def _eps_per_norm(texts: tuple[str, ...], norms: list[str]) -> dict[str, list[float]]:
    """``--eps 0.1,0.2`` applies to every norm; ``--eps linf=0.1,0.2`` to one."""
    shared: list[float] = []
    own: dict[str, list[float]] = {}
    for text in texts:
        if "=" in text:
            norm, _, values = text.partition("=")
            norm = norm.strip()
            if norm not in norms:
                raise click.BadParameter(f"{text!r} names a norm not in --norm {','.join(norms)}",
                                         param_hint="--eps")
            own.setdefault(norm, []).extend(_eps_list(values))
        else:
            shared.extend(_eps_list(text))
    missing = [n for n in norms if n not in own and not shared]
    if missing:
        raise click.BadParameter(f"no radius for {', '.join(missing)}", param_hint="--eps")
    return {n: own.get(n, shared) for n in norms}


def _norms(text: str) -> list[str]:
    norms = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in norms if n not in ("l2", "linf")]
    if bad or not norms:
        raise click.BadParameter(f"choose from l2, linf (comma-separated), got {text!r}", param_hint="--norm")
    return norms


@click.command()
@click.option("--model", "model_path", required=True, type=click.Path(),
              help="Run directory (model.keras, config.yaml) or a .keras file.")
@click.option("--dataset", type=click.Choice(list(DATASETS)), default=None,
              help="Dataset (default: the one the model was trained on).")
@click.option("--norm", "norm_text", required=True, help="l2, linf or both: l2,linf.")
@click.option("--eps", "eps_texts", required=True, multiple=True,
              help="Radii in data units, e.g. 0.5,1,1.5 or 8/255; per norm: --eps l2=0.5,1 --eps linf=0.05,0.1.")
@click.option("--steps", type=int, default=40, show_default=True, help="PGD iterations.")
@click.option("--step-size", default=None, help="Step size (default 2.5*eps/steps).")
@click.option("--restarts", type=int, default=1, show_default=True,
              help="Independent random restarts (Noack: 3); mean, std and worst case are reported.")
@click.option("--objective", type=click.Choice(["xent", "cw"]), default="xent", show_default=True)
@click.option("--l2-step", type=click.Choice(["normalized", "sign"]), default="normalized", show_default=True)
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@click.option("--limit", type=int, default=None, help="Attack the first N examples.")
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--bounds", default=None, help="Value range lo,hi (default: the model's training config).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="CSV file (default: MODEL_DIR/robust_accuracy.csv).")
def attack(model_path: str, dataset: str | None, norm_text: str, eps_texts: tuple[str, ...], steps: int,
           step_size: str | None, restarts: int, objective: str, l2_step: str, split: str,
           limit: int | None, batch_size: int, bounds: str | None, data_dir: str | None, seed: int,
           out_path: str | None) -> None:
    """Robust accuracy of a trained model under PGD over a list of eps."""
    from cli.runs import model_and_data
    from tfrobust.evaluation import format_table, robust_accuracy_table

    norms = _norms(norm_text)
    eps = _eps_per_norm(eps_texts, norms)
    if steps < 0 or restarts < 1 or batch_size < 1:
        raise click.BadParameter("--steps must be >= 0, --restarts and --batch-size >= 1")
    model_file, model, ds = model_and_data(model_path, dataset=dataset, split=split, data_dir=data_dir,
                                           classes=None, limit=limit, bounds=bounds, seed=seed)
    run_dir = model_file.parent
    size = None if step_size is None else parse_number(step_size, name="--step-size")
    click.echo(f"attacking {model_file} on {ds.name} {split} ({len(ds)} examples, bounds {ds.bounds}): "
               f"PGD-{steps} {objective}, {restarts} restart(s)")
    table = robust_accuracy_table(
        model, ds.pipeline(batch_size), norms=norms, eps=eps, bounds=ds.bounds, steps=steps,
        step_size=size, objective=objective, restarts=restarts, l2_step=l2_step, seed=seed,
        progress=lambda message: click.echo(f"  {message}", err=True),
    )
    table.insert(0, "model", str(run_dir if model_file.name == "model.keras" else model_file))
    table.insert(1, "dataset", ds.name)
    out = Path(out_path) if out_path else run_dir / "robust_accuracy.csv"
    tmp = out.with_name(f".{out.name}.tmp")
    table.to_csv(tmp, index=False)
    tmp.replace(out)
    click.echo(format_table(table, label=run_dir.name))
    click.echo(f"results        {out}")
