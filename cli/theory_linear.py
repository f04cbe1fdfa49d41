"""``tfrobust theory linear``: robust and non-robust features of linear classifiers.

Tsipras et al. 2019 sec. 2.3 (Table 4, Fig. 2a-c), sec. 3 (Figs. 3-4) and the
captions of Figs. 1, 6, 7, on a binary digit task (default: Fashion-MNIST
5 vs 7, sandal vs sneaker; MNIST 5 vs 7 with ``--dataset mnist``). Defaults
are the ``quick`` preset of ``tfrobust.theory.linear_features``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from cli.options import download_flag
from cli.outdir import check_out_dir
from tfrobust.config import parse_number

__all__ = ["linear"]

_IMAGE_DATASETS = ("fashion_mnist", "mnist", "cifar10")
_QUICK: dict[str, Any] = {  # mirrors LINEAR_FEATURES_CONFIG["quick"]; the library is imported lazily
    "limit": 2000, "epochs": 20, "batch_size": 64, "lr": "0.01",
    "eps_train": "0,0.05,0.1,0.2", "eps_test": "0.05,0.1,0.2",
    "top_k": "5,10,25,50,100,200,400,784", "sizes": "50,100,200,500,1000,2000",
}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _number(text: str, option: str) -> float:
    """A finite number >= 0 that float32 holds (radii and rates enter float32 tensors)."""
    try:
        return parse_number(text.strip(), name=option, minimum=0, float32=True)
    except ValueError as err:
        message = _one_line(str(err))
        raise click.ClickException(message if message.startswith(option) else f"{option}: {message}") from None


def _numbers(text: str, option: str) -> list[float]:
    items = text.split(",")
    if not text.strip():
        raise click.ClickException(f"{option}: give at least one number, got {text!r}")
    if any(not v.strip() for v in items):
        raise click.ClickException(f"{option}: expected comma-separated numbers, got {text!r}")
    return [_number(v, option) for v in items]


def _integers(text: str, option: str) -> list[int]:
    out = []
    for value in text.split(","):
        value = value.strip()
        if not value:
            continue
        try:
            number = int(value)
        except ValueError:
            raise click.ClickException(f"{option}: expected integers, got {value!r}") from None
        if number < 1:
            raise click.ClickException(f"{option}: values must be >= 1, got {number}")
        out.append(number)
    if not out:
        raise click.ClickException(f"{option}: give at least one integer, got {text!r}")
    return out


def _classes(text: str) -> tuple[int, int]:
    values = [v.strip() for v in text.split(",")]
    try:
        pair = tuple(int(v) for v in values)
    except ValueError:
        raise click.ClickException(f"--classes: expected two labels a,b, got {text!r}") from None
    if len(pair) != 2 or pair[0] == pair[1]:
        raise click.ClickException(f"--classes: expected two different labels a,b, got {text!r}")
    return pair[0], pair[1]


@click.command(short_help="Tsipras sec. 2.3/3: robust and non-robust features of linear classifiers.")
@click.option("--dataset", type=click.Choice(_IMAGE_DATASETS), default="fashion_mnist",
              show_default=True, help="Image data set (Tsipras: mnist).")
@click.option("--classes", "classes_text", default="5,7", show_default=True,
              help="The two original labels a,b of the binary task (relabelled 0, 1).")
@click.option("--limit", type=int, default=_QUICK["limit"], show_default=True,
              help="First N images of each split (after class filtering); 0 = all.")
@click.option("--eps-train", "eps_train_text", default=_QUICK["eps_train"], show_default=True,
              help="linf training radii (table rows, Fig. 7 curve), data units [0, 1]; 0 = standard.")
@click.option("--eps-test", "eps_test_text", default=_QUICK["eps_test"], show_default=True,
              help="linf evaluation radii (table columns, top-k curve).")
@click.option("--top-k", "top_k_text", default=_QUICK["top_k"], show_default=True,
              help="Numbers of most label-correlated pixels kept (Fig. 2c); values above D are dropped.")
@click.option("--sizes", "sizes_text", default=_QUICK["sizes"], show_default=True,
              help="Training-set sizes (Figs. 1, 6); values above the training set are dropped.")
@click.option("--epochs", type=int, default=_QUICK["epochs"], show_default=True,
              help="Epochs per model (Tsipras A.2: 100).")
@click.option("--batch-size", type=int, default=_QUICK["batch_size"], show_default=True, help="Batch size.")
@click.option("--lr", "lr_text", default=_QUICK["lr"], show_default=True,
              help="Adam learning rate (cosine decay to 0).")
@click.option("--attack", type=click.Choice(["closed_form", "pgd"]), default="closed_form",
              show_default=True, help="Adversarial training: exact linf worst case or PGD.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of weights, shuffling and attacks.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Directory with the original data files.")
@download_flag
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Results directory.")
def linear(dataset: str, classes_text: str, limit: int, eps_train_text: str, eps_test_text: str,
           top_k_text: str, sizes_text: str, epochs: int, batch_size: int, lr_text: str, attack: str,
           seed: int, data_dir: str | None, out_dir: str) -> None:
    """Linear classifiers on a binary task: Tsipras et al. 2019 Table 4, Figs. 2, 3-4, 1/6/7.

    Writes OUT/linear_table.csv (Table 4 layout), OUT/features.png (Fig. 2a-b),
    OUT/top_k.csv and top_k.png (Fig. 2c), OUT/eps_train.csv and eps_train.png
    (Fig. 7), OUT/train_size.csv and train_size.png (Figs. 1, 6) and
    OUT/large_eps.png (Figs. 3-4: linf 0.3 and l2 4, Table 3). Robust
    accuracies are exact (closed-form linf worst case of a linear model).
    """
    try:
        _run(dataset, classes_text, limit, eps_train_text, eps_test_text, top_k_text, sizes_text,
             epochs, batch_size, lr_text, attack, seed, data_dir, out_dir)
    except (ValueError, OSError) as err:  # bad input from the library: one line, no traceback
        raise click.ClickException(_one_line(str(err))) from None


def _run(dataset: str, classes_text: str, limit: int, eps_train_text: str, eps_test_text: str,
         top_k_text: str, sizes_text: str, epochs: int, batch_size: int, lr_text: str, attack: str,
         seed: int, data_dir: str | None, out_dir: str) -> None:
    classes = _classes(classes_text)
    eps_train = _numbers(eps_train_text, "--eps-train")
    eps_test = _numbers(eps_test_text, "--eps-test")
    top_k = _integers(top_k_text, "--top-k")
    sizes = _integers(sizes_text, "--sizes")
    for name, value in (("--epochs", epochs), ("--batch-size", batch_size)):
        if value < 1:
            raise click.ClickException(f"{name}: must be >= 1, got {value}")
    if limit < 0:
        raise click.ClickException(f"--limit: must be >= 0, got {limit}")
    if seed < 0:
        raise click.ClickException(f"--seed: must be >= 0, got {seed}")
    lr = _number(lr_text, "--lr")
    if lr <= 0:
        raise click.ClickException(f"--lr: must be > 0, got {lr_text}")
    check_out_dir(out_dir)

    import numpy as np

    from tfrobust.data import load_dataset
    from tfrobust.theory.linear_features import format_linear_table, linear_features_experiment

    started = time.perf_counter()
    load: dict[str, Any] = {"data_dir": data_dir, "classes": classes, "limit": limit or None,
                            "bounds": (0.0, 1.0)}
    train = load_dataset(dataset, "train", **load)
    test = load_dataset(dataset, "test", **load)
    for split in (train, test):
        if len(split) < 2 or len(np.unique(split.y)) < 2:
            raise click.ClickException(
                f"{dataset} {split.split} split has {len(split)} image(s) of classes {classes}: "
                "both classes are needed")
    n_features = int(np.prod(train.input_shape))
    out = Path(out_dir)
    names = train.class_names
    click.echo(f"{dataset} {classes[0]} ({names[0]}) vs {classes[1]} ({names[1]}) from {train.source}: "
               f"{len(train)} train / {len(test)} test images, {n_features} features -> {out}")

    def progress(message: str) -> None:
        click.echo(f"  [{time.perf_counter() - started:6.1f}s] {message}")

    summary = linear_features_experiment(
        train, test, out_dir=out, eps_train_list=eps_train, eps_test_list=eps_test, top_k=top_k, sizes=sizes,
        epochs=epochs, batch_size=batch_size, lr=lr, attack=attack, seed=seed, progress=progress)
    click.echo(format_linear_table(summary["table"]))
    click.echo(f"done in {time.perf_counter() - started:.1f}s: {', '.join(summary['files'])}")
