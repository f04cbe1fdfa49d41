"""The three networks of the VAE-GAN of Kim, Seo & Jeon (2019), appendix A.3.

Ref: Kim et al. 2019, appendix A.3 (architectures); Larsen et al. 2016;
Miyato et al. 2018 (spectral normalisation).

Two architectures, picked by the image size (:data:`ARCHITECTURES`):

* ``larsen`` for (28, 28, C) images (MNIST, Fashion-MNIST; A.3 "MNIST /
  FMNIST", the decoder and discriminator of Larsen et al.);
* ``miyato`` for (32, 32, C) images (CIFAR-10; A.3 "CIFAR-10", the decoder of
  Miyato et al. and a spectrally normalised discriminator with leaky ReLU 0.1).

Both share the A.3 encoder. Every part is a functional ``keras.Model`` made of
built-in layers (``keras.layers.SpectralNormalization`` included), so it
saves and loads in Keras safe mode.

Rows the A.3 tables leave out (the reshape after the decoder's first Dense
layer, the paddings) follow the authors' released code
(github.com/1202kbs/Robustness-and-Interpretability, ``vae_gans.py``): the
(F)MNIST decoder reshapes its 1024 units to 2x2x256 and grows 2 -> 4 -> 7
(4x4 stride-1 "valid" transposed convolution) -> 14 -> 28; the CIFAR decoder
reshapes 8192 units to 4x4x512. The discriminators end in a Dense(1) logit:
A.3's sigmoid is folded into the (numerically stable) cross-entropy.
"""

from __future__ import annotations

import keras

from tfrobust.models.vaegan_config import ARCHITECTURES

__all__ = [
    "check_image_shape",
    "vaegan_decoder",
    "vaegan_discriminator",
    "vaegan_encoder",
]


def check_image_shape(image_shape: tuple[int, ...], architecture: str) -> tuple[int, int, int]:
    """Validates the image shape of a VAE-GAN architecture.

    Args:
        image_shape: (H, W, C) channels-last images.
        architecture: a key of :data:`ARCHITECTURES`, which gives its (H, W).

    Returns:
        (H, W, C) as Python ints.

    Raises:
        ValueError: an unknown ``architecture``, or a shape that is not
            (H, W, C) with that (H, W) and C >= 1.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {architecture!r}")
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or shape[:2] != ARCHITECTURES[architecture] or shape[2] < 1:
        h, w = ARCHITECTURES[architecture]
        raise ValueError(f"the {architecture} VAE-GAN takes ({h}, {w}, C) images, got {shape}")
    return shape[0], shape[1], shape[2]


def vaegan_encoder(image_shape: tuple[int, ...], zdim: int, *, kernel: int = 4) -> keras.Model:
    """The common A.3 encoder: image -> (mean, log-variance) of q(z|x).

    ====  ===============================  ==================
    #     layer                            output (28x28 / 32x32)
    ====  ===============================  ==================
    1     Conv 2D (4x4, 2, 64) BN ReLU     14x14 / 16x16
    2     Conv 2D (4x4, 2, 128) BN ReLU    7x7 / 8x8
    3     Conv 2D (4x4, 2, 256) BN ReLU    4x4 / 4x4
    4     Dense (zdim * 2) BN              split: mean, log-variance
    ====  ===============================  ==================

    Args:
        image_shape: (H, W, C) channels-last images in the data's bounds.
        zdim: latent dimension.
        kernel: the convolutions' kernel size (the authors' CIFAR-10 code: 5).

    Returns:
        ``keras.Model`` named ``encoder``: (N, H, W, C) -> [(N, zdim), (N, zdim)].
    """
    inputs = keras.Input(shape=tuple(image_shape), name="images")
    h = inputs
    for i, filters in enumerate((64, 128, 256), start=1):
        h = keras.layers.Conv2D(filters, kernel, strides=2, padding="same", name=f"conv{i}")(h)
        h = keras.layers.BatchNormalization(name=f"bn{i}")(h)
        h = keras.layers.ReLU(name=f"relu{i}")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(2 * zdim, name="dense4")(h)
    h = keras.layers.BatchNormalization(name="bn4")(h)
    return keras.Model(inputs, [h[:, :zdim], h[:, zdim:]], name="encoder")


def _larsen_decoder(zdim: int, channels: int) -> keras.Model:
    z = keras.Input(shape=(zdim,), name="latent")
    h = keras.layers.Dense(1024, name="dense1")(z)
    h = keras.layers.BatchNormalization(name="bn1")(h)
    h = keras.layers.ReLU(name="relu1")(h)
    h = keras.layers.Reshape((2, 2, 256), name="reshape")(h)
    for i, (filters, stride, padding) in enumerate(((256, 2, "same"), (128, 1, "valid"), (32, 2, "same")), start=2):
        h = keras.layers.Conv2DTranspose(filters, 4, strides=stride, padding=padding, name=f"deconv{i}")(h)
        h = keras.layers.BatchNormalization(name=f"bn{i}")(h)
        h = keras.layers.ReLU(name=f"relu{i}")(h)
    out = keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh",
                                       name="deconv5")(h)
    return keras.Model(z, out, name="decoder")


def _miyato_decoder(zdim: int, channels: int) -> keras.Model:
    z = keras.Input(shape=(zdim,), name="latent")
    h = keras.layers.Dense(8192, name="dense1")(z)
    h = keras.layers.Reshape((4, 4, 512), name="reshape")(h)
    for i, filters in enumerate((256, 128, 64), start=2):
        h = keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", name=f"deconv{i}")(h)
        h = keras.layers.BatchNormalization(name=f"bn{i}")(h)
        h = keras.layers.ReLU(name=f"relu{i}")(h)
    out = keras.layers.Conv2D(channels, 3, strides=1, padding="same", activation="tanh", name="conv5")(h)
    return keras.Model(z, out, name="decoder")


def vaegan_decoder(image_shape: tuple[int, ...], zdim: int, *, architecture: str = "larsen") -> keras.Model:
    """The A.3 decoder: latent -> image in [-1, 1] (tanh).

    ``larsen`` (28x28): Dense(1024) BN ReLU, reshape 2x2x256, Deconv 2D
    (4x4, 2, 256) BN ReLU [4x4], (4x4, 1, 128, valid) BN ReLU [7x7],
    (4x4, 2, 32) BN ReLU [14x14], (4x4, 2, C) TanH [28x28].

    ``miyato`` (32x32): Dense(8192), reshape 4x4x512, Deconv 2D (4x4, 2, 256),
    (4x4, 2, 128), (4x4, 2, 64) each BN ReLU [8, 16, 32], Conv 2D (3x3, 1, C) TanH.

    Args:
        image_shape: (H, W, C) of the images to generate.
        zdim: latent dimension.
        architecture: ``"larsen"`` or ``"miyato"``.

    Returns:
        ``keras.Model`` named ``decoder``: (N, zdim) -> (N, H, W, C) in [-1, 1].
    """
    _, _, channels = check_image_shape(image_shape, architecture)
    return (_larsen_decoder if architecture == "larsen" else _miyato_decoder)(int(zdim), channels)


def vaegan_discriminator(image_shape: tuple[int, ...], *, architecture: str = "larsen",
                         leaky_slope: float = 0.1) -> keras.Model:
    """The A.3 discriminator: image -> real/fake logit.

    ``larsen``: Conv 2D (4x4, 2, 32) ReLU, (4x4, 2, 128), (4x4, 2, 256),
    (4x4, 2, 256) each BN ReLU, Dense(512) BN ReLU, Dense(1).

    ``miyato``: Conv 2D (3x3, 1, 64), (4x4, 2, 64), (3x3, 1, 128),
    (4x4, 2, 128), (3x3, 1, 256), (4x4, 2, 256), (3x3, 1, 512), each
    spectrally normalised (``keras.layers.SpectralNormalization``, one power
    iteration) with leaky ReLU ``leaky_slope``, then Dense(1).

    The sigmoid of A.3's last row is applied by the loss (logits out).

    Args:
        image_shape: (H, W, C) images.
        architecture: ``"larsen"`` or ``"miyato"``.
        leaky_slope: negative slope of the ``miyato`` leaky ReLUs (A.3: 0.1).

    Returns:
        ``keras.Model`` named ``discriminator``: (N, H, W, C) -> (N, 1) logits.
    """
    shape = check_image_shape(image_shape, architecture)
    inputs = keras.Input(shape=shape, name="images")
    h = inputs
    if architecture == "larsen":
        for i, filters in enumerate((32, 128, 256, 256), start=1):
            h = keras.layers.Conv2D(filters, 4, strides=2, padding="same", name=f"conv{i}")(h)
            if i > 1:
                h = keras.layers.BatchNormalization(name=f"bn{i}")(h)
            h = keras.layers.ReLU(name=f"relu{i}")(h)
        h = keras.layers.Flatten(name="flatten")(h)
        h = keras.layers.Dense(512, name="dense5")(h)
        h = keras.layers.BatchNormalization(name="bn5")(h)
        h = keras.layers.ReLU(name="relu5")(h)
    else:
        specs = ((3, 1, 64), (4, 2, 64), (3, 1, 128), (4, 2, 128), (3, 1, 256), (4, 2, 256), (3, 1, 512))
        for i, (kernel, stride, filters) in enumerate(specs, start=1):
            conv = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", name=f"conv{i}")
            h = keras.layers.SpectralNormalization(conv, name=f"sn_conv{i}")(h)
            h = keras.layers.LeakyReLU(negative_slope=leaky_slope, name=f"lrelu{i}")(h)
        h = keras.layers.Flatten(name="flatten")(h)
    logits = keras.layers.Dense(1, name="logit")(h)
    return keras.Model(inputs, logits, name="discriminator")
