"""Linear classifier (Tsipras et al. 2019, section 2.3 and appendix A.2).

Ref: Tsipras et al. 2019, A.2 "Binary MNIST": a linear classifier with
parameters w in R^784, b in R, trained with the cross-entropy (logistic) loss
on MNIST 5 vs 7 with labels -1 / +1.

Two equivalent parametrisations are offered through ``num_classes``:

* ``num_classes=1``: one logit f(x) = w.x + b, exactly the paper's (w, b); use
  a sigmoid / binary cross-entropy loss on logits with labels {0, 1}.
* ``num_classes=2`` (what the CLI trains with sparse categorical
  cross-entropy): two logits z_0, z_1. Softmax cross-entropy depends only on
  z_1 - z_0 = (w_1 - w_0).x + (b_1 - b_0), so this is the logistic model with
  w = w_1 - w_0 and b = b_1 - b_0 (over-parametrised by a common shift).
"""

from __future__ import annotations

import keras

from tfrobust.models._validation import check_input_shape, check_num_classes
from tfrobust.registry import register

__all__ = ["linear"]


@register("models", "linear")
def linear(input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """Flatten followed by one Dense layer: logits = W x + b.

    ====  =================  ======================
    #     layer              output
    ====  =================  ======================
    1     Flatten            (N, prod(input_shape))
    2     Dense(num_classes) (N, num_classes) logits
    ====  =================  ======================

    Args:
        input_shape: per-example shape, e.g. (28, 28, 1) for binary MNIST or
            (d,) for the Tsipras distribution.
        num_classes: number of logits; 1 (a single logistic logit, the
            paper's w, b) is allowed here, unlike the other architectures.

    Returns:
        Uncompiled ``keras.Model`` named ``linear`` returning logits.

    Raises:
        ValueError: bad ``input_shape`` or ``num_classes`` < 1.
    """
    shape = check_input_shape("linear", input_shape)
    num_classes = check_num_classes(num_classes, minimum=1)

    inputs = keras.Input(shape=shape, name="inputs")
    x = keras.layers.Flatten(name="flatten")(inputs)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="linear")
