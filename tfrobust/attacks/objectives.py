"""Per-example attack objectives on logits (the attacker maximises them).

Each objective is registered in :data:`tfrobust.registry.OBJECTIVES`
(``@register("objectives", "<name>")``) and has the signature
``fn(logits, y, *, targeted, kappa) -> (N,)``; :func:`get_objective` returns it.

- ``xent``: softmax cross-entropy of the label (Kim et al. 2019 "XEnt";
  Madry et al. 2018).
- ``cw``: the Carlini & Wagner (2017) margin surrogate used by Kim et al.
  2019 sec. 2: ``min(max_{j != y} z_j - z_y, kappa)``; positive once the
  example is misclassified, capped at the confidence ``kappa``.

Targeted attacks pass the target class as ``y`` and maximise the negative
cross-entropy of the target, or the margin of the target over the others.

Called eagerly, both refuse non-finite logits and labels that are not
integers in [0, K) (one-line ValueError); traced (inside the attack's
compiled step or a ``train_step``) they skip these checks.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from tfrobust.attacks.checks import check_eps, check_finite, check_labels
from tfrobust.registry import OBJECTIVES, register

__all__ = ["xent", "cw_margin", "get_objective"]


def _checked(logits: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    logits = tf.convert_to_tensor(logits)
    if logits.shape.rank != 2:
        raise ValueError(f"logits must have shape (N, K), got {logits.shape}")
    check_finite(logits, "logits")
    k = logits.shape[-1]
    return logits, check_labels(y, logits.shape[0], None if k is None else int(k))


@register("objectives", "xent")
def xent(logits: tf.Tensor, y: tf.Tensor, *, targeted: bool = False, kappa: float = 0.0) -> tf.Tensor:
    """Cross-entropy of label ``y``: (N, K), (N,) -> (N,). Targeted: its negative."""
    del kappa
    logits, y = _checked(logits, y)
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
    return -loss if targeted else loss


@register("objectives", "cw")
def cw_margin(logits: tf.Tensor, y: tf.Tensor, *, targeted: bool = False, kappa: float = 0.0) -> tf.Tensor:
    """CW margin: (N, K), (N,) -> (N,).

    Untargeted: ``min(max_{j != y} z_j - z_y, kappa)``. Targeted (``y`` is the
    target t): ``min(z_t - max_{j != t} z_j, kappa)``.
    """
    logits, y = _checked(logits, y)
    if not isinstance(kappa, tf.Tensor):
        kappa = check_eps(kappa, name="kappa")
    onehot = tf.one_hot(y, tf.shape(logits)[-1], dtype=logits.dtype)
    label_logit = tf.reduce_sum(onehot * logits, axis=-1)
    others = logits - onehot * tf.constant(1e9, logits.dtype)  # mask the label out of the max
    best_other = tf.reduce_max(others, axis=-1)
    margin = label_logit - best_other if targeted else best_other - label_logit
    return tf.minimum(margin, tf.cast(kappa, logits.dtype))


def get_objective(name: str) -> Callable[..., tf.Tensor]:
    """The objective registered as ``name``.

    Raises:
        ConfigError: (a ValueError) an unknown name, listing the registered ones.
    """
    return OBJECTIVES[name].load()
