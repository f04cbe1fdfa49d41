"""TRADES as a RobustModel: cross-entropy plus beta times the KL to a nearby worst case.

Ref: Zhang, Yu, Jiao, Xing, El Ghaoui, Jordan 2019, "Theoretically Principled
Trade-off between Robustness and Accuracy", eq. 5 and Algorithm 1. The loss
of a batch is

    mean_i CE(f(x_i), y_i) + beta * mean_i KL(p(x_i) || p(x'_i)),

``p = softmax(f)``, where ``x'`` approximately maximises the KL inside the
eps-ball around ``x`` (and the data's bounds): :func:`maximize_kl`, a PGD
ascent on ``sum_i KL(p(x_i) || p(x'_i))`` with ``p(x)`` held fixed, started
at ``x + 0.001 * N(0, 1)`` (at ``x'' = x`` the KL and its gradient vanish).
As in the authors' code (yaodongyu/TRADES, ``trades.py``,
``trades_loss``): the inner loop runs the model in inference mode, takes
``steps`` steps of ``step_size`` along the norm's steepest-ascent direction
(the sign for linf), projects onto the ball and clips to the bounds after
each; the outer loss runs both forward passes in training mode and
differentiates through both ``p(x)`` and ``p(x')``. Differences: the random
start is projected onto the ball and clipped to the bounds (theirs is not,
which matters only with ``steps=0``), and other norms take normalised PGD
steps (their l2 variant optimises ``delta`` with SGD and renormalises).

The authors' CIFAR-10 setting is ``beta=6, eps=0.031, step_size=0.007,
steps=10`` (linf); their MNIST one ``beta=1 .. 6, eps=0.3,
step_size=0.01, steps=40``. Registered as the method ``trades``.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfrobust.attacks import default_step_size, get_norm
from tfrobust.attribution.checks import check_bounds
from tfrobust.attribution.gradient import call_model
from tfrobust.attribution.smoothgrad import seed_tensor
from tfrobust.config import check_int, parse_number
from tfrobust.registry import register
from tfrobust.training.robust_model import RobustModel

__all__ = ["TradesModel", "kl_divergence", "maximize_kl"]


def kl_divergence(p_logits: Any, q_logits: Any) -> tf.Tensor:
    """Per-example ``KL(softmax(p_logits) || softmax(q_logits))``: (N, K), (N, K) -> (N,), in nats."""
    log_p = tf.nn.log_softmax(tf.cast(p_logits, tf.float32), axis=-1)
    log_q = tf.nn.log_softmax(tf.cast(q_logits, tf.float32), axis=-1)
    return tf.reduce_sum(tf.exp(log_p) * (log_p - log_q), axis=-1)


def maximize_kl(model: Any, x: Any, *, norm: str = "linf", eps: float, steps: int, step_size: float,
                start_sigma: float = 0.001, bounds: tuple[float, float] | None = None,
                seed: Any = 0) -> tf.Tensor:
    """TRADES' inner maximisation: ``x'`` in the eps-ball around ``x`` with a large ``KL(p(x) || p(x'))``.

    Traceable (runs inside ``train_step``); the model runs with ``training=False``.

    Args:
        model: maps (N, ...) inputs to (N, K) logits.
        x: (N, ...) float32 inputs within ``bounds``.
        norm: a registered norm (``tfrobust.registry.NORMS``), e.g. ``"linf"``.
        eps: the ball's radius in data units (>= 0).
        steps: ascent steps (>= 0).
        step_size: length of each step (>= 0) along the norm's
            steepest-ascent direction.
        start_sigma: standard deviation of the Gaussian start around ``x``
            (Zhang et al.: 0.001).
        bounds: the data's value range (lo, hi), clipped to after each step; None: no clipping.
        seed: int or (2,) int (tensor) seed of the start.

    Returns:
        (N, ...) float32 tensor ``x'`` with ``||x' - x|| <= eps`` and within ``bounds``.
    """
    geometry = get_norm(norm)
    x = tf.convert_to_tensor(x, tf.float32)
    limits = check_bounds(bounds) if bounds is not None else None

    def clip(v: tf.Tensor) -> tf.Tensor:
        v = x + geometry.project(v - x, eps)
        return v if limits is None else tf.clip_by_value(v, limits[0], limits[1])

    clean = tf.stop_gradient(tf.cast(call_model(model, x), tf.float32))
    noise = tf.random.stateless_normal(tf.shape(x), seed=seed_tensor(seed), dtype=tf.float32)
    start = clip(x + float(start_sigma) * noise)

    def body(i: tf.Tensor, x_adv: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape(watch_accessed_variables=False) as input_tape:
            input_tape.watch(x_adv)
            kl = tf.reduce_sum(kl_divergence(clean, call_model(model, x_adv)))
        grad = input_tape.gradient(kl, x_adv, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return i + 1, tf.stop_gradient(clip(x_adv + float(step_size) * geometry.normalize_step(grad)))

    _, x_adv = tf.while_loop(lambda i, _: i < steps, body, (tf.constant(0, tf.int32), start))
    return x_adv


@register("methods", "trades")
@keras.saving.register_keras_serializable(package="tfrobust")
class TradesModel(RobustModel):
    """TRADES: cross-entropy on ``x`` plus ``beta * KL(p(x) || p(x'))``, ``x'`` the KL's worst case near ``x``.

    Metrics (training only): ``trades_penalty`` (the added loss,
    ``beta * mean KL``) and ``trades_kl`` (the mean KL itself). ``loss`` is
    cross-entropy plus ``trades_penalty``; ``accuracy`` is that of the clean
    batch.

    Args:
        base: a Keras classifier returning logits.
        beta: weight of the KL term (>= 0; Zhang et al.: 6 on CIFAR-10; 0
            is standard training with the attack's cost).
        norm: the threat model's norm (a name in ``tfrobust.registry.NORMS``).
        eps: radius of the ball ``x'`` is searched in, in data units.
        steps: ascent steps of the inner maximisation (>= 1).
        step_size: length of each ascent step; None: ``2.5 * eps / steps``
            (:func:`tfrobust.attacks.default_step_size`; Zhang et al.'s
            CIFAR-10 run used 0.007 with eps 0.031 and 10 steps).
        start_sigma: standard deviation of the start ``x + sigma * N(0, 1)`` (Zhang et al.: 0.001).
        bounds: the data's value range (lo, hi) ``x'`` is clipped to; a
            training run fills in its data's bounds; None: no clipping.
        seed: base seed of the random starts (step counter and replica are folded in).

    Ref: Zhang et al. 2019, eq. 5 and Algorithm 1.
    """

    extra_loss_names = ("trades_penalty",)
    extra_metric_names = ("trades_kl",)

    def __init__(self, base: keras.Model, *, beta: float = 6.0, norm: str = "linf", eps: float = 0.031,
                 steps: int = 10, step_size: float | None = None, start_sigma: float = 0.001,
                 bounds: tuple[float, float] | None = None, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(base, **kwargs)
        self.beta = parse_number(beta, name="beta", minimum=0, float32=True)
        self.norm = get_norm(norm).name
        self.eps = parse_number(eps, name="eps", minimum=0, float32=True)
        self.steps = check_int(steps, name="steps", minimum=1)
        self.step_size = (default_step_size(self.eps, self.steps) if step_size is None
                          else parse_number(step_size, name="step_size", minimum=0, float32=True))
        self.start_sigma = parse_number(start_sigma, name="start_sigma", minimum=0, float32=True)
        self.bounds = check_bounds(bounds) if bounds is not None else None
        self.trades_seed = check_int(seed, name="seed", minimum=0)

    def split_inputs(self, x: Any) -> tuple[Any, Any]:
        """``(x, x')`` pairs (from :meth:`training_inputs`) run the model on ``x``; plain batches are ``x``."""
        if isinstance(x, (tuple, list)):
            if len(x) != 2:
                raise ValueError(f"TRADES trains on plain (x, y) batches; got {len(x)} input tensors")
            return x[0], x[1]
        return x, None

    def training_inputs(self, x: Any, y: Any) -> Any:
        """``(x, x')``: the clean batch (its cross-entropy is the loss) and its KL worst case."""
        del y
        x_adv = maximize_kl(self.attack_target(), x, norm=self.norm, eps=self.eps, steps=self.steps, step_size=self.step_size,
                            start_sigma=self.start_sigma, bounds=self.bounds, seed=self.step_seed(self.trades_seed))
        return x, x_adv

    def regularization(self, x: Any, y: Any, logits: Any, **context: Any) -> dict[str, Any]:
        """``beta * mean_i KL(p(x_i) || p(x'_i))`` with both passes in training mode."""
        del y, context
        _, x_adv = self.split_inputs(x)
        kl = tf.reduce_mean(kl_divergence(logits, self.logits_of(x_adv, training=True)))
        return {"trades_penalty": self.beta * kl, "trades_kl": kl}

    def run_record(self) -> dict[str, Any]:
        """The step size the inner maximisation takes (resolved when not given)."""
        return {"step_size": self.step_size}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(beta=self.beta, norm=self.norm, eps=self.eps, steps=self.steps, step_size=self.step_size,
                      start_sigma=self.start_sigma, bounds=None if self.bounds is None else list(self.bounds),
                      seed=self.trades_seed)
        return config
