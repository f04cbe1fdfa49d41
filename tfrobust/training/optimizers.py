"""Keras optimizers and learning-rate schedules from an :class:`OptimizerConfig`.

Weight decay comes in two forms (``OptimizerConfig.weight_decay_mode``):

- ``decoupled`` (default): Keras's own ``weight_decay``, applied as
  ``w -= lr * wd * w`` each step, outside the momentum and Adam moments;
- ``coupled``: ``wd * w`` is added to each gradient before the optimizer's
  update (momentum, Nesterov, Adam moments), as PyTorch's
  ``torch.optim.SGD(weight_decay=wd)`` does. Noack et al. 2021 trained with
  the latter (a1noack/interp_regularization ``train_models.py``:
  ``optim.SGD(net.parameters(), lr, momentum, weight_decay=args.wd,
  nesterov)``), so their 5e-4 (CIFAR-10) and 1e-5 (MNIST,
  ``train_SimpleCNN*.sh``) mean the coupled form. With momentum 0.9 the
  coupled decay accumulates in the velocity and acts about 10x more strongly
  than the decoupled decay of the same value.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from tfrobust.config import OptimizerConfig

__all__ = ["CoupledDecayAdam", "CoupledDecaySGD", "build_optimizer"]


def _coupled(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"coupled_weight_decay must be a number >= 0, got {value!r}") from None
    if not number >= 0 or number == float("inf"):
        raise ValueError(f"coupled_weight_decay must be a finite number >= 0, got {value!r}")
    return number


class _CoupledDecay:
    """Adds ``coupled_weight_decay * w`` to every gradient before the update step.

    The Keras update step receives the gradients after loss-scale unscaling
    and clipping; PyTorch likewise adds the decay to the (unclipped by
    default) gradient inside ``step``.
    """

    coupled_weight_decay: float

    def __init__(self, *, coupled_weight_decay: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.coupled_weight_decay = _coupled(coupled_weight_decay)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()  # type: ignore[misc]
        config["coupled_weight_decay"] = self.coupled_weight_decay
        return dict(config)

    def _backend_update_step(self, grads: Any, trainable_variables: Any, learning_rate: Any) -> Any:
        wd = self.coupled_weight_decay
        if wd:
            grads = [g if g is None else g + ops.cast(wd, g.dtype) * ops.convert_to_tensor(v)
                     for g, v in zip(grads, trainable_variables)]
        return super()._backend_update_step(grads, trainable_variables, learning_rate)  # type: ignore[misc]


@keras.saving.register_keras_serializable(package="tfrobust")
class CoupledDecaySGD(_CoupledDecay, keras.optimizers.SGD):
    """SGD with PyTorch-style (coupled, L2) weight decay ``coupled_weight_decay``."""


@keras.saving.register_keras_serializable(package="tfrobust")
class CoupledDecayAdam(_CoupledDecay, keras.optimizers.Adam):
    """Adam with an L2 term ``coupled_weight_decay * w`` added to the gradient (not AdamW)."""


def build_optimizer(config: OptimizerConfig, *, total_steps: int) -> keras.optimizers.Optimizer:
    """Builds the optimizer a config describes.

    Args:
        config: the optimizer config (Kim et al. 2019 A.2: Adam 1e-3;
            Noack et al. 2021 sec. 4.2-4.3: SGD momentum 0.9, cosine decay,
            coupled weight decay).
        total_steps: optimizer steps of the whole run (epochs x steps per
            epoch); the cosine schedule reaches 0 at this step.

    Returns:
        An unbuilt ``keras.optimizers.Optimizer``: Keras's ``Adam``/``SGD``,
        or :class:`CoupledDecayAdam`/:class:`CoupledDecaySGD` for
        ``weight_decay_mode: coupled`` with a weight decay.
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule
    if config.schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=config.learning_rate, decay_steps=total_steps, alpha=0.0
        )
    else:
        learning_rate = config.learning_rate
    coupled = config.weight_decay_mode == "coupled" and config.weight_decay is not None
    decay: dict[str, Any] = ({"coupled_weight_decay": config.weight_decay} if coupled
                             else {"weight_decay": config.weight_decay})
    if config.name == "adam":
        return (CoupledDecayAdam if coupled else keras.optimizers.Adam)(
            learning_rate=learning_rate,
            beta_1=config.beta_1,
            beta_2=config.beta_2,
            epsilon=config.epsilon,
            **decay,
        )
    return (CoupledDecaySGD if coupled else keras.optimizers.SGD)(
        learning_rate=learning_rate,
        momentum=config.momentum,
        nesterov=config.nesterov,
        **decay,
    )
