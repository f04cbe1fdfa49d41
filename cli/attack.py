"""``tfrobust attack``: a robust-accuracy table (Noack et al. 2021 Tables 1-2 layout).

Every option, the results path included, is checked before the model is
loaded; the table is written atomically and never replaces a file that is
not an earlier ``tfrobust attack`` table.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import click

from tfrobust.config import parse_number
from tfrobust.data import DATASETS

#: The first columns of a table this command writes (how it recognises its own earlier output).
TABLE_HEAD = ("model", "dataset", "norm", "eps")


def _eps_list(text: str) -> list[float]:
    """Radii: finite, >= 0 and within float32 range (an overflowing radius would make NaN images)."""
    values = [parse_number(v, name="--eps", minimum=0.0, float32=True) for v in text.split(",") if v.strip()]
    if not values:
        raise click.BadParameter("give at least one radius, e.g. 0.5,1,1.5", param_hint="--eps")
    return values


def _is_attack_table(path: Path) -> bool:
    """Whether ``path`` starts with the header of a table written by this command."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            header = handle.readline(4096).strip().split(",")
    except OSError:
        return False
    return tuple(header[:len(TABLE_HEAD)]) == TABLE_HEAD and "robust_accuracy_mean" in header


def check_out(path: Path) -> None:
    """Refuses a results path that cannot be written or would replace a file this command did not write.

    Allowed: a new file under an existing (or creatable) directory we may
    write in, or an earlier ``tfrobust attack`` table (replaced).

    Raises:
        click.BadParameter: one line naming ``--out`` and the reason.
    """
    def bad(reason: str) -> click.BadParameter:
        return click.BadParameter(reason, param_hint="--out")

    if path.is_symlink():
        raise bad(f"{path} is a symbolic link; give the path of a plain file")
    if path.exists():
        if path.is_dir():
            raise bad(f"{path} is a directory; give a file path such as {path / 'robust_accuracy.csv'}")
        if not path.is_file():
            raise bad(f"{path} exists and is not a regular file")
        if not _is_attack_table(path):
            raise bad(f"{path} exists and is not a table written by tfrobust attack; "
                      "choose another path (existing files are never overwritten)")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise bad(f"cannot create {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise bad(f"cannot create {path}: no permission to write in {parent}")


def write_table(table: Any, path: Path) -> None:
    """Writes the CSV atomically (a fresh temp file, then ``os.replace``), re-checking ``path`` first."""
    check_out(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            table.to_csv(handle, index=False)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
    from cli.runs import model_and_data, model_file

    norms = _norms(norm_text)
    eps = _eps_per_norm(eps_texts, norms)
    if steps < 0 or restarts < 1 or batch_size < 1:
        raise click.BadParameter("--steps must be >= 0, --restarts and --batch-size >= 1")
    size = None if step_size is None else parse_number(step_size, name="--step-size", minimum=0.0, float32=True)
    out = Path(out_path) if out_path else model_file(model_path).parent / "robust_accuracy.csv"
    check_out(out)

    from tfrobust.attacks import PGD
    from tfrobust.evaluation import format_table, robust_accuracy_table

    for norm, radii in eps.items():  # every attack's radius and step size, before loading anything
        for e in radii:
            PGD(norm=norm, eps=e, steps=steps, step_size=size, objective=objective, l2_step=l2_step)

    model_file_path, model, ds = model_and_data(model_path, dataset=dataset, split=split, data_dir=data_dir,
                                                classes=None, limit=limit, bounds=bounds, seed=seed)
    run_dir = model_file_path.parent
    click.echo(f"attacking {model_file_path} on {ds.name} {split} ({len(ds)} examples, bounds {ds.bounds}): "
               f"PGD-{steps} {objective}, {restarts} restart(s)")
    table = robust_accuracy_table(
        model, ds.pipeline(batch_size), norms=norms, eps=eps, bounds=ds.bounds, steps=steps,
        step_size=size, objective=objective, restarts=restarts, l2_step=l2_step, seed=seed,
        progress=lambda message: click.echo(f"  {message}", err=True),
    )
    table.insert(0, "model", str(run_dir if model_file_path.name == "model.keras" else model_file_path))
    table.insert(1, "dataset", ds.name)
    write_table(table, out)
    click.echo(format_table(table, label=run_dir.name))
    click.echo(f"results        {out}")
