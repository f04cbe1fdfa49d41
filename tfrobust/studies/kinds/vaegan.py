"""Kim et al. 2019 VAE-GAN training (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError, check_int
from tfrobust.registry import register
from tfrobust.studies.kinds.common import check_known, plain

__all__ = ["VAEGAN_DATA_KEYS", "check_params", "vaegan_kind"]

#: The keys of the vaegan kind's ``data`` param.
VAEGAN_DATA_KEYS = ("name", "bounds", "limit", "data_dir", "classes")


def check_params(params: Mapping[str, Any]) -> None:
    """What the vaegan kind refuses before reading anything but its params (one line naming
    ``vaegan.<param>``); the config file and the hyper-parameters are checked when the cell runs."""
    check_known("vaegan.data", params.get("data") or {}, VAEGAN_DATA_KEYS)
    for name, minimum in (("epochs", 1), ("batch_size", 1), ("seed", 0)):
        check_int(params.get(name), name=f"vaegan.{name}", minimum=minimum, allow_none=True)


@register("kinds", "vaegan")
def vaegan_kind(
    deps: Mapping[str, Path],
    out_dir: Path,
    *,
    data: Mapping[str, Any] | None = None,
    config: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    vaegan: Mapping[str, Any] | None = None,
) -> Mapping[str, Any]:
    """Trains Kim's VAE-GAN (Kim et al. 2019 A.3) on a dataset's training split, for ``manifold`` cells.

    Params: ``data`` (mapping: ``name``, ``bounds`` (default Kim's [-1, 1]),
    ``limit``, ``data_dir``, ``classes``), ``config`` (path of a VAE-GAN YAML
    such as ``configs/kim_vaegan_fmnist.yaml``; None: the paper's values for
    the image size), ``epochs`` (None: the config's, else Kim A.3: 30
    MNIST / 60 FMNIST / 150 CIFAR-10), ``batch_size`` (None: the config's,
    else 64), ``seed`` (None: the config's, else 0), ``vaegan`` (mapping of
    hyper-parameter overrides, e.g. ``{zdim: 4}``). Params override the
    config file. No dependencies.

    Writes what ``tfrobust manifold train`` writes
    (:func:`tfrobust.evaluation.manifold.train_vaegan`): ``vaegan.keras``,
    ``config.yaml``, ``history.csv``, ``reconstructions.png``,
    ``metrics.json`` and ``checkpoint/``; a killed cell resumes after its last
    finished epoch.

    Returns:
        The last epoch's losses (``recon_l1``, ``kl``, ``enc_loss``,
        ``dec_loss``, ``disc_loss``, ``d_real``, ``d_fake``, ``seconds``),
        ``epochs``, ``test_d_pi_mean`` and ``test_d_pi_median`` (first <= 1000 test images).
    """
    counts: dict[str, Any] = {"epochs": epochs, "batch_size": batch_size, "seed": seed}
    check_params({"data": data, **counts})
    if config is not None and not Path(config).is_file():
        raise ConfigError(f"vaegan.config: no VAE-GAN config file at {config!r}")

    from tfrobust.evaluation.manifold import read_vaegan_config, train_vaegan, vaegan_settings
    from tfrobust.models.vaegan import VAEGANConfig

    values = read_vaegan_config(config)
    values["data"] = {**dict(values.get("data") or {}), **dict(data or {})}
    values["vaegan"] = {**dict(values.get("vaegan") or {}), **dict(vaegan or {})}
    try:
        settings = vaegan_settings(values, **counts)
        VAEGANConfig.from_dict({**VAEGANConfig().to_dict(), **settings["vaegan"]})  # names a bad field now
    except ValueError as err:
        raise ConfigError(f"vaegan: {' '.join(str(err).split())}") from None
    result = train_vaegan(out_dir=out_dir, **settings, verbose=2)
    metrics: dict[str, Any] = {k: plain(v) for k, v in result["last_epoch"].items() if k != "epoch"}
    metrics["epochs"] = int(result["epochs"])
    for key in ("test_d_pi_mean", "test_d_pi_median"):
        if key in result["metrics"]:
            metrics[key] = plain(result["metrics"][key])
    return metrics
