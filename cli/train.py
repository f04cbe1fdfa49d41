"""``tfrobust train``: train a classifier and write model, SavedModel, history, config."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from cli import import_tensorflow_quietly
from cli.options import (
    ARCH_CHOICE,
    download_flag,
    keras_verbose,
    option_flag,
    parse_options,
    parse_partial,
    quiet_flag,
    registry_choice,
)
from cli.outdir import check_out_dir
from tfrobust.config import (
    STRATEGIES,
    ConfigError,
    DataConfig,
    ModelConfig,
    OptimizerConfig,
    TrainConfig,
    load_train_config,
    parse_number,
    replace,
)
from tfrobust.data import DATASETS


def _with(config: Any, **changes: Any) -> Any:
    changes = {k: v for k, v in changes.items() if v is not None}
    return replace(config, **changes) if changes else config


@click.command(short_help="Train a classifier (standard, adversarial, ir, jr, trades) into a run directory.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML training config (configs/*.yaml); flags below override it.")
@click.option("--dataset", type=click.Choice(list(DATASETS)), default=None,
              help="Dataset name (default: --config's, else fashion_mnist).")
@click.option("--arch", type=ARCH_CHOICE, default=None,
              help="Architecture, a name of tfrobust.models.MODELS (default: kim_mnist_cnn).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Run directory for model.keras, saved_model/, history.csv, config.yaml.")
@click.option("--method", type=registry_choice("methods"), default=None,
              help="Training method (default: standard); `tfrobust list methods` shows each one's options.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Directory with the dataset's original files.")
@download_flag
@click.option("--classes", default=None, help="Keep only these labels, e.g. 5,7.")
@click.option("--bounds", default=None, help="Value range lo,hi in data units, e.g. -1,1.")
@click.option("--epochs", type=int, default=None, help="Epochs.")
@click.option("--batch-size", type=int, default=None, help="Batch size.")
@click.option("--limit", type=int, default=None, help="Use the first N examples of each split.")
@click.option("--seed", type=int, default=None, help="Random seed (weights, shuffling, augmentation).")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default=None, help="Optimizer.")
@click.option("--lr", default=None, help="Learning rate (fractions such as 1/1000 allowed).")
@click.option("--jit/--no-jit", "jit", default=None, help="XLA compilation (default: Keras auto).")
@option_flag
@click.option("--norm", type=registry_choice("norms"), default=None,
              help="Threat model of the training attack (shorthand for --option attack.norm=NORM).")
@click.option("--eps", default=None,
              help="Radius of the training attack in data units, e.g. 1.5 or 8/255 (--option attack.eps=EPS).")
@click.option("--steps", type=int, default=None,
              help="Iterations of the training attack (--option attack.steps=N; papers: 40).")
@click.option("--robust-eval", type=int, default=None,
              help="Log val_robust_accuracy under the training attack on the first N test images every epoch.")
@click.option("--jacobian-eval", type=int, default=None,
              help="Log label/other-logit Jacobian norms (Noack Fig. 4) on the first N test images every epoch.")
@click.option("--snapshot", type=int, default=None,
              help="Save OUT/snapshots/saliency_epochNNN.png (logit gradients of the first N test images) "
                   "and TensorBoard images in OUT/logs every epoch.")
@click.option("--strategy", type=click.Choice(list(STRATEGIES)), default=None,
              help="Spread training over devices (default: --config's, else none): mirrored = the local GPUs "
                   "(else the logical CPUs); multiworker = the workers of the TF_CONFIG cluster, each running "
                   "this command (the chief writes --out, which must be on a file system all workers see). "
                   "--batch-size is the global batch.")
@click.option("--tensorboard/--no-tensorboard", default=True,
              help="Write TensorBoard logs to OUT/logs: every epoch's scalars (losses, accuracies, "
                   "val_robust_accuracy, regularizer terms, Jacobian norms) and saliency images [default: on].")
@quiet_flag
@click.option("--overwrite", is_flag=True,
              help="Start over in an --out that holds a finished run or an unfinished run with other "
                   "settings (removes only the files a run writes).")
def train(config_path: str | None, dataset: str | None, arch: str | None, out_dir: str,
          method: str | None, data_dir: str | None, classes: str | None, bounds: str | None,
          epochs: int | None, batch_size: int | None, limit: int | None, seed: int | None,
          optimizer: str | None, lr: str | None, jit: bool | None, options: tuple[str, ...],
          norm: str | None, eps: str | None, steps: int | None, robust_eval: int | None,
          jacobian_eval: int | None, snapshot: int | None, strategy: str | None, tensorboard: bool, quiet: bool,
          overwrite: bool) -> None:
    """Train a classifier: standard, adversarial (PGD), ir (Interpretation
    Regularization with target maps) or jr (Jacobian Regularization).

    Writes OUT/model.keras, OUT/saved_model/, OUT/history.csv, OUT/config.yaml,
    OUT/metrics.json, OUT/report.html with OUT/curves.png, and TensorBoard
    logs in OUT/logs (`tensorboard --logdir OUT/logs`).

    Method options come from --config's method_options and `--option KEY=VALUE`
    (`tfrobust list methods`; nested keys with dots: `--option attack.step_size=0.1`,
    ir's target maps `--option targets=DIR` from `tfrobust saliency --split train`).

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
    if method is not None and method != config.method:
        config = replace(config, method_options={})  # options belong to the config's method
    config = _with(config, data=data_cfg, model=model_cfg, optimizer=opt_cfg, method=method,
                   epochs=epochs, batch_size=batch_size, seed=seed, jit_compile=jit, strategy=strategy)
    attack_flags = {k: v for k, v in dict(
        norm=norm, eps=None if eps is None else parse_number(eps, name="--eps"), steps=steps).items()
        if v is not None}
    config = _method_options(config, parse_options(options), attack_flags, robust_eval=robust_eval is not None)
    import_tensorflow_quietly()
    from tfrobust.reports import write_training_report
    from tfrobust.training import train as train_run
    from tfrobust.training.distribute import get_strategy, worker_dir

    distribute = get_strategy(config.strategy)  # multiworker: set up before the callbacks run TensorFlow ops
    # A multi-worker run's non-chief workers write (their snapshots too) into a temporary directory.
    with worker_dir(out_dir, distribute) as write_dir:
        callbacks = []
        if robust_eval is not None:
            callbacks.append(_robust_eval_callback(config, robust_eval))
        if jacobian_eval is not None:
            callbacks.append(_jacobian_eval_callback(config, jacobian_eval))
        if snapshot is not None:
            callbacks.append(_snapshot_callback(config, snapshot, write_dir, tensorboard))
        click.echo(
            f"training {config.model.arch} on {config.data.name} ({config.method}, "
            f"{config.epochs} epochs, batch {config.batch_size}, seed {config.seed}) -> {out_dir}"
        )
        verbose = keras_verbose(quiet)  # a progress bar on a terminal; one line per epoch in logs and pipes
        # The report is written before the run's backup is removed: an interrupted report is finished by a re-run.
        result = train_run(config, out_dir, verbose=verbose, callbacks=callbacks, overwrite=overwrite,
                           finalize=write_training_report, tensorboard=tensorboard)
    report = Path(out_dir) / "report.html"
    m = result.metrics
    click.echo(f"test accuracy  {m['test_accuracy']:.4f}  (loss {m['test_loss']:.4f}, "
               f"{m['test_examples']} test images)")
    if m.get("images_per_second"):
        click.echo(f"throughput     {m['images_per_second']:.0f} images/s")
    out = Path(out_dir)
    click.echo(f"model          {out / 'model.keras'}  (SavedModel: {out / 'saved_model'})")
    click.echo(f"report         {report}")


def _merge(base: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``given``; mappings under the same key are merged (one level, e.g. ``attack``)."""
    out = dict(base)
    for key, value in given.items():
        old = out.get(key)
        out[key] = {**old, **value} if isinstance(old, Mapping) and isinstance(value, Mapping) else value
    return out


def _method_options(config: TrainConfig, given: Mapping[str, Any], attack_flags: Mapping[str, Any], *,
                    robust_eval: bool) -> TrainConfig:
    """``--option`` values and the --norm/--eps/--steps shorthands folded into method_options, checked.

    Raises:
        ConfigError: an option the method does not have, or of the wrong type
            (one line naming --option, or method_options for the merged result).
        click.UsageError: a shorthand or --robust-eval for a method without a
            training attack, or an attack without its threat model.
    """
    from tfrobust.registry import METHODS

    entry = METHODS[config.method]
    given = parse_partial(entry, given, prefix="--option")  # required options may come from --config
    has_attack = any(option.name == "attack" for option in entry.options)
    if (attack_flags or robust_eval) and not has_attack:
        raise click.UsageError(f"--norm/--eps/--steps/--robust-eval set or measure the training attack; "
                               f"method {config.method!r} has none (--method adversarial has)")
    options = _merge(config.method_options, given)
    if has_attack:
        attack = options.get("attack") or {}
        if not isinstance(attack, Mapping):
            raise ConfigError(f"method_options.attack must be a mapping such as {{norm: l2, eps: 1.5}}, got {attack!r}")
        options["attack"] = {**attack, **attack_flags}
        missing = [k for k in ("norm", "eps") if k not in options["attack"]]
        if missing:
            raise click.UsageError(f"--method {config.method} needs the training attack's threat model: give "
                                   + " and ".join(f"--{k}" for k in missing))
    entry.parse(options, prefix="method_options")
    return replace(config, method_options=options)


def _jacobian_eval_callback(config: TrainConfig, n: int) -> Any:
    """jacobian_label_norm / jacobian_other_norm on the first n test images each epoch."""
    from tfrobust.training import load_data
    from tfrobust.training.callbacks import JacobianNorm

    if n <= 0:
        raise click.BadParameter(f"must be a positive number of images, got {n}", param_hint="--jacobian-eval")
    _, test_ds = load_data(replace(config, data=replace(config.data, limit=n)))
    return JacobianNorm(test_ds.x, test_ds.y)


def _snapshot_callback(config: TrainConfig, n: int, out: Path, tensorboard: bool = True) -> Any:
    """SaliencySnapshot of the first n test images: PNG per epoch and (unless off) TensorBoard images."""
    from tfrobust.training import load_data
    from tfrobust.training.callbacks import SaliencySnapshot

    if n <= 0:
        raise click.BadParameter(f"must be a positive number of images, got {n}", param_hint="--snapshot")
    _, test_ds = load_data(replace(config, data=replace(config.data, limit=n)))
    return SaliencySnapshot(test_ds.x, test_ds.y, out_dir=out / "snapshots",
                            log_dir=out / "logs" if tensorboard else None, max_images=n, bounds=test_ds.bounds,
                            class_names=test_ds.class_names)


def _robust_eval_callback(config: TrainConfig, n: int) -> Any:
    """val_robust_accuracy of the training attack (any registered attack) on the first n test images."""
    from tfrobust.attacks import Attack
    from tfrobust.training import RobustAccuracy, load_data
    from tfrobust.training.run import method_options

    if n <= 0:
        raise click.BadParameter(f"must be a positive number of images, got {n}", param_hint="--robust-eval")
    _, test_ds = load_data(replace(config, data=replace(config.data, limit=n)))
    attack = Attack.coerce(method_options(config, test_ds.bounds)["attack"], bounds=test_ds.bounds,
                           prefix="method_options.attack")
    return RobustAccuracy(test_ds.pipeline(min(n, 256)), attack, seed=config.seed)
