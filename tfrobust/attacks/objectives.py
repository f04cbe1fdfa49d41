"""Per-example attack objectives on logits (the attacker maximises them).

Each objective is registered in :data:`tfrobust.registry.OBJECTIVES`
(``@register("objectives", "<name>")``) and has the signature
``fn(logits, y, *, targeted, kappa) -> (N,)``; :func:`get_objective` returns it.

- ``xent``: softmax cross-entropy of the label (Kim et al. 2019 "XEnt";
  Madry et al. 2018).
- ``cw``: the Carlini & Wagner (2017) margin surrogate used by Kim et al.
  2019 sec. 2: ``min(max_{j != y} z_j - z_y, kappa)``; positive once the
  example is misclassified, capped at the confidence ``kappa``.
- ``dlr``: the Difference of Logits Ratio of Croce & Hein 2020 (eq. 6),
  ``-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3)`` with ``z_pi1 >= z_pi2 >= ...``
  the sorted logits: the margin divided by a spread of the top logits, so it
  does not change when the logits are shifted or scaled by a positive factor
  (needs K >= 3). Its targeted form, :func:`dlr_targeted`, needs the true
  label and the target and so is not an objective of this signature.

Targeted attacks pass the target class as ``y`` and maximise the negative
cross-entropy of the target, or the margin of the target over the others.

Called eagerly, all refuse non-finite logits and labels that are not
integers in [0, K) (one-line ValueError); traced (inside the attack's
compiled step or a ``train_step``) they skip these checks.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from tfrobust.attacks.checks import check_eps, check_finite, check_labels
from tfrobust.registry import OBJECTIVES, register

__all__ = ["xent", "cw_margin", "dlr", "dlr_targeted", "get_objective"]


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


#: Added to DLR's denominator (Croce & Hein): a zero spread of the top logits gives a finite value.
_DLR_TINY = 1e-12


def _dlr_checked(logits: tf.Tensor, y: tf.Tensor, classes: int, what: str) -> tuple[tf.Tensor, tf.Tensor]:
    logits, y = _checked(logits, y)
    k = logits.shape[-1]
    if k is not None and int(k) < classes:
        raise ValueError(f"{what} needs logits of at least {classes} classes, got {int(k)}")
    return logits, y


@register("objectives", "dlr")
def dlr(logits: tf.Tensor, y: tf.Tensor, *, targeted: bool = False, kappa: float = 0.0) -> tf.Tensor:
    """Untargeted DLR loss (Croce & Hein 2020, eq. 6): (N, K), (N,) -> (N,), K >= 3.

    ``-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)``: positive once
    the example is misclassified; unchanged by ``a * z + b`` with ``a > 0``
    (up to the 1e-12). ``kappa`` is accepted for the objective signature and
    ignored.

    Raises:
        ValueError: ``targeted=True`` (use :func:`dlr_targeted`), fewer than 3
            classes; eagerly also non-finite logits or labels outside [0, K).
    """
    del kappa
    if targeted:
        raise ValueError("dlr: the targeted DLR needs the true label and the target; "
                         "use dlr_targeted(logits, y, target)")
    logits, y = _dlr_checked(logits, y, 3, "dlr")
    top = tf.math.top_k(logits, k=3)
    label_logit = tf.gather(logits, y, batch_dims=1)
    # The largest other logit: the runner-up when y holds the top logit (ties give the same value).
    other = tf.where(tf.equal(top.indices[:, 0], y), top.values[:, 1], top.values[:, 0])
    spread = top.values[:, 0] - top.values[:, 2] + _DLR_TINY
    return -(label_logit - other) / spread


def dlr_targeted(logits: tf.Tensor, y: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Targeted DLR loss (Croce & Hein 2020, sec. 3): (N, K), (N,), (N,) -> (N,), K >= 4.

    ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)`` for the true
    label ``y`` and the target ``t``; the attacker maximises it (pushes
    ``z_t`` above ``z_y``). Unchanged by ``a * z + b`` with ``a > 0``.

    Raises:
        ValueError: fewer than 4 classes; eagerly also non-finite logits, or
            labels or targets outside [0, K).
    """
    logits, y = _dlr_checked(logits, y, 4, "dlr_targeted")
    k = logits.shape[-1]
    target = check_labels(target, logits.shape[0], None if k is None else int(k), name="target")
    top = tf.math.top_k(logits, k=4).values
    gap = tf.gather(logits, y, batch_dims=1) - tf.gather(logits, target, batch_dims=1)
    spread = top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + _DLR_TINY
    return -gap / spread


def get_objective(name: str) -> Callable[..., tf.Tensor]:
    """The objective registered as ``name``.

    Raises:
        ConfigError: (a ValueError) an unknown name, listing the registered ones.
    """
    return OBJECTIVES[name].load()
