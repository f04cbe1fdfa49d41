"""Jacobian Regularization (JR) as a RobustModel: penalise ||J(x)||_F in ``train_step``.

Ref: Noack et al. 2021, eq. 13-14; Hoffman et al. 2019. The loss of a batch is

    cross-entropy + lambda_j * mean_i ||J(x_i)||_F

with ``J(x) = d f(x) / dx`` the input-logits Jacobian (K x D). ``||J||_F^2`` is
estimated with ``n_proj`` random projections: ``v`` uniform on the unit sphere
of R^K, drawn anew for every example and step,

    ||J(x)||_F^2  ~=  K / n_proj * sum_mu ||d(v_mu . f(x)) / dx||^2,

which is unbiased because ``E[v v^T] = I / K``. Noack's eq. 14 as printed
omits the factor ``K`` (a constant that only rescales ``lambda_j``); we keep
it so that the estimate is the Frobenius norm and ``lambda_j`` means what
eq. 13 says. ``n_proj="exact"`` takes all K rows (K input gradients).
``squared=True`` penalises the estimate of ``||J||_F^2`` instead, and
``half=True`` multiplies the penalty by 1/2. With both the penalty is exactly
what the authors' code adds (a1noack/interp_regularization ``train_models.py``:
``loss += lambda_jr * jreg(samples, logits)`` with facebookresearch/
jacobian_regularizer ``JacobianReg(n=1)``, whose ``forward`` returns
``(1/2) * C * ||Jv||^2 / (n_proj * B)`` summed over the projections, ``Jv``
the whole batch's stacked ``d(v_i . f(x_i))/dx_i`` and ``v_i`` uniform on the
unit sphere of R^C):

    lambda_j * 1/2 * mean_i [ K / n_proj * sum_mu ||d(v_mu,i . f(x_i)) / dx_i||^2 ].
"""

from __future__ import annotations

from typing import Any, Literal

import keras
import tensorflow as tf

from tfrobust.attribution import projection_vectors, safe_sqrt
from tfrobust.config import ConfigError, check_bool, check_int, parse_number
from tfrobust.registry import register
from tfrobust.training.interpretation import exact_batchnorm_second_order
from tfrobust.training.robust_model import RobustModel

__all__ = ["JacobianRegularizedModel"]


@register("methods", "jr")
@keras.saving.register_keras_serializable(package="tfrobust")
class JacobianRegularizedModel(RobustModel):
    """Jacobian Regularization: penalise the input-logits Jacobian's Frobenius norm (Noack eq. 13-14).

    Metrics (training only): ``jr_penalty`` (the added loss) and
    ``jacobian_norm`` (mean estimated ``||J(x)||_F``).

    Args:
        base: a Keras classifier returning logits.
        lambda_j: penalty weight (>= 0; Noack MNIST 0.32, CIFAR-10 0.1 / 0.03).
        n_proj: random projections per example and step (>= 1; Noack 1), or
            ``"exact"``/None for all K rows of the Jacobian.
        squared: penalise ``||J||_F^2`` instead of ``||J||_F``.
        half: multiply the penalty by 1/2 (with ``squared=True``: Hoffman et
            al.'s ``JacobianReg``, which the Noack authors' code uses).
        seed: base seed of the projections (step counter and replica are
            folded in).
        exact_batchnorm: switch the base's BatchNorm layers to statistics
            with exact second derivatives (see
            :func:`tfrobust.training.interpretation.exact_batchnorm_second_order`).

    Ref: Noack et al. 2021, eq. 13-14.
    """

    extra_loss_names = ("jr_penalty",)
    extra_metric_names = ("jacobian_norm",)

    def __init__(self, base: keras.Model, *, lambda_j: float = 0.32, n_proj: int | Literal["exact"] | None = 1,
                 squared: bool = False, half: bool = False, seed: int = 0, exact_batchnorm: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(base, **kwargs)
        self.lambda_j = parse_number(lambda_j, name="lambda_j", minimum=0, float32=True)
        self.n_proj: int | None = None
        if n_proj is not None and n_proj != "exact":
            try:
                self.n_proj = check_int(n_proj, name="n_proj", minimum=1)
            except ConfigError:
                raise ConfigError(f"n_proj must be an integer >= 1 or 'exact', got {n_proj!r}") from None
        self.squared = check_bool(squared, name="squared")
        self.half = check_bool(half, name="half")
        self.exact_batchnorm = check_bool(exact_batchnorm, name="exact_batchnorm")
        self.projection_seed = check_int(seed, name="seed", minimum=0)
        if self.exact_batchnorm:
            exact_batchnorm_second_order(base)

    def _num_classes(self, logits: Any) -> int:
        k = logits.shape[-1]
        if k is None:
            raise ValueError("JacobianRegularizedModel needs a static number of classes")
        return int(k)

    def input_gradient_objectives(self, logits: Any, y: Any) -> tuple[Any, ...]:
        """One scalar per projection (``sum_i v_mu,i . f(x_i)``) or per class (exact)."""
        k = self._num_classes(logits)
        if self.n_proj is None:
            return tuple(tf.reduce_sum(logits[:, c]) for c in range(k))
        vectors = projection_vectors(k, self.n_proj, self.step_seed(self.projection_seed),
                                     batch=tf.shape(logits)[0])
        vectors = tf.cast(vectors, logits.dtype)  # (n_proj, N, K)
        return tuple(tf.reduce_sum(vectors[m] * logits) for m in range(self.n_proj))

    def regularization(self, x: Any, y: Any, logits: Any, **context: Any) -> dict[str, Any]:
        gradients = context["input_gradients"]
        n = tf.shape(gradients[0])[0]
        squares = tf.add_n([tf.reduce_sum(tf.square(tf.reshape(g, (n, -1))), axis=1) for g in gradients])
        if self.n_proj is not None:
            squares = squares * (self._num_classes(logits) / self.n_proj)
        norms = safe_sqrt(squares)
        penalty = self.lambda_j * tf.reduce_mean(squares if self.squared else norms)
        if self.half:
            penalty = 0.5 * penalty
        return {"jr_penalty": penalty, "jacobian_norm": tf.reduce_mean(norms)}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(lambda_j=self.lambda_j, n_proj="exact" if self.n_proj is None else self.n_proj,
                      squared=self.squared, half=self.half, seed=self.projection_seed,
                      exact_batchnorm=self.exact_batchnorm)
        return config
