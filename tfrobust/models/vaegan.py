"""VAE-GAN of Kim, Seo & Jeon (2019), appendix A.3, for manifold projections.

Ref: Kim et al. 2019, sec. 2.1 (projection pi(x) = dec(enc(x)) and footnote 2,
pi(x) = dec(argmin_z ||x - dec(z)||_2)) and appendix A.3 (architectures and
optimisers); Larsen et al. 2016 (VAE-GAN losses); Miyato et al. 2018
(spectral normalisation).

Two architectures, picked by the image size: ``larsen`` for (28, 28, C)
images (MNIST, Fashion-MNIST) and ``miyato`` for (32, 32, C) images
(CIFAR-10). This module holds the model, :class:`VAEGAN`, its losses and
:func:`build_vaegan`; the hyper-parameters (:class:`VAEGANConfig`,
:func:`kim_vaegan_config`, and where the authors' code differs from A.3) are
in :mod:`tfrobust.models.vaegan_config`, the encoder, decoder and
discriminator builders in :mod:`tfrobust.models.vaegan_parts`; their public
names are importable from here too. Every part is a functional
``keras.Model`` of built-in layers and :class:`VAEGAN` is registered
(``tfrobust>VAEGAN``), so a trained VAE-GAN saves to ``.keras`` and loads
back in Keras safe mode.

Losses (Larsen et al. 2016 with Kim's l1 reconstruction, A.3):

* encoder: ``L1 + kl_weight * KL``;
* decoder: ``recon_weight * L1 + GAN``, GAN being the non-saturating loss of
  reconstructions dec(z), z ~ q(z|x), and samples dec(z_p), z_p ~ N(0, I);
* discriminator: real vs. both kinds of fakes.

L1 is the per-image sum of absolute differences and KL the per-image
Gaussian KL divergence, both averaged over the batch. Each of the three parts
has its own Adam optimiser; the discriminator takes ``disc_updates`` steps
(fresh latent draws, the same real batch) per encoder / decoder step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfrobust.config import parse_number
from tfrobust.models.vaegan_config import (
    ARCHITECTURES,
    KIM_RECON_WEIGHTS,
    PAPER_EPOCHS,
    VAEGANConfig,
    kim_vaegan_config,
)
from tfrobust.models.vaegan_parts import (
    check_image_shape,
    vaegan_decoder,
    vaegan_discriminator,
    vaegan_encoder,
)

__all__ = [
    "ARCHITECTURES",
    "KIM_RECON_WEIGHTS",
    "PAPER_EPOCHS",
    "VAEGAN",
    "VAEGANConfig",
    "build_vaegan",
    "kim_vaegan_config",
    "vaegan_decoder",
    "vaegan_discriminator",
    "vaegan_encoder",
]


# ----------------------------------------------------------------- losses
def _bce_logits(labels_value: float, logits: tf.Tensor) -> tf.Tensor:
    """Mean sigmoid cross-entropy of logits against a constant label."""
    labels = tf.fill(tf.shape(logits), tf.constant(labels_value, logits.dtype))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def _l1_per_image(x: tf.Tensor, x_hat: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.abs(tf.reshape(x - x_hat, [tf.shape(x)[0], -1])), axis=1)


def _l2_per_image(x: tf.Tensor, x_hat: tf.Tensor) -> tf.Tensor:
    return tf.norm(tf.reshape(x - x_hat, [tf.shape(x)[0], -1]), axis=1)


# ----------------------------------------------------------------- model
@keras.saving.register_keras_serializable(package="tfrobust")
class VAEGAN(keras.Model):
    """A VAE-GAN whose ``train_step`` runs Kim et al. 2019 A.3 training under ``fit``.

    Calling the model gives the projection of Kim sec. 2.1,
    ``pi(x) = dec(enc_mean(x))``; :meth:`project` adds footnote 2's
    optimisation variant. ``fit`` takes batches of images or ``(x, y)`` pairs
    (labels are ignored) in [-1, 1], the decoder's tanh range.

    Args:
        encoder: (N, H, W, C) -> [mean, log-variance], each (N, zdim).
        decoder: (N, zdim) -> (N, H, W, C).
        discriminator: (N, H, W, C) -> (N, 1) logits.
        learning_rate, beta_1, beta_2: the Adam optimisers :meth:`compile`
            creates when none are given.
        disc_updates: discriminator steps per encoder / decoder step.
        recon_weight: weight of the l1 term in the decoder loss.
        kl_weight: weight of the KL term in the encoder loss.
        seed: seed of the model's ``keras.random.SeedGenerator`` (latent draws).
        **kwargs: passed to ``keras.Model`` (e.g. ``name``).

    Example:
        >>> vaegan = build_vaegan((28, 28, 1), seed=0)
        >>> vaegan.compile()                      # three Adams with the A.3 values
        >>> vaegan.fit(train.pipeline(64, shuffle=True), epochs=60)
        >>> x_proj = vaegan.project(x)            # dec(enc(x))
        >>> x_opt = vaegan.project(x, optimize_steps=100)   # footnote 2
    """

    METRIC_NAMES = ("recon_l1", "kl", "enc_loss", "dec_loss", "disc_loss", "d_real", "d_fake")

    def __init__(self, encoder: keras.Model, decoder: keras.Model, discriminator: keras.Model, *,
                 learning_rate: float = 5e-4, beta_1: float = 0.5, beta_2: float = 0.999,
                 disc_updates: int = 1, recon_weight: float = 1.0, kl_weight: float = 1.0,
                 seed: int | None = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.discriminator = discriminator
        self.learning_rate = float(learning_rate)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        if isinstance(disc_updates, bool) or not isinstance(disc_updates, (int, np.integer)) or disc_updates < 1:
            raise ValueError(f"disc_updates must be a positive integer, got {disc_updates!r}")
        self.disc_updates = int(disc_updates)
        self.recon_weight = float(recon_weight)
        self.kl_weight = float(kl_weight)
        self.seed = seed
        self.zdim = int(decoder.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.METRIC_NAMES}
        self.enc_optimizer: keras.optimizers.Optimizer | None = None
        self.dec_optimizer: keras.optimizers.Optimizer | None = None
        self.disc_optimizer: keras.optimizers.Optimizer | None = None
        self._latent_fns: dict[float, Any] = {}
        self.built = True

    # ------------------------------------------------------------ keras API
    def call(self, inputs: Any, training: bool = False) -> tf.Tensor:
        """pi(x) = dec(enc_mean(x)) (Kim sec. 2.1): (N, H, W, C) -> (N, H, W, C)."""
        mean, _ = self.encoder(inputs, training=training)
        return self.decoder(mean, training=training)

    def compile(self, enc_optimizer: Any = None, dec_optimizer: Any = None,
                disc_optimizer: Any = None, **kwargs: Any) -> None:
        """Sets the three optimisers; a missing one is Adam with the model's A.3 values.

        Args:
            enc_optimizer, dec_optimizer, disc_optimizer: Keras optimisers or None.
            **kwargs: passed to ``keras.Model.compile`` (e.g. ``jit_compile``,
                ``run_eagerly``); ``optimizer`` and ``loss`` are not taken.
        """
        if "optimizer" in kwargs or "loss" in kwargs:
            raise ValueError("VAEGAN.compile takes enc_optimizer, dec_optimizer and disc_optimizer, "
                             "not optimizer / loss")
        self.enc_optimizer = enc_optimizer or self._adam("enc_adam")
        self.dec_optimizer = dec_optimizer or self._adam("dec_adam")
        self.disc_optimizer = disc_optimizer or self._adam("disc_adam")
        super().compile(optimizer=self.dec_optimizer, **kwargs)

    def _adam(self, name: str) -> keras.optimizers.Optimizer:
        return keras.optimizers.Adam(learning_rate=self.learning_rate, beta_1=self.beta_1,
                                     beta_2=self.beta_2, name=name)

    @property
    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        """The compiled optimisers by part (empty before :meth:`compile`)."""
        pairs = (("encoder", self.enc_optimizer), ("decoder", self.dec_optimizer),
                 ("discriminator", self.disc_optimizer))
        return {name: opt for name, opt in pairs if opt is not None}

    def build_optimizers(self) -> None:
        """Creates the optimisers' slot variables (e.g. before restoring them)."""
        for part, opt in self.optimizers.items():
            if not opt.built:
                opt.build(self._part(part).trainable_variables)

    def _part(self, name: str) -> keras.Model:
        return {"encoder": self.encoder, "decoder": self.decoder, "discriminator": self.discriminator}[name]

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    def _latent_noise(self, batch: tf.Tensor) -> tf.Tensor:
        return keras.random.normal((batch, self.zdim), seed=self.seed_generator)

    def _reconstruct(self, x: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Reparametrised reconstruction: (x_tilde, mean, logvar)."""
        mean, logvar = self.encoder(x, training=training)
        z = mean + tf.exp(0.5 * logvar) * self._latent_noise(tf.shape(x)[0])
        return self.decoder(z, training=training), mean, logvar

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        """One encoder / decoder step after ``disc_updates`` discriminator steps (Kim A.3)."""
        if self.enc_optimizer is None or self.dec_optimizer is None or self.disc_optimizer is None:
            raise ValueError("compile the VAEGAN before fit")
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = tf.convert_to_tensor(x, tf.float32)
        batch = tf.shape(x)[0]

        disc_vars = self.discriminator.trainable_variables
        for _ in range(self.disc_updates):
            x_tilde, _, _ = self._reconstruct(x, training=True)
            x_p = self.decoder(self._latent_noise(batch), training=True)
            with tf.GradientTape() as disc_tape:
                d_real = self.discriminator(x, training=True)
                d_tilde = self.discriminator(x_tilde, training=True)
                d_p = self.discriminator(x_p, training=True)
                disc_loss = _bce_logits(1.0, d_real) + _bce_logits(0.0, d_tilde) + _bce_logits(0.0, d_p)
            self.disc_optimizer.apply_gradients(zip(disc_tape.gradient(disc_loss, disc_vars), disc_vars))

        enc_vars = self.encoder.trainable_variables
        dec_vars = self.decoder.trainable_variables
        with tf.GradientTape(persistent=True) as vae_tape:
            x_tilde, mean, logvar = self._reconstruct(x, training=True)
            x_p = self.decoder(self._latent_noise(batch), training=True)
            d_tilde = self.discriminator(x_tilde, training=True)
            d_p = self.discriminator(x_p, training=True)
            recon = tf.reduce_mean(_l1_per_image(x, x_tilde))
            kl = tf.reduce_mean(-0.5 * tf.reduce_sum(1.0 + logvar - tf.square(mean) - tf.exp(logvar), axis=1))
            enc_loss = recon + self.kl_weight * kl
            dec_loss = self.recon_weight * recon + _bce_logits(1.0, d_tilde) + _bce_logits(1.0, d_p)
        enc_grads = vae_tape.gradient(enc_loss, enc_vars)
        dec_grads = vae_tape.gradient(dec_loss, dec_vars)
        del vae_tape
        self.enc_optimizer.apply_gradients(zip(enc_grads, enc_vars))
        self.dec_optimizer.apply_gradients(zip(dec_grads, dec_vars))

        values = {"recon_l1": recon, "kl": kl, "enc_loss": enc_loss, "dec_loss": dec_loss,
                  "disc_loss": disc_loss, "d_real": tf.reduce_mean(tf.sigmoid(d_real)),
                  "d_fake": tf.reduce_mean(tf.sigmoid(d_p))}
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def test_step(self, data: Any) -> dict[str, tf.Tensor]:
        """l1 reconstruction error of pi(x) = dec(enc_mean(x)) and KL, in inference mode."""
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = tf.convert_to_tensor(x, tf.float32)
        mean, logvar = self.encoder(x, training=False)
        recon = tf.reduce_mean(_l1_per_image(x, self.decoder(mean, training=False)))
        kl = tf.reduce_mean(-0.5 * tf.reduce_sum(1.0 + logvar - tf.square(mean) - tf.exp(logvar), axis=1))
        self.trackers["recon_l1"].update_state(recon)
        self.trackers["kl"].update_state(kl)
        return {"recon_l1": self.trackers["recon_l1"].result(), "kl": self.trackers["kl"].result()}

    # ----------------------------------------------------------- projection
    def encode(self, x: Any) -> tf.Tensor:
        """Mean of q(z|x): (N, H, W, C) -> (N, zdim), inference mode."""
        mean, _ = self.encoder(x, training=False)
        return mean

    def _latent_step_fn(self, learning_rate: float) -> Callable[..., Any]:
        fn = self._latent_fns.get(learning_rate)
        if fn is not None:
            return fn
        beta_1, beta_2, epsilon = 0.9, 0.999, 1e-8

        def step(z: tf.Tensor, m: tf.Tensor, v: tf.Tensor, t: tf.Tensor, x: tf.Tensor) -> Any:
            with tf.GradientTape() as latent_tape:
                latent_tape.watch(z)
                errors = _l2_per_image(x, self.decoder(z, training=False))
                total = tf.reduce_sum(errors)
            grad = latent_tape.gradient(total, z)
            m = beta_1 * m + (1.0 - beta_1) * grad
            v = beta_2 * v + (1.0 - beta_2) * tf.square(grad)
            m_hat = m / (1.0 - tf.pow(beta_1, t))
            v_hat = v / (1.0 - tf.pow(beta_2, t))
            return z - learning_rate * m_hat / (tf.sqrt(v_hat) + epsilon), m, v, errors

        fn = self._latent_fns[learning_rate] = tf.function(step, reduce_retracing=True)
        return fn

    def project(self, x: Any, *, optimize_steps: int = 0, learning_rate: float = 0.01,
                batch_size: int = 256, sample: bool = False, seed: int = 0) -> np.ndarray:
        """Projection onto the approximated image manifold (Kim et al. 2019 sec. 2.1).

        With ``optimize_steps=0``: ``pi(x) = dec(enc_mean(x))``. With
        ``optimize_steps=K > 0`` (footnote 2): ``pi(x) = dec(z*)`` with ``z*``
        found by K Adam steps on ``||x - dec(z)||_2`` (one latent per image)
        starting from ``enc_mean(x)``; the best latent seen per image is kept,
        so the distance is never larger than the encoder projection's. With
        ``sample=True``: ``dec(mean + sigma * e)``, ``e ~ N(0, I)`` drawn from
        ``seed`` (per batch ``seed + first index``), the reconstruction the
        authors' code measures (``vae_gans.py``, ``reconstruct``).

        Args:
            x: (N, H, W, C) float32 images in [-1, 1].
            optimize_steps: latent optimisation steps K (0: encoder projection).
            learning_rate: Adam step size in latent units.
            batch_size: images per batch.
            sample: decode a latent drawn from q(z|x) instead of its mean
                (not with ``optimize_steps``).
            seed: seed of the latent draws (``sample=True``).

        Returns:
            (N, H, W, C) float32 projections.
        """
        if isinstance(optimize_steps, bool) or not isinstance(optimize_steps, (int, np.integer)) \
                or optimize_steps < 0:
            raise ValueError(f"optimize_steps must be an integer >= 0, got {optimize_steps!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        lr = parse_number(learning_rate, name="learning_rate")
        if not lr > 0 or not math.isfinite(lr):
            raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
        if sample and optimize_steps:
            raise ValueError("sample and optimize_steps are two different projections; give one")
        x = np.asarray(x, np.float32)
        out = []
        for start in range(0, len(x), int(batch_size)):
            xb = tf.constant(x[start:start + int(batch_size)])
            z, logvar = self.encoder(xb, training=False)
            if sample:
                z = z + tf.exp(0.5 * logvar) * tf.random.stateless_normal(tf.shape(z), [int(seed), start])
            if optimize_steps:
                z = self._optimize_latent(xb, z, int(optimize_steps), lr)
            out.append(np.asarray(self.decoder(z, training=False)))
        if not out:
            return np.zeros_like(x)
        return np.concatenate(out, axis=0)

    def _optimize_latent(self, x: tf.Tensor, z: tf.Tensor, steps: int, learning_rate: float) -> tf.Tensor:
        step = self._latent_step_fn(learning_rate)
        m = tf.zeros_like(z)
        v = tf.zeros_like(z)
        best_z = z
        best = None
        for t in range(1, steps + 2):
            # errors are those of the z entering the step; the last pass only scores.
            new_z, m, v, errors = step(z, m, v, tf.constant(float(t)), x)
            if best is None:
                best = errors
            else:
                better = errors < best
                best_z = tf.where(better[:, None], z, best_z)
                best = tf.minimum(errors, best)
            z = new_z
        return best_z

    # --------------------------------------------------------- serialization
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "learning_rate": self.learning_rate, "beta_1": self.beta_1, "beta_2": self.beta_2,
            "disc_updates": self.disc_updates, "recon_weight": self.recon_weight,
            "kl_weight": self.kl_weight, "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> VAEGAN:
        config = dict(config)
        parts = {name: keras.saving.deserialize_keras_object(config.pop(name), custom_objects=custom_objects)
                 for name in ("encoder", "decoder", "discriminator")}
        return cls(parts["encoder"], parts["decoder"], parts["discriminator"], **config)


def build_vaegan(image_shape: tuple[int, ...], config: VAEGANConfig | None = None, *,
                 seed: int = 0) -> VAEGAN:
    """An untrained VAE-GAN for ``image_shape`` (Kim et al. 2019 A.3).

    Args:
        image_shape: (28, 28, C) or (32, 32, C).
        config: hyper-parameters; default :func:`kim_vaegan_config` of the shape.
        seed: seeds the weight initialisation and the model's latent draws.

    Returns:
        An uncompiled :class:`VAEGAN` named ``vaegan``.

    Raises:
        ValueError: an image shape that the architecture does not take.
    """
    config = config if config is not None else kim_vaegan_config(image_shape)
    shape = check_image_shape(image_shape, config.architecture)
    keras.utils.set_random_seed(seed)
    return VAEGAN(
        vaegan_encoder(shape, config.zdim, kernel=config.encoder_kernel),
        vaegan_decoder(shape, config.zdim, architecture=config.architecture),
        vaegan_discriminator(shape, architecture=config.architecture, leaky_slope=config.leaky_slope),
        learning_rate=config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2,
        disc_updates=config.disc_updates, recon_weight=config.recon_weight, kl_weight=config.kl_weight,
        seed=seed, name="vaegan",
    )
