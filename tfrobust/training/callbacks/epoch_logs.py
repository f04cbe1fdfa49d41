"""Callbacks whose per-epoch values every other callback sees, whatever the order of the ``callbacks`` list.

Keras calls ``on_epoch_end`` of the callbacks in list order, all with one
logs dict: a value that a callback adds there reaches only the callbacks
after it (``CSVLogger``, ``EarlyStopping``, ``ModelCheckpoint`` and
``TensorBoard`` placed earlier never see it). Nor can a callback add a value
in ``on_test_end``: Keras hands callbacks a copy of the validation logs, and
``fit`` prefixes ``val_`` to the dict that ``evaluate`` returns, not to that
copy.

What every callback sees is the dict ``fit`` builds before its first
``on_epoch_end`` call: the model's metric results after the epoch's last
training step, then the validation results. :class:`EpochLogCallback`
computes its values there. During ``fit`` (from ``on_train_begin`` to
``on_train_end``) it wraps the model instance's
``_get_metrics_result_or_logs``, the method through which Keras 3's ``fit``
reads the metric results, and adds its values when ``fit`` itself calls it,
so that the values enter the epoch logs exactly like a compiled metric's
(``History``, ``training_logs`` of ``on_train_end`` included). The epoch's
weights are final at that point, whether or not ``fit`` has validation
data. Calls from ``evaluate`` (fit's validation pass included) are passed
through unchanged. This works on any ``keras.Model`` (no subclass needed)
and leaves the class and other instances alone.

That method is a Keras internal: if a Keras version stops calling it from
``fit``, the callback computes in its own ``on_epoch_end`` as before (the
value then reaches only the callbacks after it) and warns once.
"""

from __future__ import annotations

import sys
import warnings
import weakref
from typing import Any

import keras

__all__ = ["EpochLogCallback"]

_HOOK = "_get_metrics_result_or_logs"


class _FitLogsHook:
    """Stands in for a model's ``_get_metrics_result_or_logs`` while callbacks are attached."""

    def __init__(self, model: Any, original: Any, own: Any) -> None:
        self.model = weakref.ref(model)
        self.original = original  # the bound method (or an earlier instance attribute) it wraps
        self.own = own  # the instance attribute it replaced (None: the class's method)
        self.providers: list[EpochLogCallback] = []

    def __call__(self, logs: Any) -> Any:
        result = self.original(logs)
        caller = sys._getframe(1)
        if caller.f_code.co_name != "fit" or not self.providers:
            return result
        # Only the callbacks of this fit: one left attached by a fit that raised is skipped (and dropped).
        current = getattr(caller.f_locals.get("callbacks"), "callbacks", None)
        out = dict(result)
        for provider in list(self.providers):
            if current is not None and not any(c is provider for c in current):
                self.providers.remove(provider)
                continue
            out.update(provider._values_for_fit())
        model = self.model()
        if not self.providers and model is not None and vars(model).get(_HOOK) is self:
            _restore(model, self)
        return out


def _attach(model: Any, provider: EpochLogCallback) -> bool:
    """Installs (or reuses) the hook on ``model``; False if the model has no such method."""
    hook = vars(model).get(_HOOK)
    if not isinstance(hook, _FitLogsHook):
        original = getattr(model, _HOOK, None)
        if not callable(original):
            return False
        hook = _FitLogsHook(model, original, vars(model).get(_HOOK))
        object.__setattr__(model, _HOOK, hook)  # not Layer.__setattr__: nothing for Keras to track
    if not any(p is provider for p in hook.providers):
        hook.providers.append(provider)
    return True


def _detach(model: Any, provider: EpochLogCallback) -> None:
    """Removes ``provider``; the last one out restores what the model had."""
    hook = vars(model).get(_HOOK)
    if not isinstance(hook, _FitLogsHook):
        return
    hook.providers = [p for p in hook.providers if p is not provider]
    if not hook.providers:
        _restore(model, hook)


def _restore(model: Any, hook: _FitLogsHook) -> None:
    """Gives ``model`` back what it had before ``hook``."""
    if hook.own is None:
        object.__delattr__(model, _HOOK)
    else:
        object.__setattr__(model, _HOOK, hook.own)


class EpochLogCallback(keras.callbacks.Callback):
    """A callback adding values to the epoch logs that every callback of ``fit`` sees (see the module docs).

    Subclasses implement :meth:`compute` and set ``every``; a subclass that
    overrides ``on_train_begin``, ``on_epoch_begin``, ``on_epoch_end`` or
    ``on_train_end`` calls ``super()``. Epochs off the ``every`` grid add no
    keys, like Keras's own ``validation_freq``: ``History`` lists only the
    measured epochs, ``EarlyStopping`` skips the others, and ``CSVLogger``
    (which fixes its columns at the first epoch) logs the values only when
    the first epoch is measured (``every=1``).

    Outside ``fit`` nothing is computed: ``model.evaluate(callbacks=[cb])``
    and ``predict`` do no extra work (call :meth:`compute` for a one-off
    value). Calling ``on_epoch_end`` by hand computes and writes the values
    into the given logs.

    Attributes:
        values: epoch (0-based) -> the values added at that epoch, for every
            measured epoch of the latest ``fit`` (or hand call).
    """

    every: int = 1

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[int, dict[str, float]] = {}
        self._due: int | None = None  # the epoch whose values fit still has to collect
        self._collected: int | None = None  # the epoch whose values fit collected
        self._attached: Any = None  # the model the hook is installed on
        self._warned = False

    def compute(self, model: Any) -> dict[str, float]:
        """The values for ``model`` (the fitted model, ``self.model``) now."""
        raise NotImplementedError

    def is_due(self, epoch: int) -> bool:
        """Whether ``epoch`` (0-based) is on the ``every`` grid."""
        return (epoch + 1) % self.every == 0

    def _measure(self, epoch: int) -> dict[str, float]:
        values = {k: float(v) for k, v in self.compute(self.model).items()}
        self.values[epoch] = values
        return values

    def _values_for_fit(self) -> dict[str, float]:
        if self._due is None:
            return {}
        epoch, self._due = self._due, None
        self._collected = epoch
        return self._measure(epoch)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.values = {}
        self._due = self._collected = None
        model = self.model
        self._attached = model if model is not None and _attach(model, self) else None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._due = epoch if self._attached is not None and self.is_due(epoch) else None
        self._collected = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self.is_due(epoch):
            return
        if self._collected == epoch:
            values = self.values[epoch]  # fit already put them into the logs every callback gets
        else:
            if self._attached is not None and not self._warned:
                self._warned = True
                warnings.warn(f"{type(self).__name__}: this Keras version's fit did not collect the values "
                              "before on_epoch_end; only callbacks after this one see them", stacklevel=2)
            self._due = None
            values = self._measure(epoch)
        if logs is not None:
            logs.update(values)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._attached is not None:
            _detach(self._attached, self)
        self._attached = None
        self._due = self._collected = None


def classifier_of(model: Any) -> Any:
    """The ``image -> logits`` model a callback measures or explains.

    A training wrapper gives its :attr:`~tfrobust.training.RobustModel.classifier`
    (the chosen logits output, softmax removed, of the image input alone);
    any other model is returned as it is (attacks and attributions unwrap a
    functional model's softmax themselves, :func:`tfrobust.attribution.classifier.as_classifier`).

    Raises:
        ValueError: the wrapper's logits depend on inputs besides the image (one line).
    """
    view = getattr(model, "classifier_view", None)
    if view is None:
        return getattr(model, "base", model)
    if view.classifier is None:
        raise ValueError(f"the logits depend on inputs {[n for n in view.input_names if n != view.image_key]} besides "
                         f"the image {view.image_key!r}; this callback measures image -> logits models only")
    return view.classifier
