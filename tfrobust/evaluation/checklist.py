"""The gradient-masking checks' names, thresholds, advice and verdicts (no TensorFlow here).

:mod:`tfrobust.evaluation.masking` describes and runs the checks; this module
holds what needs no model: :data:`CHECKS`, :data:`THRESHOLDS`, :class:`Check`
(one outcome: ``raised``, ``passed`` or ``skipped`` with the reason, its
figure, its threshold and, when raised, what to try), :func:`check_list`
(the ``checks`` option of tables, study stages and ``tfrobust attack``) and
:func:`format_checks` (a line per raised flag, or "no flag raised").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from tfrobust.config import ConfigError

__all__ = ["ADVICE", "CHECKS", "CHECK_COLUMNS", "THRESHOLDS", "Check", "check_list", "format_checks", "make_check"]

#: The checks, in the order they are reported.
CHECKS = ("blackbox", "monotone", "chance", "convergence", "zero_gradients")
#: Raise a check when its figure (a share of all points; zero_gradients: of the correct ones) exceeds this.
THRESHOLDS = {"blackbox": 0.005, "monotone": 0.005, "chance": 0.02, "convergence": 0.01, "zero_gradients": 0.05}
#: What to try when a check is raised.
ADVICE = {
    "blackbox": "the gradients mislead the attack (gradient masking): evaluate with autoattack, try the dlr or cw "
                "objective, more restarts, or BPDA/EOT for non-differentiable or random layers",
    "monotone": "the attack misses adversarial examples that lie inside its ball: use more steps or restarts, "
                "a smaller step size, or autoattack",
    "chance": "the attack fails where success is guaranteed: use more steps, a larger step size, "
              "or a gradient-free attack (square); suspect gradient masking",
    "convergence": "the attack has not converged: report the stronger setting (more steps, queries or restarts)",
    "zero_gradients": "gradient attacks cannot move these points (saturated softmax or a non-differentiable layer): "
                      "use the dlr or cw objective (logit margins) and a gradient-free attack (square)",
}


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ``status`` is ``raised``, ``passed`` or ``skipped``."""

    check: str
    status: str
    norm: str | None
    eps: float | None
    figure: float | None
    threshold: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Plain values (a CSV row)."""
        return asdict(self)


def _where(norm: str | None, eps: float | None) -> str:
    if norm is None:
        return ""
    return f" at {norm} eps={eps:g}" if eps is not None else f" ({norm})"


def make_check(check: str, figure: float | None, *, norm: str | None = None, eps: float | None = None,
               what: str = "", skipped: str | None = None) -> Check:
    """A :class:`Check` whose status follows from ``figure`` against the check's threshold.

    ``what`` describes the figure (e.g. "square broke 1.2% of the points the
    white-box attack left standing"); ``skipped`` gives the reason a check
    did not run.
    """
    if check not in THRESHOLDS:
        raise ConfigError(f"unknown check {check!r}; choose from: {', '.join(CHECKS)}")
    threshold = THRESHOLDS[check]
    place = _where(norm, eps)
    if skipped is not None or figure is None:
        return Check(check, "skipped", norm, eps, None, threshold, f"{check}{place}: not run ({skipped})")
    raised = figure > threshold
    text = f"{check}{place}: {what} (threshold {100 * threshold:.1f}%)"
    if raised:
        text += f"; {ADVICE[check]}"
    return Check(check, "raised" if raised else "passed", norm, eps, float(figure), threshold, text)


def check_list(checks: Any) -> tuple[str, ...]:
    """``checks`` as a tuple of check names: ``"all"``/True (every check), ``"none"``/False/None, a name, a
    comma-separated string or a list.

    Raises:
        ConfigError: an unknown name, one line listing the checks.
    """
    if checks is None or checks is False or checks == "none":
        return ()
    if checks is True or checks == "all":
        return CHECKS
    names = [c.strip() for c in checks.split(",")] if isinstance(checks, str) else list(checks)
    unknown = [c for c in names if c not in CHECKS]
    if unknown:
        raise ConfigError(f"checks: unknown check {unknown[0]!r}; choose from: all, none, {', '.join(CHECKS)}")
    return tuple(c for c in CHECKS if c in names)


#: The columns of a checks CSV (``checks.csv`` of an attack cell, ``tfrobust attack``'s checks file).
CHECK_COLUMNS = ["check", "status", "norm", "eps", "figure", "threshold", "message"]


def format_checks(checks: Iterable[Check | Mapping[str, Any]]) -> str:
    """One line per raised check (then the skipped ones), or "no flag raised" (with the number of checks run)."""
    rows = [c if isinstance(c, Check) else Check(**{k: c[k] for k in Check.__dataclass_fields__}) for c in checks]
    raised = [c for c in rows if c.status == "raised"]
    skipped = [c for c in rows if c.status == "skipped"]
    passed = len(rows) - len(raised) - len(skipped)
    lines = [f"FLAG {c.message}" for c in raised]
    if not raised:
        lines.append(f"gradient-masking checks: no flag raised ({passed} passed, {len(skipped)} skipped)")
    else:
        lines.append(f"gradient-masking checks: {len(raised)} flag(s) raised, {passed} passed, {len(skipped)} skipped")
    lines += [f"  {c.message}" for c in skipped]
    return "\n".join(lines)
