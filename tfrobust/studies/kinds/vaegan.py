"""Kim et al. 2019 VAE-GAN training (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError
from tfrobust.registry import register
from tfrobust.studies.kinds.common import (
    check_known,
    int_param,
    plain,
)

__all__ = ["vaegan_kind"]



VAEGAN_PARAMS = ("data", "config", "epochs", "batch_size", "seed", "vaegan")
_VAEGAN_DATA = ("name", "bounds", "limit", "data_dir", "classes")


@register("kinds", "vaegan")
def vaegan_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Trains Kim's VAE-GAN (Kim et al. 2019 A.3) on a dataset's training split, for ``manifold`` cells.

    Params: ``data`` (mapping: ``name``, ``bounds`` (default Kim's [-1, 1]),
    ``limit``, ``data_dir``, ``classes``), ``config`` (path of a VAE-GAN YAML
    such as ``configs/kim_vaegan_fmnist.yaml``; absent: the paper's values for
    the image size), ``epochs`` (default the config's, else Kim A.3: 30
    MNIST / 60 FMNIST / 150 CIFAR-10), ``batch_size`` (config's, else 64),
    ``seed`` (config's, else 0), ``vaegan`` (mapping of hyper-parameter
    overrides, e.g. ``{zdim: 4}``). Params override the config file.

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
    check_known("vaegan", params, VAEGAN_PARAMS)
    data = params.get("data") or {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"vaegan.data must be a mapping (name, bounds, limit, data_dir, classes), got {data!r}")
    check_known("vaegan.data", data, _VAEGAN_DATA)
    overrides = params.get("vaegan") or {}
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"vaegan.vaegan must be a mapping of VAE-GAN hyper-parameters, got {overrides!r}")
    counts: dict[str, Any] = {name: int_param("vaegan", params, name, None, 0 if name == "seed" else 1)
                              for name in ("epochs", "batch_size", "seed")}
    config = params.get("config")
    if config is not None and (not isinstance(config, str) or not Path(config).is_file()):
        raise ConfigError(f"vaegan.config: no VAE-GAN config file at {config!r}")

    from tfrobust.evaluation.manifold import read_vaegan_config, train_vaegan, vaegan_settings

    values = read_vaegan_config(config)
    values["data"] = {**dict(values.get("data") or {}), **dict(data)}
    values["vaegan"] = {**dict(values.get("vaegan") or {}), **dict(overrides)}
    try:
        settings = vaegan_settings(values, **counts)
        from tfrobust.models.vaegan import VAEGANConfig

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
