"""``tfrobust theory toy``: boundary tilt of standard vs. l2 adversarially trained toy DNNs (Kim Fig. 3b)."""

from __future__ import annotations

from pathlib import Path

import click

from cli.outdir import check_out_dir
from tfrobust.config import check_number, parse_number

__all__ = ["toy"]


class BadInput(click.ClickException):
    """Bad option value: one line (``Error: --eps: ...``), exit status 2, in and outside ``cli.main``."""

    exit_code = 2

    def __init__(self, hint: str, message: str) -> None:
        super().__init__(f"{hint}: {message}")


def _radius(text: str, hint: str) -> float:
    """One l2 radius: a finite number >= 0 that float32 holds (PGD runs in float32)."""
    try:
        value = parse_number(text.strip(), name=hint)
    except ValueError:
        raise BadInput(hint, f"expected a number, got {text.strip()!r}") from None
    try:
        return check_number(value, name=hint, minimum=0, float32=True)
    except ValueError:
        raise BadInput(hint, f"must be a finite number >= 0 within float32 range, got {text.strip()!r}") from None


def _step_size(text: str) -> float | None:
    """``--step-size``: a finite number > 0 that float32 holds, or 'auto' (None: PGD's 2.5 * eps / steps)."""
    if text.strip().lower() == "auto":
        return None
    value = _radius(text, "--step-size")
    if value <= 0:
        raise BadInput("--step-size", f"must be > 0, got {text.strip()!r}")
    return value


def _eps_list(text: str) -> list[float]:
    if not text.strip():
        raise BadInput("--eps", "give at least one training eps, e.g. 0,0.25,0.5")
    values = [_radius(v, "--eps") for v in text.split(",")]
    if len(set(values)) != len(values):
        raise BadInput("--eps", f"duplicate eps in {text!r}")
    return values


def _format_table(rows: list[dict[str, float]]) -> str:
    header = f"{'train eps':>9}  {'tilt (deg)':>10}  {'clean acc':>9}  {'robust acc':>10}  {'pert. angle':>11}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['train_eps']:>9g}  {r['tilt_degrees']:>10.2f}  {r['clean_accuracy']:>9.4f}  "
                     f"{r['robust_accuracy']:>10.4f}  {r['perturbation_angle_degrees']:>11.2f}")
    return "\n".join(lines)


@click.command(short_help="Kim sec. 2.2: boundary tilting on the 2-D toy (tilt.csv, toy.png).")
@click.option("--eps", "eps_text", default="0,0.25,0.5", show_default=True,
              help="l2 training radii, comma-separated; 0 trains a standard model (Kim B.2: 0.25 weak, 0.5 strong).")
@click.option("--attack-eps", "attack_eps_text", default="1", show_default=True,
              help="l2 radius of the evaluated and drawn PGD attack (Kim B.2: 1).")
@click.option("--epochs", type=int, default=10, show_default=True, help="Training epochs (Kim A.2: 10).")
@click.option("--n", "n", type=int, default=3000, show_default=True,
              help="Points per class and split (Kim A.1: 3000).")
@click.option("--steps", type=int, default=40, show_default=True, help="PGD iterations (Kim B: 40).")
@click.option("--seed", type=int, default=0, show_default=True, help="Data, weights, shuffling and attacks.")
@click.option("--geometry", type=click.Choice(["kim_notebook", "tilted"]), default="kim_notebook",
              show_default=True,
              help="Toy data: kim_notebook (the authors' notebook 4.1 Mixture Gaussian Training) or tilted "
                   "(means (0, +-0.55), -30 degree covariance).")
@click.option("--step-size", "step_text", default="2", show_default=True,
              help="PGD step along the normalised gradient, cut to each ball's diameter 2*eps (the authors' "
                   "code: 2); 'auto': 2.5*eps/steps.")
@click.option("--random-start/--no-random-start", default=False, show_default=True,
              help="Start PGD at a uniform point of the ball (the authors' code: no random start).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for tilt.csv and toy.png.")
def toy(eps_text: str, attack_eps_text: str, epochs: int, n: int, steps: int, seed: int, geometry: str,
        step_text: str, random_start: bool, out_dir: str) -> None:
    """Kim et al. 2019 sec. 2.2 / Fig. 3b: does adversarial training remove the boundary tilt?

    Trains the two-layer ReLU DNN on the 2-D toy data (toy2d) once per
    training eps and writes OUT/tilt.csv (train_eps, tilt_degrees,
    clean_accuracy, robust_accuracy at --attack-eps, ...) and OUT/toy.png.
    Defaults follow the authors' notebook: its data (kim_notebook) and its
    attack (PGD from the point itself, steps of 2 cut to 2*eps).
    """
    eps = _eps_list(eps_text)
    attack_eps = _radius(attack_eps_text, "--attack-eps")
    for hint, value in (("--epochs", epochs), ("--n", n), ("--steps", steps)):
        if value < 1:
            raise BadInput(hint, f"must be >= 1, got {value}")
    if seed < 0:
        raise BadInput("--seed", f"must be >= 0, got {seed}")
    step_size = _step_size(step_text)
    check_out_dir(out_dir)

    from tfrobust.theory.toy import toy_experiment

    out = Path(out_dir)
    rows = toy_experiment(eps_list=eps, epochs=epochs, n=n, seed=seed, attack_eps=attack_eps, steps=steps,
                          out_dir=out, progress=lambda message: click.echo(message, err=True),
                          geometry=geometry, step_size=step_size, random_start=random_start)
    click.echo(_format_table(rows))
    click.echo(f"results        {out / 'tilt.csv'}")
    click.echo(f"figure         {out / 'toy.png'}")
