"""The attack protocol, and :class:`Attack`: a registered attack bound to its threat model and options.

An attack is a function registered in :data:`tfrobust.registry.ATTACKS` with
``@register("attacks", "<name>")`` in this package (or a plugin)::

    fn(model, x, y, *, norm, eps, bounds, seed=0, **options) -> x_adv

``norm`` names a :data:`~tfrobust.registry.NORMS` entry, ``eps`` is the radius
in data units, ``bounds`` the data's value range, ``seed`` an int or a (2,)
int tensor; the options are the function's other keyword-only parameters
(simple annotations, literal defaults). Every attack keeps the contract of
``tests/attacks/test_contract.py``: ``x_adv`` lies in the eps-ball around
``x`` and within ``bounds``, ``x`` is never modified, and eps 0 returns ``x``.

An attack that cannot run inside a traced function (it loops in Python over
the points still standing) sets ``fn.eager_only = True``; training refuses
it (:meth:`Attack.check_trainable`).

An attack may carry a checker (:func:`checked_by`)::

    check(*, norm, eps, bounds, input_shape, **options) -> settings

that refuses bad values before any model runs and returns what the attack
will do (PGD: its steps, the step size it takes and its objective).
:meth:`Attack.build` parses the options with the registry entry and runs the
checker, so a configured :class:`Attack` is known to be runnable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tfrobust.attacks.checks import check_bounds, check_eps
from tfrobust.attacks.norms import get_norm
from tfrobust.config import ConfigError, parse_number
from tfrobust.registry import ATTACKS

__all__ = ["Attack", "checked_by"]

F = TypeVar("F", bound=Callable[..., Any])


def checked_by(check: Callable[..., Mapping[str, Any]]) -> Callable[[F], F]:
    """Marks an attack function with its checker (see module docstring); returns the function unchanged."""

    def mark(fn: F) -> F:
        fn.check = check  # type: ignore[attr-defined]
        return fn

    return mark


def _shape(input_shape: Any) -> tuple[int, ...] | None:
    if input_shape is None:
        return None
    try:
        return tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):  # a partly unknown shape
        return None


@dataclass(frozen=True)
class Attack:
    """A registered attack with its norm, radius, bounds and parsed options, checked once.

    Build it with :meth:`build` (or :meth:`from_config` for the config form);
    call it as ``attack(model, x, y, seed=...)``.

    Example:
        >>> attack = Attack.build("pgd", norm="l2", eps=1.5, bounds=(0, 1), options={"steps": 40})
        >>> x_adv = attack(model, x, y, seed=0)
    """

    name: str
    norm: str
    eps: float
    bounds: tuple[float, float]
    options: dict[str, Any] = field(default_factory=dict)
    #: what the checker reported (PGD: steps, step_size, objective); empty without a checker
    settings: dict[str, Any] = field(default_factory=dict, compare=False)

    def __hash__(self) -> int:
        return hash((self.name, self.norm, self.eps, self.bounds, repr(sorted(self.options.items()))))

    @classmethod
    def build(cls, name: str = "pgd", *, norm: str, eps: Any, bounds: Any, options: Mapping[str, Any] | None = None,
              input_shape: Any = None, prefix: str = "options") -> Attack:
        """Checks everything an attack run needs, before any model runs.

        Args:
            name: a registered attack.
            norm: a registered norm.
            eps: radius in data units (a number or a string such as ``"8/255"``).
            bounds: (lo, hi) value range of the data.
            options: the attack's options (YAML or ``--option`` values), parsed
                by its registry entry.
            input_shape: the shape of one input (no batch axis), when known:
                lets the checker measure steps whose length depends on it.
            prefix: how ``options`` is called in messages.

        Raises:
            ValueError: (often a :class:`~tfrobust.config.ConfigError`) an unknown
                attack or norm, an unknown or ill-typed option, or a value the
                attack's checker refuses; one line.
        """
        entry = ATTACKS[name]
        get_norm(norm)
        eps = check_eps(parse_number(eps, name="eps") if isinstance(eps, str) else eps)
        lo_hi = check_bounds(bounds)
        parsed = entry.parse(options, prefix=prefix)
        check = getattr(entry.load(), "check", None)
        settings = {}
        if check is not None:
            settings = dict(check(norm=norm, eps=eps, bounds=lo_hi, input_shape=_shape(input_shape), **parsed) or {})
        return cls(name, norm, eps, lo_hi, parsed, settings)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, bounds: Any = None, input_shape: Any = None,
                    prefix: str = "attack") -> Attack:
        """The config form ``{name: pgd, norm: l2, eps: 1.5, bounds: [0, 1], <options>}``.

        ``name`` defaults to ``pgd``; ``bounds`` to the keyword (the data's
        range). Every other key is an option of the attack.

        Raises:
            ValueError: one line starting with ``prefix``.
        """
        if not isinstance(config, Mapping):
            raise ConfigError(f"{prefix} must be a mapping such as {{norm: l2, eps: 1.5, steps: 40}}, got {config!r}")
        values = dict(config)
        name = values.pop("name", "pgd")
        missing = [key for key in ("norm", "eps") if values.get(key) is None]
        if missing:
            raise ConfigError(f"{prefix}: give {' and '.join(missing)} (the threat model), "
                              "e.g. {norm: l2, eps: 1.5, steps: 40}")
        norm, eps = values.pop("norm"), values.pop("eps")
        given = values.pop("bounds", None)
        if given is None and bounds is None:
            raise ConfigError(f"{prefix}.bounds: set the data's value range, e.g. bounds: [0, 1]")
        try:
            return cls.build(name, norm=norm, eps=eps, bounds=given if given is not None else bounds,
                             options=values, input_shape=input_shape, prefix=prefix)
        except ValueError as err:
            text = " ".join(str(err).split())
            raise ConfigError(text if text.startswith(prefix) else f"{prefix}: {text}") from None

    @classmethod
    def coerce(cls, value: Any, *, bounds: Any = None, prefix: str = "attack") -> Attack:
        """``value`` as an :class:`Attack`: an Attack, a config mapping, or an object with ``to_dict()``
        giving one (a :class:`tfrobust.attacks.PGD`)."""
        if isinstance(value, Attack):
            return value
        if not isinstance(value, Mapping) and callable(getattr(value, "to_dict", None)):
            value = value.to_dict()
        return cls.from_config(value, bounds=bounds, prefix=prefix)

    def __call__(self, model: Any, x: Any, y: Any, *, seed: Any = 0) -> Any:
        """The adversarial examples of ``(x, y)`` against ``model``."""
        fn = ATTACKS[self.name].load()
        return fn(model, x, y, norm=self.norm, eps=self.eps, bounds=self.bounds, seed=seed, **self.options)

    @property
    def eager_only(self) -> bool:
        """Whether the attack runs only eagerly (an evaluation attack such as ``apgd``, ``square``,
        ``autoattack``: its function has ``eager_only = True``), so it cannot run inside a ``train_step``."""
        return bool(getattr(ATTACKS[self.name].load(), "eager_only", False))

    def check_trainable(self, prefix: str = "attack") -> None:
        """Refuses an eager-only attack where training would run it inside a traced ``train_step``.

        Raises:
            ConfigError: one line naming ``prefix`` and the attacks that can train.
        """
        if self.eager_only:
            usable = [n for n in ATTACKS.names() if not getattr(ATTACKS[n].load(), "eager_only", False)]
            raise ConfigError(f"{prefix}: {self.name} is an evaluation attack that runs eagerly, not inside a "
                              f"training step; train with one of: {', '.join(usable)}")

    def check_input_shape(self, input_shape: Any) -> dict[str, Any]:
        """Runs the checker again for inputs of ``input_shape`` (no batch axis); returns its settings."""
        check = getattr(ATTACKS[self.name].load(), "check", None)
        if check is None:
            return {}
        return dict(check(norm=self.norm, eps=self.eps, bounds=self.bounds, input_shape=_shape(input_shape),
                          **self.options) or {})

    def to_dict(self) -> dict[str, Any]:
        """The config form (plain values): ``{name, norm, eps, bounds, <options>}``."""
        return {"name": self.name, "norm": self.norm, "eps": self.eps, "bounds": list(self.bounds),
                **{k: list(v) if isinstance(v, tuple) else v for k, v in self.options.items()}}
