"""Per-example attack objectives on logits (the attacker maximises them).

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

__all__ = ["OBJECTIVES", "xent", "cw_margin", "get_objective"]


def _checked(logits: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    logits = tf.convert_to_tensor(logits)
    if logits.shape.rank != 2:
        raise ValueError(f"logits must have shape (N, K), got {logits.shape}")
    check_finite(logits, "logits")
    k = logits.shape[-1]
    return logits, check_labels(y, logits.shape[0], None if k is None else int(k))


def xent(logits: tf.Tensor, y: tf.Tensor, *, targeted: bool = False, kappa: float = 0.0) -> tf.Tensor:
    """Cross-entropy of label ``y``: (N, K), (N,) -> (N,). Targeted: its negative."""
    del kappa
    logits, y = _checked(logits, y)
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
    return -loss if targeted else loss


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


OBJECTIVES: dict[str, Callable[..., tf.Tensor]] = {"xent": xent, "cw": cw_margin}


def get_objective(name: str) -> Callable[..., tf.Tensor]:
    """The objective for ``name``; ValueError for an unknown one."""
    try:
        return OBJECTIVES[name]
    except (KeyError, TypeError):
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {name!r}") from None
