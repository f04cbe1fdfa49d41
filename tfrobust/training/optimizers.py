"""Keras optimizers and learning-rate schedules from an :class:`OptimizerConfig`."""

from __future__ import annotations

import keras

from tfrobust.config import OptimizerConfig

__all__ = ["build_optimizer"]


def build_optimizer(config: OptimizerConfig, *, total_steps: int) -> keras.optimizers.Optimizer:
    """Builds the optimizer a config describes.

    Args:
        config: the optimizer config (Kim et al. 2019 A.2: Adam 1e-3;
            Noack et al. 2021 sec. 4.2-4.3: SGD momentum 0.9, cosine decay).
        total_steps: optimizer steps of the whole run (epochs x steps per
            epoch); the cosine schedule reaches 0 at this step.

    Returns:
        An unbuilt ``keras.optimizers.Optimizer``.
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
    if config.name == "adam":
        return keras.optimizers.Adam(
            learning_rate=learning_rate,
            beta_1=config.beta_1,
            beta_2=config.beta_2,
            epsilon=config.epsilon,
            weight_decay=config.weight_decay,
        )
    return keras.optimizers.SGD(
        learning_rate=learning_rate,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )
