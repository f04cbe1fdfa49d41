"""JacobianNorm: Jacobian-slice norms and target alignment on held-out data, per epoch."""

from __future__ import annotations

from typing import Any

import numpy as np

from tfrobust.attribution import cosine, logit_gradient, logit_jacobian_norms
from tfrobust.config import check_int
from tfrobust.training.callbacks.epoch_logs import EpochLogCallback, classifier_of

__all__ = ["JacobianNorm", "as_labels"]


def as_labels(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert held-out ``x`` (N, ...) float32 and ``y`` (N,) int labels.

    One-hot (N, K) labels are reduced with ``argmax``.

    Raises:
        ValueError: ``x`` is not a non-empty batch or ``y`` does not match it.
    """
    xa = np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float32)
    ya = np.asarray(y.numpy() if hasattr(y, "numpy") else y)
    if xa.ndim < 2 or xa.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch (N, ...), got shape {xa.shape}")
    if ya.ndim == 2:
        ya = ya.argmax(axis=-1)
    if ya.ndim != 1 or ya.shape[0] != xa.shape[0]:
        raise ValueError(f"y must have shape ({xa.shape[0]},) to match x, got {ya.shape}")
    if not np.all(np.isfinite(ya)) or np.any(ya != np.round(ya)) or np.any(ya < 0):
        raise ValueError("y must hold integer class labels >= 0")
    return xa, ya.astype(np.int32)


class JacobianNorm(EpochLogCallback):
    """Logs Jacobian-slice norms (Noack Fig. 4) and target cosines (Fig. 3) each epoch.

    On the end of every ``every``-th epoch, on the held-out ``(x, y)``, adds
    to the epoch ``logs``:

    - ``{prefix}_label_norm``: mean over examples of ``||J_c(x)||_2``, the
      label logit's input gradient;
    - ``{prefix}_other_norm``: mean over examples of the mean over the K - 1
      non-label logits of ``||J_k(x)||_2``;
    - ``{prefix}_target_cosine`` (only with ``targets``): mean cosine between
      ``J_c(x)`` and the target map of each example (0 for zero maps).

    With the default prefix the keys are ``jacobian_label_norm``,
    ``jacobian_other_norm`` and ``jacobian_target_cosine``. The values reach
    every callback of ``fit`` whatever its place in the ``callbacks`` list
    (:mod:`tfrobust.training.callbacks.epoch_logs`); outside ``fit`` nothing
    is measured. Epochs off the ``every`` grid add no keys (``History`` lists
    only the epochs that had them; ``CSVLogger`` fixes its columns at the
    first epoch, so it logs them only with ``every=1``).

    Works with any ``fit``: a wrapper (``tfrobust.training.RobustModel``) is
    measured through its ``classifier`` (the logits of the image input), any
    other ``keras.Model`` directly; the model runs with ``training=False``.

    Args:
        x: (N, H, W, C) (or any (N, ...)) float32 held-out inputs in data units.
        y: (N,) int labels (or one-hot (N, K)).
        every: measure every ``every`` epochs (>= 1).
        batch_size: examples per gradient call (>= 1); bounds memory.
        targets: optional (N, ...) target maps, same shape as ``x``
            (e.g. SmoothGrad maps of a robust model, Noack sec. 4.1).
        prefix: log-key prefix (non-empty).

    Attributes:
        last: the values written at the last measured epoch.

    Ref: Noack et al. 2021, Fig. 3 and Fig. 4.
    """

    def __init__(self, x: Any, y: Any, *, every: int = 1, batch_size: int = 256, targets: Any = None,
                 prefix: str = "jacobian") -> None:
        super().__init__()
        self.x, self.y = as_labels(x, y)
        self.every = check_int(every, name="every", minimum=1)
        self.batch_size = check_int(batch_size, name="batch_size", minimum=1)
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"prefix must be a non-empty string, got {prefix!r}")
        self.prefix = prefix
        self.targets: np.ndarray | None = None
        if targets is not None:
            t = np.asarray(targets.numpy() if hasattr(targets, "numpy") else targets, dtype=np.float32)
            if t.shape != self.x.shape:
                raise ValueError(f"targets must have the shape of x {self.x.shape}, got {t.shape}")
            self.targets = t
        self.last: dict[str, float] = {}

    def measure(self, model: Any) -> dict[str, float]:
        """The log values for ``model`` (a classifier returning logits) on the held-out data."""
        norms = logit_jacobian_norms(model, self.x, self.y, batch_size=self.batch_size)
        out = {f"{self.prefix}_label_norm": float(np.mean(norms["label"])),
               f"{self.prefix}_other_norm": float(np.mean(norms["other"]))}
        if self.targets is not None:
            cos = [cosine(logit_gradient(model, self.x[i:i + self.batch_size], self.y[i:i + self.batch_size]),
                          self.targets[i:i + self.batch_size])
                   for i in range(0, len(self.x), self.batch_size)]
            out[f"{self.prefix}_target_cosine"] = float(np.mean(np.concatenate(cos)))
        return out

    def compute(self, model: Any) -> dict[str, float]:
        """The values of ``model`` (a wrapper is measured through ``.base``); also kept in ``last``."""
        self.last = self.measure(classifier_of(model))
        return self.last
