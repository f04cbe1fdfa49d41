"""``tfrobust train``: train a classifier and write model, SavedModel, history, config."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cli.outdir import check_out_dir
from tfrobust.config import (
    DataConfig,
    ModelConfig,
    OptimizerConfig,
    TrainConfig,
    load_train_config,
    parse_number,
    replace,
)
from tfrobust.data import DATASETS
from tfrobust.models import MODELS
from tfrobust.reports import write_training_report
from tfrobust.training import METHODS
from tfrobust.training import train as train_run


def _with(config: Any, **changes: Any) -> Any:
    changes = {k: v for k, v in changes.items() if v is not None}
    return replace(config, **changes) if changes else config


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML training config (configs/*.yaml); flags below override it.")
@click.option("--dataset", type=click.Choice(list(DATASETS)), default=None,
              help="Dataset name (default: fashion_mnist).")
@click.option("--arch", type=click.Choice(list(MODELS)), default=None,
              help="Architecture (default: kim_mnist_cnn).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Run directory for model.keras, saved_model/, history.csv, config.yaml.")
@click.option("--method", type=click.Choice(list(METHODS)), default=None,
              help="Training method (default: standard).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Directory with the dataset's original files.")
@click.option("--classes", default=None, help="Keep only these labels, e.g. 5,7.")
@click.option("--bounds", default=None, help="Value range lo,hi in data units, e.g. -1,1.")
@click.option("--epochs", type=int, default=None, help="Epochs.")
@click.option("--batch-size", type=int, default=None, help="Batch size.")
@click.option("--limit", type=int, default=None, help="Use the first N examples of each split.")
@click.option("--seed", type=int, default=None, help="Random seed (weights, shuffling, augmentation).")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default=None, help="Optimizer.")
@click.option("--lr", default=None, help="Learning rate (fractions such as 1/1000 allowed).")
@click.option("--jit/--no-jit", "jit", default=None, help="XLA compilation (default: Keras auto).")
@click.option("--norm", type=click.Choice(["l2", "linf"]), default=None,
              help="[adversarial] threat model of the training attack.")
@click.option("--eps", default=None, help="[adversarial] radius in data units (e.g. 1.5 or 8/255).")
@click.option("--steps", type=int, default=None, help="[adversarial] PGD iterations (papers: 40).")
@click.option("--step-size", default=None, help="[adversarial] PGD step size (default 2.5*eps/steps).")
@click.option("--objective", type=click.Choice(["xent", "cw"]), default=None,
              help="[adversarial] attack objective: cross-entropy or CW margin.")
@click.option("--l2-step", type=click.Choice(["normalized", "sign"]), default=None,
              help="[adversarial] l2 step rule; 'sign' is Noack eq. 11.")
@click.option("--random-start/--no-random-start", default=None, help="[adversarial] random start in the ball.")
@click.option("--adv-fraction", type=float, default=None,
              help="[adversarial] share of each batch replaced by adversarial examples (default 1).")
@click.option("--robust-eval", type=int, default=None,
              help="[adversarial] log val_robust_accuracy on the first N test images every epoch.")
@click.option("--targets", type=click.Path(exists=True), default=None,
              help="[ir] target maps: a `tfrobust saliency --split train` directory (or its .npy).")
@click.option("--lambda-d", default=None, help="[ir] weight of the cosine alignment term (Noack eq. 9; MNIST 3.0).")
@click.option("--lambda-m", default=None, help="[ir] weight of the gradient-norm term (Noack eq. 9; MNIST 0.15).")
@click.option("--lambda-j", default=None, help="[jr] weight of the Jacobian Frobenius norm (Noack eq. 13; MNIST 0.32).")
@click.option("--n-proj", default=None,
              help="[jr] random projections per example (Noack eq. 14; default 1) or 'exact'.")
@click.option("--jacobian-eval", type=int, default=None,
              help="log label/other-logit Jacobian norms (Noack Fig. 4) on the first N test images every epoch.")
@click.option("--snapshot", type=int, default=None,
              help="save OUT/snapshots/saliency_epochNNN.png (logit gradients of the first N test images) "
                   "and TensorBoard images in OUT/logs every epoch.")
@click.option("--quiet", is_flag=True, help="One line per epoch instead of a progress bar.")
@click.option("--overwrite", is_flag=True,
              help="Start over in an --out that holds a finished run or an unfinished run with other "
                   "settings (removes only the files a run writes).")
def train(config_path: str | None, dataset: str | None, arch: str | None, out_dir: str,
          method: str | None, data_dir: str | None, classes: str | None, bounds: str | None,
          epochs: int | None, batch_size: int | None, limit: int | None, seed: int | None,
          optimizer: str | None, lr: str | None, jit: bool | None, norm: str | None,
          eps: str | None, steps: int | None, step_size: str | None, objective: str | None,
          l2_step: str | None, random_start: bool | None, adv_fraction: float | None,
          robust_eval: int | None, targets: str | None, lambda_d: str | None,
          lambda_m: str | None, lambda_j: str | None, n_proj: str | None,
          jacobian_eval: int | None, snapshot: int | None, quiet: bool, overwrite: bool) -> None:
    """Train a classifier: standard, adversarial (PGD), ir (Interpretation
    Regularization with target maps) or jr (Jacobian Regularization).

    Writes OUT/model.keras, OUT/saved_model/, OUT/history.csv, OUT/config.yaml,
    OUT/metrics.json and OUT/report.html with OUT/curves.png.

    Re-running the same command after an interruption resumes the run after
    its last finished epoch. Other settings, or an OUT holding a finished
    run, are refused unless --overwrite; an OUT holding other files always.
    A training whose loss or weights become NaN/inf fails (exit status 2).
    """
    check_out_dir(out_dir)  # unwritable: refused before loading anything (what it holds: checked by the library)
    config = load_train_config(config_path) if config_path else TrainConfig()
    data_cfg: DataConfig = _with(config.data, name=dataset, data_dir=data_dir, classes=classes,
                                 limit=limit, bounds=bounds)
    model_cfg: ModelConfig = _with(config.model, arch=arch)
    if arch is not None and arch != config.model.arch:
        model_cfg = replace(model_cfg, options={})  # options belong to the config's arch
    opt_cfg: OptimizerConfig = _with(
        config.optimizer, name=optimizer,
        learning_rate=None if lr is None else parse_number(lr, name="--lr"),
    )
    config = _with(config, data=data_cfg, model=model_cfg, optimizer=opt_cfg, method=method,
                   epochs=epochs, batch_size=batch_size, seed=seed, jit_compile=jit)
    attack_flags = {k: v for k, v in dict(
        norm=norm, eps=None if eps is None else parse_number(eps, name="--eps"), steps=steps,
        step_size=None if step_size is None else parse_number(step_size, name="--step-size"),
        objective=objective, l2_step=l2_step, random_start=random_start).items() if v is not None}
    if (attack_flags or adv_fraction is not None or robust_eval is not None) and config.method != "adversarial":
        raise click.UsageError("--norm/--eps/--steps/... apply to --method adversarial only")
    if config.method == "adversarial":
        options = dict(config.method_options)
        options["attack"] = {**dict(options.get("attack") or {}), **attack_flags}
        missing = [f"--{k}" for k in ("norm", "eps") if k not in options["attack"]]
        if missing:
            raise click.UsageError(f"--method adversarial needs the threat model: give {' and '.join(missing)}")
        if adv_fraction is not None:
            options["adversarial_fraction"] = adv_fraction
        config = replace(config, method_options=options)
    config = _regularization_options(config, targets=targets, lambda_d=lambda_d, lambda_m=lambda_m,
                                     lambda_j=lambda_j, n_proj=n_proj)
    callbacks = []
    if robust_eval is not None:
        callbacks.append(_robust_eval_callback(config, robust_eval))
    if jacobian_eval is not None:
        callbacks.append(_jacobian_eval_callback(config, jacobian_eval))
    if snapshot is not None:
        callbacks.append(_snapshot_callback(config, snapshot, Path(out_dir)))
    click.echo(
        f"training {config.model.arch} on {config.data.name} ({config.method}, "
        f"{config.epochs} epochs, batch {config.batch_size}, seed {config.seed}) -> {out_dir}"
    )
    # A progress bar on a terminal; one line per epoch in logs and pipes.
    verbose = 2 if quiet or not sys.stdout.isatty() else 1
    # The report is written before the run's backup is removed: an interrupted report is finished by a re-run.
    result = train_run(config, out_dir, verbose=verbose, callbacks=callbacks, overwrite=overwrite,
                       finalize=write_training_report)
    report = Path(out_dir) / "report.html"
    m = result.metrics
    click.echo(f"test accuracy  {m['test_accuracy']:.4f}  (loss {m['test_loss']:.4f}, "
               f"{m['test_examples']} test images)")
    if m.get("images_per_second"):
        click.echo(f"throughput     {m['images_per_second']:.0f} images/s")
    out = Path(out_dir)
    click.echo(f"model          {out / 'model.keras'}  (SavedModel: {out / 'saved_model'})")
    click.echo(f"report         {report}")


def _regularization_options(config: TrainConfig, *, targets: str | None, lambda_d: str | None,
                            lambda_m: str | None, lambda_j: str | None, n_proj: str | None) -> TrainConfig:
    """Folds the --targets/--lambda-*/--n-proj flags into method_options (checked per method)."""
    ir_flags = {k: v for k, v in dict(targets=targets, lambda_d=lambda_d, lambda_m=lambda_m).items()
                if v is not None}
    jr_flags = {k: v for k, v in dict(lambda_j=lambda_j, n_proj=n_proj).items() if v is not None}
    if ir_flags and config.method != "ir":
        raise click.UsageError("--targets/--lambda-d/--lambda-m apply to --method ir only")
    if jr_flags and config.method != "jr":
        raise click.UsageError("--lambda-j/--n-proj apply to --method jr only")
    options = dict(config.method_options)
    for key in ("lambda_d", "lambda_m", "lambda_j"):
        flag = ir_flags.get(key, jr_flags.get(key))
        if flag is not None:
            options[key] = parse_number(flag, name=f"--{key.replace('_', '-')} ({key})", finite=True,
                                        minimum=0, float32=True)
    if targets is not None:
        options["targets"] = targets
    if n_proj is not None:
        if n_proj == "exact":
            options["n_proj"] = "exact"
        else:
            try:
                options["n_proj"] = int(n_proj)
            except ValueError:
                raise click.BadParameter(f"must be a positive integer or 'exact', got {n_proj!r}",
                                         param_hint="--n-proj") from None
    if config.method == "ir" and not options.get("targets"):
        raise click.UsageError("--method ir needs --targets DIR (from tfrobust saliency --split train)")
    return replace(config, method_options=options)


def _jacobian_eval_callback(config: TrainConfig, n: int) -> Any:
    """jacobian_label_norm / jacobian_other_norm on the first n test images each epoch."""
    from tfrobust.training import load_data
    from tfrobust.training.callbacks import JacobianNorm

    if n <= 0:
        raise click.BadParameter(f"must be a positive number of images, got {n}", param_hint="--jacobian-eval")
    _, test_ds = load_data(replace(config, data=replace(config.data, limit=n)))
    return JacobianNorm(test_ds.x, test_ds.y)


def _snapshot_callback(config: TrainConfig, n: int, out: Path) -> Any:
    """SaliencySnapshot of the first n test images: PNG per epoch and TensorBoard images."""
    from tfrobust.training import load_data
    from tfrobust.training.callbacks import SaliencySnapshot

    if n <= 0:
        raise click.BadParameter(f"must be a positive number of images, got {n}", param_hint="--snapshot")
    _, test_ds = load_data(replace(config, data=replace(config.data, limit=n)))
    return SaliencySnapshot(test_ds.x, test_ds.y, out_dir=out / "snapshots", log_dir=out / "logs", max_images=n)


def _robust_eval_callback(config: TrainConfig, n: int) -> Any:
    """val_robust_accuracy of the training attack on the first n test images."""
    from tfrobust.attacks import PGD
    from tfrobust.training import RobustAccuracy, load_data
    from tfrobust.training.run import method_options

    if n <= 0:
        raise click.BadParameter(f"must be a positive number of images, got {n}", param_hint="--robust-eval")
    _, test_ds = load_data(replace(config, data=replace(config.data, limit=n)))
    attack = PGD(**method_options(config, test_ds.bounds)["attack"])
    return RobustAccuracy(test_ds.pipeline(min(n, 256)), attack, seed=config.seed)
