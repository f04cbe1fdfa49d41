"""``tfrobust attack``: a robust-accuracy table (Noack et al. 2021 Tables 1-2 layout) under any registered attack.

``--attack NAME`` picks the attack (``tfrobust.registry.ATTACKS``, PGD by
default) and ``--option KEY=VALUE`` sets its options; ``--steps``,
``--step-size``, ``--objective`` and ``--l2-step`` are shorthands for PGD's
common ones. Every option, the results path included, is checked before the model is
loaded; the table is written atomically and never replaces a file that is
not an earlier ``tfrobust attack`` table.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cli.options import (
    LazyChoice,
    download_flag,
    option_flag,
    parse_options,
    quiet_flag,
    registry_choice,
)
from tfrobust.config import parse_number
from tfrobust.data import DATASETS
from tfrobust.evaluation.checklist import CHECK_COLUMNS

#: The first columns of a table this command writes (how it recognises its own earlier output).
TABLE_HEAD = ("model", "dataset", "norm", "eps")


def _eps_list(text: str) -> list[float]:
    """Radii: finite, >= 0 and within float32 range (an overflowing radius would make NaN images)."""
    values = [parse_number(v, name="--eps", minimum=0.0, float32=True) for v in text.split(",") if v.strip()]
    if not values:
        raise click.BadParameter("give at least one radius, e.g. 0.5,1,1.5", param_hint="--eps")
    return values


#: The header of the checks file this command writes next to its table.
CHECKS_HEAD = tuple(CHECK_COLUMNS)


def _is_attack_table(path: Path) -> bool:
    """Whether ``path`` starts with the header of a table (or checks file) written by this command."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            header = handle.readline(4096).strip().split(",")
    except OSError:
        return False
    if tuple(header) == CHECKS_HEAD:
        return True
    return tuple(header[:len(TABLE_HEAD)]) == TABLE_HEAD and "robust_accuracy_mean" in header


def checks_file(out: Path) -> Path:
    """Where the gradient-masking checks of the table ``out`` go: ``<stem>.checks.csv`` beside it."""
    return out.with_name(f"{out.stem}.checks.csv")


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


#: The table's file name in an --out directory (and in the run directory, the default).
TABLE_NAME = "robust_accuracy.csv"


def table_path(out: str | None, model_path: str) -> Path:
    """Where the table goes: ``OUT/robust_accuracy.csv`` (default OUT: the model's run directory).

    For backward compatibility a path ending in ``.csv`` that is not an
    existing directory is the table file itself (the checks go beside it).

    Raises:
        click.BadParameter: OUT exists and is neither a directory nor a ``.csv`` path (one line).
        FileNotFoundError: no model at ``model_path`` (default OUT only).
    """
    if out is None:
        from cli.runs import model_file

        return model_file(model_path).parent / TABLE_NAME
    path = Path(out)
    if path.suffix.lower() == ".csv" and not path.is_dir():
        return path  # the earlier meaning: --out FILE.csv
    if path.exists() and not path.is_dir():
        raise click.BadParameter(f"{path} exists and is not a directory (give a results directory, or a "
                                 f"path ending in .csv for the table file)", param_hint="--out")
    return path / TABLE_NAME


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
    """``--norm l2,linf``: registered norms (``tfrobust.registry.NORMS``)."""
    from tfrobust.registry import NORMS

    norms = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in norms if n not in NORMS]
    if bad or not norms:
        raise click.BadParameter(f"choose from {', '.join(NORMS.names())} (comma-separated), got {text!r}",
                                 param_hint="--norm")
    return norms


def _pgd_choices(option: str) -> Callable[[], tuple[Any, ...]]:
    """The choices of one of PGD's Literal options, read from its registry entry."""
    def names() -> tuple[Any, ...]:
        from tfrobust.registry import ATTACKS

        return ATTACKS["pgd"].option(option).type.choices

    return names


def attack_options(option_values: tuple[str, ...], shorthands: dict[str, Any]) -> dict[str, Any]:
    """``--option key=value`` values with the given shorthands (``--steps`` is ``--option steps=...``) added.

    Raises:
        ConfigError: a malformed ``--option`` or a key given both ways (one line).
    """
    from tfrobust.config import ConfigError

    options = parse_options(option_values)
    for key, value in shorthands.items():
        if value is None:
            continue
        if key in options:
            flag = "--" + key.replace("_", "-")
            raise ConfigError(f"--option {key}: given twice (also as {flag}); give one")
        options[key] = value
    return options


@click.command(short_help="Robust-accuracy table of a trained model under an attack (PGD by default).")
@click.option("--model", "model_path", required=True, type=click.Path(),
              help="Run directory (model.keras, config.yaml) or a .keras file.")
@click.option("--dataset", type=click.Choice(list(DATASETS)), default=None,
              help="Dataset (default: the one the model was trained on).")
@click.option("--attack", "attack_name", type=registry_choice("attacks"), default="pgd", show_default=True,
              help="A registered attack (`tfrobust list attacks` shows each one's options).")
@click.option("--norm", "norm_text", required=True,
              help="Registered norm(s), comma-separated: l2, linf, l1, l2,linf (`tfrobust list norms`).")
@click.option("--eps", "eps_texts", required=True, multiple=True,
              help="Radii in data units, e.g. 0.5,1,1.5 or 8/255; per norm: --eps l2=0.5,1 --eps linf=0.05,0.1.")
@option_flag
@click.option("--steps", type=int, default=None, help="Shorthand for --option steps=N (PGD: 40 by default).")
@click.option("--step-size", default=None,
              help="Shorthand for --option step_size=X (PGD default: step_size_factor*eps/steps, factor 2.5).")
@click.option("--objective", type=registry_choice("objectives"), default=None,
              help="Shorthand for --option objective=NAME (`tfrobust list objectives`; PGD default xent).")
@click.option("--l2-step", type=LazyChoice(_pgd_choices("l2_step")), default=None,
              help="Shorthand for --option l2_step=RULE (PGD's l2 step; default normalized).")
@click.option("--restarts", type=int, default=1, show_default=True,
              help="Independent random restarts (Noack: 3); mean, std and worst case are reported.")
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True,
              help="Which split of the dataset to attack.")
@click.option("--limit", type=int, default=None, help="Attack the first N examples.")
@click.option("--batch-size", type=int, default=256, show_default=True, help="Examples per attack batch.")
@click.option("--bounds", default=None, help="Value range lo,hi (default: the model's training config).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Directory with the dataset's original files (default: searched in $TFROBUST_DATA_DIR, "
                   "Debian's package path, tensorflow-datasets).")
@download_flag
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the attacks' random starts and of "
              "synthetic data.")
@click.option("--checks", "checks_text", default="all", show_default=True,
              help="Gradient-masking checks: all, none, or names among blackbox, monotone, chance, convergence, "
                   "zero_gradients (comma-separated); written to OUT's .checks.csv.")
@click.option("--blackbox-queries", type=int, default=1000, show_default=True,
              help="Square's query budget in the blackbox check (when the attack has no gradient-free member).")
@click.option("--out", "out_path", type=click.Path(), default=None, metavar="DIRECTORY",
              help="Results directory for robust_accuracy.csv and robust_accuracy.checks.csv (default: the "
                   "model's run directory). A path ending in .csv is still taken as the table file.")
@quiet_flag
def attack(model_path: str, dataset: str | None, attack_name: str, norm_text: str, eps_texts: tuple[str, ...],
           options: tuple[str, ...], steps: int | None, step_size: str | None, objective: str | None,
           l2_step: str | None, restarts: int, split: str, limit: int | None, batch_size: int, bounds: str | None,
           data_dir: str | None, seed: int, checks_text: str, blackbox_queries: int, out_path: str | None,
           quiet: bool) -> None:
    """Robust accuracy of a trained model under an attack (PGD by default) over a list of eps.

    The attack's options come from `--option KEY=VALUE` (repeatable) and the
    shorthands --steps, --step-size, --objective and --l2-step; every option,
    radius and step size is checked before the model is loaded.
    """
    norms = _norms(norm_text)
    eps = _eps_per_norm(eps_texts, norms)
    if restarts < 1 or batch_size < 1 or blackbox_queries < 1:
        raise click.BadParameter("--restarts, --batch-size and --blackbox-queries must be >= 1")
    from tfrobust.evaluation.checklist import check_list

    try:
        checks = check_list(checks_text)
    except ValueError as err:
        raise click.BadParameter(str(err).removeprefix("checks: "), param_hint="--checks") from None
    size = None if step_size is None else parse_number(step_size, name="--step-size", minimum=0.0, float32=True)
    chosen = attack_options(options, {"steps": steps, "step_size": size, "objective": objective,
                                      "l2_step": l2_step})

    from cli import import_tensorflow_quietly

    import_tensorflow_quietly()
    from tfrobust.attacks import Attack

    for norm, radii in eps.items():  # every attack's options, radius and step size, before loading anything
        for e in radii:
            Attack.build(attack_name, norm=norm, eps=e, bounds=(-math.inf, math.inf), options=chosen,
                         prefix="--option")

    from cli.runs import model_and_data

    out = table_path(out_path, model_path)
    check_out(out)
    if checks:
        check_out(checks_file(out))

    from tfrobust.evaluation import format_table, robust_accuracy_table

    model_file_path, model, ds = model_and_data(model_path, dataset=dataset, split=split, data_dir=data_dir,
                                                classes=None, limit=limit, bounds=bounds, seed=seed)
    run_dir = model_file_path.parent
    settings = ", ".join(f"{key}={value}" for key, value in chosen.items()) or "default options"
    click.echo(f"attacking {model_file_path} on {ds.name} {split} ({len(ds)} examples, bounds {ds.bounds}): "
               f"{attack_name} ({settings}), {restarts} restart(s)")
    table = robust_accuracy_table(
        model, ds.pipeline(batch_size), norms=norms, eps=eps, bounds=ds.bounds, attack=attack_name,
        options=chosen, restarts=restarts, seed=seed, checks=checks or "none", blackbox_queries=blackbox_queries,
        progress=None if quiet else (lambda message: click.echo(f"  {message}", err=True)),
    )
    table.insert(0, "model", str(run_dir if model_file_path.name == "model.keras" else model_file_path))
    table.insert(1, "dataset", ds.name)
    write_table(table, out)
    if checks:
        import pandas as pd

        write_table(pd.DataFrame(table.attrs.get("checks", []), columns=list(CHECKS_HEAD)), checks_file(out))
    click.echo(format_table(table, label=run_dir.name))
    click.echo(f"results        {out}")
    if checks:
        click.echo(f"checks         {checks_file(out)}")
