"""Settings of the VAE-GAN of Kim, Seo & Jeon (2019), appendix A.3.

:class:`VAEGANConfig` holds the hyper-parameters (a YAML ``vaegan:`` section)
and :func:`kim_vaegan_config` gives the paper's for an image shape. The
authors' code (github.com/1202kbs/Robustness-and-Interpretability) differs
from A.3 in three values, available as options: the reconstruction weight
(not in A.3; the notebooks pass 5e-3 MNIST, 5e-4 FMNIST, 1e-2 CIFAR-10:
:data:`KIM_RECON_WEIGHTS`), Adam's beta_2 for (F)MNIST (A.3: 0.999;
``MNIST_VAE_GAN`` default 0.9) and the CIFAR-10 encoder's kernel (A.3: 4x4
for all; ``CIFAR_VAE_GAN``: 5x5, ``encoder_kernel``).

The networks are in :mod:`tfrobust.models.vaegan_parts`, the model in
:mod:`tfrobust.models.vaegan`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tfrobust.config import ConfigError, parse_number

__all__ = [
    "ARCHITECTURES",
    "KIM_RECON_WEIGHTS",
    "PAPER_EPOCHS",
    "VAEGANConfig",
    "kim_vaegan_config",
]

#: architecture name -> the (H, W) it is built for.
ARCHITECTURES: dict[str, tuple[int, int]] = {"larsen": (28, 28), "miyato": (32, 32)}

#: Kim et al. 2019 A.3: training epochs per dataset.
PAPER_EPOCHS: dict[str, int] = {"mnist": 30, "fashion_mnist": 60, "cifar10": 150}

#: Decoder reconstruction weight per dataset in the authors' notebooks (``lmda``:
#: ``1.1 MNIST``, ``2.1 FMNIST``, ``3.1 CIFAR-10 VAE-GAN Training.ipynb``); A.3 gives none.
KIM_RECON_WEIGHTS: dict[str, float] = {"mnist": 5e-3, "fashion_mnist": 5e-4, "cifar10": 1e-2}


@dataclass(frozen=True)
class VAEGANConfig:
    """Hyper-parameters of a VAE-GAN (defaults: Kim et al. 2019 A.3, MNIST / FMNIST).

    Attributes:
        architecture: ``"larsen"`` (28x28 images) or ``"miyato"`` (32x32).
        zdim: latent dimension (A.3: 10 for (F)MNIST, 128 for CIFAR-10).
        learning_rate, beta_1, beta_2: Adam for all three parts (A.3:
            5e-4 / 0.5 / 0.999 for (F)MNIST, 2e-4 / 0 / 0.9 for CIFAR-10).
        disc_updates: discriminator steps per encoder / decoder step (A.3: 1
            for (F)MNIST, 5 for CIFAR-10).
        recon_weight: weight of the l1 reconstruction in the decoder loss
            (Larsen's gamma; the encoder's weighs 1). Not stated in the paper;
            the authors' notebooks use :data:`KIM_RECON_WEIGHTS` (5e-3 MNIST,
            5e-4 FMNIST, 1e-2 CIFAR-10).
        kl_weight: weight of the KL term in the encoder loss (1: a plain VAE).
        leaky_slope: slope of the leaky ReLUs of the ``miyato`` discriminator
            (A.3: 0.1).
        encoder_kernel: kernel size of the encoder's convolutions (A.3: 4;
            the authors' CIFAR-10 encoder: 5).
    """

    architecture: str = "larsen"
    zdim: int = 10
    learning_rate: float = 5e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    disc_updates: int = 1
    recon_weight: float = 1.0
    kl_weight: float = 1.0
    leaky_slope: float = 0.1
    encoder_kernel: int = 4

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"vaegan.architecture must be one of {', '.join(ARCHITECTURES)}, "
                              f"got {self.architecture!r}")
        for name in ("zdim", "disc_updates", "encoder_kernel"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"vaegan.{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name in ("learning_rate", "beta_1", "beta_2", "recon_weight", "kl_weight", "leaky_slope"):
            value = parse_number(getattr(self, name), name=f"vaegan.{name}")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"vaegan.{name} must be a finite number >= 0, got {value}")
            object.__setattr__(self, name, value)
        if self.learning_rate <= 0:
            raise ConfigError(f"vaegan.learning_rate must be > 0, got {self.learning_rate}")
        if self.beta_1 >= 1 or self.beta_2 >= 1 or self.leaky_slope >= 1:
            raise ConfigError("vaegan.beta_1, beta_2 and leaky_slope must be < 1")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> VAEGANConfig:
        """Builds a config from a mapping (a YAML ``vaegan:`` section); unknown keys are errors."""
        values = dict(values or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"vaegan: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for YAML and ``get_config``)."""
        return asdict(self)


def kim_vaegan_config(image_shape: tuple[int, ...], dataset: str | None = None) -> VAEGANConfig:
    """The paper's hyper-parameters for an image shape (Kim et al. 2019 A.3).

    The reconstruction weight, which A.3 does not give, is the authors' for
    ``dataset`` (:data:`KIM_RECON_WEIGHTS`; by image size when ``dataset`` is
    None or another one: FMNIST's 5e-4 for 28x28, CIFAR-10's 1e-2 for 32x32).

    Args:
        image_shape: (H, W, C); 28x28 gives the (F)MNIST setting, 32x32 CIFAR-10's.
        dataset: registry name of the training data, for the reconstruction weight.

    Raises:
        ValueError: another image size.
    """
    hw = tuple(image_shape[:2])
    if len(image_shape) != 3 or hw not in ARCHITECTURES.values():
        raise ValueError(f"the VAE-GAN takes 28x28 or 32x32 images (H, W, C), got {tuple(image_shape)}")
    small = hw == ARCHITECTURES["larsen"]
    weight = KIM_RECON_WEIGHTS.get(dataset or "", KIM_RECON_WEIGHTS["fashion_mnist" if small else "cifar10"])
    if small:
        return VAEGANConfig(recon_weight=weight)
    return VAEGANConfig(architecture="miyato", zdim=128, learning_rate=2e-4, beta_1=0.0, beta_2=0.9,
                        disc_updates=5, recon_weight=weight)
