"""Claims: the papers' statements checked against a study's results, with verdicts.

A study file may list ``claims`` next to its ``report``; each is one
statement of a paper turned into a sign test over the study's results::

    claims:
      - id: at_raises_l2_robustness
        paper: "Kim et al. 2019, Table 1: adversarial training raises robust accuracy (l2)"
        stages: [attack]                 # joined as a report item's stages (tfrobust.reports.frame)
        test: difference                 # mean of y where group == a, minus where group == b
        y: attack.robust_l2_1.5
        group: training
        a: adv_l2
        b: standard
        direction: greater               # the paper's side: the difference is > 0
      - id: mu_rises_with_eps
        paper: "Kim et al. 2019, Fig. 4: mu_ROAR grows with the training eps"
        stages: [roar]
        test: correlation                # Spearman (default) or Pearson (method: pearson) of x and y
        x: eps
        y: roar.mu_roar
        direction: positive
        by: norm                         # must hold within every value of this column
        level: 0.9                       # confidence level (default 0.95)

Tests: ``difference`` (``y``, ``group``, ``a``, ``b``, ``direction: greater |
less``); ``paired`` (the mean over rows of ``y`` minus ``minus``, two columns
of the same rows, e.g. adversarial accuracy after adversarial and after
standard training in one cell; ``direction: greater | less``);
``correlation`` (``x``, ``y``, ``method: spearman | pearson``, ``direction:
positive | negative``); ``slope`` (least-squares slope of ``y`` on ``x``,
``direction: positive | negative``). Every claim also takes ``long: STAGE``
and ``where: {column: value}`` as report items do, and ``by``.

Interval: a percentile bootstrap over the rows of the claim's frame (cells,
i.e. seeds and repeats, or long rows with ``long``), :data:`RESAMPLES`
resamples from a generator seeded with :data:`SEED` for every claim (a
verdict does not depend on the other claims). ``difference`` resamples within
each group. A resample whose statistic is undefined (a constant ``x`` or
``y``) counts as -inf for the lower and +inf for the upper bound, so the
interval only leaves 0 behind when the defined resamples alone push it there.

A permutation test guards the interval, because the percentile bootstrap is
too narrow with the few seeds of a study: on 500 pure-noise tables its 95%
interval left out 0 in 24% of them with 3 rows per group, 14% with 5, and
7-12% for slopes and correlations of 5-10 rows; with the test, 0-7%, about
the nominal 5%. The statistic is recomputed under every arrangement of the
rows (group labels shuffled for ``difference``, the signs of the differences
flipped for ``paired``, ``y`` shuffled against ``x`` otherwise; all
arrangements when there are at most :data:`RESAMPLES`, else as many random
ones), giving a one-sided p-value on the side the interval lies on; a verdict
other than ``inconclusive`` also needs ``p <= (1 - level) / 2``. Few rows
have few arrangements, so p has a floor: 1/20 = 0.05 for 3 rows per group,
1/70 for 4; 1/2^n for n paired rows (1/8 for 3, 1/32 for 5); 1/n! for a
correlation or slope of n rows (1/24 for 4). A claim on 3 seeds per group
needs ``level: 0.9`` to reach a verdict at all.

Verdicts: ``reproduced`` when the whole interval lies on the paper's side of
0 (and the permutation test agrees), ``contradicted`` when it lies wholly on
the other side (likewise), ``inconclusive`` otherwise (also with too few
rows: fewer than 2 per group or paired rows, or 3 (x, y) pairs);
``pending`` while a stage of the claim has cells not done (the statistic on
the rows done so far is still shown, as provisional); ``error`` for a claim
that cannot be evaluated (e.g. a column no cell wrote). With ``by``, the
claim is evaluated within each value (rows ``<id>[<by>=<value>]``) and its
own row holds for all of them: ``contradicted`` when one part is,
``reproduced`` when every part is, else ``inconclusive``; its value and
interval are those of the weakest part.

Imports no TensorFlow (docs/architecture.md, Layers).
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfrobust.reports.files import atomic_write_text
from tfrobust.reports.frame import StudyData, load_study, require_columns
from tfrobust.reports.html import SCROLL_CLASS, format_value
from tfrobust.reports.items.common import numeric_column, select_rows
from tfrobust.reports.resampling import (
    arrangements,
    bootstrap_interval,
    paired_statistic,
    permutation_p,
    sign_flips,
)

__all__ = ["CLAIMS_NAME", "CLAIM_COLUMNS", "CLAIM_TESTS", "RESAMPLES", "SEED", "VERDICTS", "bootstrap_interval",
           "check_claim", "check_claims_section", "claim_references", "claims_html", "claims_of", "evaluate_claim",
           "evaluate_claims", "permutation_p", "verdict_of", "write_claims"]

CLAIMS_NAME = "claims.csv"
#: Columns of :func:`evaluate_claims` and ``claims.csv``.
CLAIM_COLUMNS = ("id", "paper", "statistic", "value", "low", "high", "n", "level", "verdict", "note")
VERDICTS = ("reproduced", "contradicted", "inconclusive", "pending", "error")
RESAMPLES = 2000
SEED = 0
#: test -> (required fields, optional fields) besides the common ones.
CLAIM_TESTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "difference": (("y", "group", "a", "b", "direction"), ()),
    "paired": (("y", "minus", "direction"), ()),
    "correlation": (("x", "y", "direction"), ("method",)),
    "slope": (("x", "y", "direction"), ()),
}
_COMMON = ("id", "paper", "test", "stages", "long", "where", "by", "level")
_DIRECTIONS = {"difference": {"greater": 1, "less": -1}, "paired": {"greater": 1, "less": -1},
               "correlation": {"positive": 1, "negative": -1},
               "slope": {"positive": 1, "negative": -1}}
_METHODS = ("spearman", "pearson")
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_MIN_ROWS = {"difference": 2, "paired": 2, "correlation": 3, "slope": 3}


# ---------------------------------------------------------------- validation


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _reference(value: Any, stages: Sequence[str], where: str) -> str:
    """A column reference: a grid key, or ``stage.metric`` of one of the claim's stages."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: expected a column name (a grid key or stage.metric), got {value!r}")
    stage, dot, metric = value.partition(".")
    if dot and (not metric or stage not in stages):
        raise ValueError(f"{where}: {value!r} refers to stage {stage!r}, which is not in the claim's stages "
                         f"[{', '.join(stages)}]")
    return value


def check_claim(claim: Any, *, where: str = "claims[0]", stages: Collection[str] | None = None) -> dict[str, Any]:
    """Validates one claim without reading any file (see the module docstring).

    Args:
        claim: the claim mapping.
        where: its position for messages (``claims[2]``); once its id is known, messages
            name ``claims.<id>.<field>``.
        stages: the study's stage names (None: not checked).

    Returns:
        The claim normalised: ``stages`` a list, ``level`` a float, ``method`` filled in for a correlation.

    Raises:
        ValueError: one line naming the claim and the field.
    """
    if not isinstance(claim, Mapping):
        raise ValueError(f"{where}: expected a mapping with id, paper, stages, test and its fields, got {claim!r}")
    claim_id = claim.get("id")
    if not isinstance(claim_id, str) or not _ID.match(claim_id):
        raise ValueError(f"{where}.id: expected a letter then letters, digits, _ or -, got {claim_id!r}")
    where = f"claims.{claim_id}"
    test = claim.get("test")
    if test not in CLAIM_TESTS:
        raise ValueError(f"{where}.test: unknown test {test!r}; tests: {', '.join(CLAIM_TESTS)}")
    required, optional = CLAIM_TESTS[test]
    known = (*_COMMON, *required, *optional)
    unknown = [str(k) for k in claim if k not in known]
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: unknown field for a {test} claim; fields: {', '.join(known)}")
    for field in ("paper", "stages", *required):
        if claim.get(field) is None:
            raise ValueError(f"{where}.{field}: required for a {test} claim")
    out = dict(claim)
    if not isinstance(claim["paper"], str) or not claim["paper"].strip():
        raise ValueError(f"{where}.paper: expected the paper's words with their section or figure")
    used = [claim["stages"]] if isinstance(claim["stages"], str) else claim["stages"]
    if not isinstance(used, list) or not used or not all(isinstance(s, str) and s for s in used):
        raise ValueError(f"{where}.stages: expected a stage name or a non-empty list of them, got {claim['stages']!r}")
    if stages is not None:
        bad = [s for s in used if s not in stages]
        if bad:
            raise ValueError(f"{where}.stages: unknown stage {bad[0]!r}; stages: {', '.join(stages)}")
    out["stages"] = list(used)
    if claim.get("long") is not None and claim["long"] not in used:
        raise ValueError(f"{where}.long: expected one of the claim's stages [{', '.join(used)}], got {claim['long']!r}")
    for field in ("x", "y", "minus", "group", "by"):
        if claim.get(field) is not None:
            _reference(claim[field], used, f"{where}.{field}")
    if claim.get("where") is not None:
        rows = claim["where"]
        if not isinstance(rows, Mapping) or not rows:
            raise ValueError(f"{where}.where: expected {{column: value}}, got {rows!r}")
        for ref, wanted in rows.items():
            _reference(ref, used, f"{where}.where")
            values = wanted if isinstance(wanted, list) else [wanted]
            if not values or not all(_scalar(v) for v in values):
                raise ValueError(f"{where}.where.{ref}: expected a value or a list of values, got {wanted!r}")
    directions = _DIRECTIONS[test]
    if claim["direction"] not in directions:
        raise ValueError(f"{where}.direction: expected {' or '.join(directions)} for a {test} claim, "
                         f"got {claim['direction']!r}")
    if test == "difference":
        for field in ("a", "b"):
            if not _scalar(claim[field]):
                raise ValueError(f"{where}.{field}: expected a value of {claim['group']!r}, got {claim[field]!r}")
        if str(claim["a"]) == str(claim["b"]):
            raise ValueError(f"{where}.b: must differ from a ({claim['a']!r})")
    if test == "correlation":
        method = out.setdefault("method", "spearman")
        if method not in _METHODS:
            raise ValueError(f"{where}.method: expected {' or '.join(_METHODS)}, got {method!r}")
    level = claim.get("level", 0.95)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.5 <= float(level) < 1:
        raise ValueError(f"{where}.level: expected a confidence level in [0.5, 1), e.g. 0.95, got {level!r}")
    out["level"] = float(level)
    return out


def check_claims_section(section: Any, *, stages: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Validates a study's ``claims`` list without reading any file.

    Args:
        section: the parsed ``claims`` list, or None.
        stages: the study's stage names (None: not checked).

    Returns:
        The claims, each normalised by :func:`check_claim`.

    Raises:
        ValueError: one line naming the claim and the field (``claims.<id>.<field>: ...``).
    """
    if section is None:
        return []
    if not isinstance(section, list):
        raise ValueError(f"claims: expected a list of claims, got {section!r}")
    out: list[dict[str, Any]] = []
    for i, claim in enumerate(section):
        checked = check_claim(claim, where=f"claims[{i}]", stages=stages)
        if any(c["id"] == checked["id"] for c in out):
            raise ValueError(f"claims[{i}].id: {checked['id']!r} is used by an earlier claim")
        out.append(checked)
    return out


def claim_references(claim: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, column reference)`` of every column a claim names (x, y, minus, group, by, where)."""
    refs = [(f, str(claim[f])) for f in ("x", "y", "minus", "group", "by") if claim.get(f) is not None]
    refs.extend(("where", str(k)) for k in (claim.get("where") or {}))
    return refs


def verdict_of(low: float, high: float, sign: int) -> str:
    """``reproduced`` when [low, high] lies wholly on the ``sign`` side of 0 (0 excluded),
    ``contradicted`` when wholly on the other side, else ``inconclusive``."""
    if low > 0 or high < 0:
        return "reproduced" if (low > 0) == (sign > 0) else "contradicted"
    return "inconclusive"


def _description(claim: Mapping[str, Any]) -> str:
    test, direction = claim["test"], claim["direction"]
    relation = ">" if _DIRECTIONS[test][direction] > 0 else "<"
    if test == "difference":
        g = claim["group"]
        return f"mean {claim['y']} at {g}={claim['a']} − at {g}={claim['b']} {relation} 0"
    if test == "paired":
        return f"mean {claim['y']} − {claim['minus']} {relation} 0"
    if test == "slope":
        return f"slope of {claim['y']} on {claim['x']} {relation} 0"
    return f"{claim.get('method', 'spearman')}({claim['x']}, {claim['y']}) {relation} 0"


def _finite(frame: pd.DataFrame, columns: Sequence[str], field: Sequence[str]) -> list[np.ndarray]:
    values = [numeric_column(frame[c], f, c).to_numpy(dtype=np.float64) for c, f in zip(columns, field)]
    keep = np.logical_and.reduce([np.isfinite(v) for v in values])
    return [v[keep] for v in values]


def _evaluate_rows(frame: pd.DataFrame, claim: Mapping[str, Any], *, resamples: int,
                   seed: int) -> dict[str, Any]:
    """value, low, high, n and note of one claim on one frame (verdict ``inconclusive`` or by the interval)."""
    test, level = claim["test"], float(claim.get("level", 0.95))
    sign = _DIRECTIONS[test][claim["direction"]]
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"value": None, "low": None, "high": None, "n": 0, "verdict": "inconclusive", "note": ""}
    need = _MIN_ROWS[test]
    if test == "difference":
        require_columns(frame, [claim["y"]], where="y")
        require_columns(frame, [claim["group"]], where="group")
        (ya,) = _finite(select_rows(frame, {claim["group"]: claim["a"]}), [claim["y"]], ["y"])
        (yb,) = _finite(select_rows(frame, {claim["group"]: claim["b"]}), [claim["y"]], ["y"])
        out["n"] = int(ya.size + yb.size)
        counts = f"n = {ya.size} ({claim['group']}={claim['a']}) + {yb.size} ({claim['group']}={claim['b']})"
        if ya.size and yb.size:
            out["value"] = float(ya.mean() - yb.mean())
        if min(ya.size, yb.size) < need:
            out["note"] = f"n too small: {counts}, need {need} per group"
            return out
        stats = (ya[rng.integers(0, ya.size, (resamples, ya.size))].mean(axis=1)
                 - yb[rng.integers(0, yb.size, (resamples, yb.size))].mean(axis=1))
        pooled = np.concatenate([ya, yb])
        labels, exact = arrangements(pooled.size, ya.size, resamples, rng)
        permuted = pooled[labels[:, :ya.size]].mean(axis=1) - pooled[labels[:, ya.size:]].mean(axis=1)
        notes = [counts]
    elif test == "paired":
        require_columns(frame, [claim["y"]], where="y")
        require_columns(frame, [claim["minus"]], where="minus")
        y, minus = _finite(frame, [claim["y"], claim["minus"]], ["y", "minus"])
        d = y - minus
        out["n"] = int(d.size)
        if d.size:
            out["value"] = float(d.mean())
        if d.size < need:
            out["note"] = f"n too small: {d.size} finite (y, minus) pair(s), need {need}"
            return out
        stats = d[rng.integers(0, d.size, (resamples, d.size))].mean(axis=1)
        signs, exact = sign_flips(d.size, resamples, rng)
        permuted = (signs * d).mean(axis=1)
        notes = []
    else:
        require_columns(frame, [claim["x"]], where="x")
        require_columns(frame, [claim["y"]], where="y")
        x, y = _finite(frame, [claim["x"], claim["y"]], ["x", "y"])
        out["n"] = int(x.size)
        method = claim.get("method", "spearman")
        if x.size >= 2:
            value = float(paired_statistic(test, method, x[None, :], y[None, :])[0])
            out["value"] = None if math.isnan(value) else value
        if x.size < need:
            out["note"] = f"n too small: {x.size} finite (x, y) pair(s), need {need}"
            return out
        if out["value"] is None:
            out["note"] = f"statistic undefined: {'x' if np.ptp(x) == 0 else 'y'} is constant"
            return out
        index = rng.integers(0, x.size, (resamples, x.size))
        stats = paired_statistic(test, method, x[index], y[index])
        order, exact = arrangements(y.size, None, resamples, rng)
        permuted = paired_statistic(test, method, np.broadcast_to(x, order.shape), y[order])
        notes = []
    low, high, undefined = bootstrap_interval(stats, level)
    if undefined:
        notes.append(f"{undefined} of {resamples} resamples undefined (constant x or y)")
    verdict = verdict_of(low, high, sign)
    side = 1 if low > 0 else -1 if high < 0 else (1 if out["value"] > 0 else -1)
    p_value = permutation_p(float(out["value"]), permuted, side, exact=exact)
    notes.append(f"permutation p = {p_value:.3g} ({'upper' if side > 0 else 'lower'} tail, "
                 f"{'all ' if exact else ''}{permuted.size} {'arrangements' if exact else 'random ones'})")
    if verdict != "inconclusive" and p_value > (1.0 - level) / 2.0 + 1e-12:  # 1 - 0.9 is not 0.1 in floats
        verdict = "inconclusive"
        notes[-1] += f" > {(1.0 - level) / 2.0:.3g}: the interval alone excludes 0"
    out.update(low=low, high=high, verdict=verdict, note="; ".join(notes))
    return out


def _pending_note(data: StudyData, stages: Sequence[str]) -> str:
    parts = []
    for stage in stages:
        done, total = data.stage_counts(stage)
        if done < total:
            parts.append(f"{done} of {total} cells of stage {stage!r} done")
    return "; ".join(parts)


def _combine(parts: Sequence[dict[str, Any]], sign: int, by: str) -> dict[str, Any]:
    """The claim's own row over its ``by`` parts: the claim must hold in every part."""
    verdicts = [p["verdict"] for p in parts]
    if "contradicted" in verdicts:
        verdict = "contradicted"
    elif verdicts and all(v == "reproduced" for v in verdicts):
        verdict = "reproduced"
    else:
        verdict = "inconclusive"
    bounded = [p for p in parts if p["low"] is not None]
    out: dict[str, Any] = {"value": None, "low": None, "high": None, "n": sum(int(p["n"]) for p in parts),
                           "verdict": verdict}
    if bounded:
        weakest = min(bounded, key=lambda p: p["low"]) if sign > 0 else max(bounded, key=lambda p: p["high"])
        out.update(value=weakest["value"], low=weakest["low"], high=weakest["high"])
        out["note"] = f"{len(parts)} values of {by}; weakest: {weakest['id']}"
    else:
        out["note"] = f"{len(parts)} values of {by}" if parts else f"no rows, so no values of {by}"
    return out


def evaluate_claim(data: StudyData, claim: Mapping[str, Any], *, resamples: int = RESAMPLES,
                   seed: int = SEED) -> list[dict[str, Any]]:
    """The rows of one claim (:data:`CLAIM_COLUMNS`): its own, then one per ``by`` value. Never raises:
    a claim that cannot be evaluated gets the verdict ``error`` with the message as its note."""
    claim = dict(claim)
    base = {"id": str(claim.get("id", "?")), "paper": str(claim.get("paper", "")), "statistic": "",
            "value": None, "low": None, "high": None, "n": 0, "level": claim.get("level", 0.95),
            "verdict": "error", "note": ""}
    try:
        claim = check_claim(claim, where=f"claims.{base['id']}")
        base.update(statistic=_description(claim), level=claim["level"])
        pending = _pending_note(data, claim["stages"])
        frame = select_rows(data.frame(claim["stages"], long=claim.get("long")), claim.get("where"))
        if frame.empty and pending:
            return [{**base, "verdict": "pending", "note": f"not computed yet: {pending}"}]
        sign = _DIRECTIONS[claim["test"]][claim["direction"]]
        by = claim.get("by")
        rows: list[dict[str, Any]]
        if by is None:
            rows = [{**base, **_evaluate_rows(frame, claim, resamples=resamples, seed=seed)}]
        else:
            require_columns(frame, [by], where="by")
            parts = []
            for value in dict.fromkeys(frame[by].tolist()):
                part = select_rows(frame, {by: value})
                parts.append({**base, "id": f"{base['id']}[{by}={format_value(value)}]",
                              **_evaluate_rows(part, claim, resamples=resamples, seed=seed)})
            rows = [{**base, **_combine(parts, sign, by), "statistic": f"{base['statistic']} for every {by}"},
                    *parts]
        if pending:
            for row in rows:
                row["note"] = "; ".join(t for t in (f"provisional: {pending}", row["note"]) if t)
                row["verdict"] = "pending"
        return rows
    except ValueError as err:
        text = " ".join(str(err).split())
        prefix = f"claims.{base['id']}"
        return [{**base, "verdict": "error", "note": text if text.startswith(prefix) else f"{prefix}.{text}"}]


def evaluate_claims(data: StudyData, claims: Sequence[Mapping[str, Any]], *, resamples: int = RESAMPLES,
                    seed: int = SEED) -> pd.DataFrame:
    """Verdicts of a study's claims (see the module docstring).

    Args:
        data: the study (:func:`tfrobust.reports.frame.load_study`).
        claims: the validated claims (:func:`check_claims_section`).
        resamples: bootstrap resamples per claim.
        seed: the bootstrap generator's seed, the same for every claim.

    Returns:
        One row per claim (and per ``by`` value), columns :data:`CLAIM_COLUMNS`: ``statistic``
        (what is tested, with the paper's side of 0), ``value`` (on all rows), ``low`` / ``high``
        (the interval; empty without one), ``n`` (rows used), ``level``, ``verdict`` (one of
        :data:`VERDICTS`) and ``note`` (why inconclusive, pending or in error; group sizes).
    """
    rows = [row for claim in claims for row in evaluate_claim(data, claim, resamples=resamples, seed=seed)]
    return pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))


def claims_of(data: StudyData) -> list[dict[str, Any]]:
    """The claims recorded in a study's ledger (meta ``claims``, JSON; empty when none or unreadable)."""
    try:
        claims = json.loads(data.meta.get("claims") or "[]")
    except ValueError:
        return []
    return [c for c in claims if isinstance(c, dict)] if isinstance(claims, list) else []


def _csv_text(table: pd.DataFrame) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CLAIM_COLUMNS)
    for row in table.itertuples(index=False, name=None):
        writer.writerow(["" if v is None or (isinstance(v, float) and math.isnan(v)) else
                         repr(float(v)) if isinstance(v, float) else v for v in row])
    return buffer.getvalue()


def write_claims(study_dir: str | os.PathLike[str], *, data: StudyData | None = None,
                 table: pd.DataFrame | None = None) -> Path | None:
    """Evaluates a study's claims and writes ``claims.csv`` (atomically).

    Args:
        study_dir: the study directory.
        data: the loaded study (default: :func:`~tfrobust.reports.frame.load_study` of ``study_dir``).
        table: the verdicts already evaluated (:func:`evaluate_claims`), to write as they are.

    Returns:
        The path written, or None for a study without claims (an earlier ``claims.csv`` then
        keeps only its header, so no stale verdict stays behind).

    Raises:
        FileNotFoundError: not a study directory.
    """
    data = load_study(study_dir) if data is None else data
    path = Path(study_dir) / CLAIMS_NAME
    claims = claims_of(data)
    if table is None:
        if not claims:
            if path.is_file():
                atomic_write_text(path, _csv_text(pd.DataFrame(columns=list(CLAIM_COLUMNS))))
            return None
        table = evaluate_claims(data, claims)
    return atomic_write_text(path, _csv_text(table))


_MARKS = {"reproduced": ("✓", "#060"), "contradicted": ("✗", "#a00"), "inconclusive": ("?", "#a60"),
          "pending": ("…", "#666"), "error": ("!", "#a00")}


def _number(value: Any) -> str:
    return format_value(None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value))


def claims_html(table: pd.DataFrame) -> str:
    """The verdict table of a report (``<section id="claims">``); "" when there are no claims."""
    if table.empty:
        return ""
    esc = html.escape
    counts = table.loc[~table["id"].astype(str).str.contains("[", regex=False), "verdict"].value_counts()  # no parts
    summary = ", ".join(f"{int(counts[v])} {v}" for v in VERDICTS if v in counts.index)
    head = "".join(f"<th>{h}</th>" for h in ("verdict", "claim", "paper", "statistic", "value", "interval",
                                             "n", "note"))
    body = []
    for row in table.to_dict("records"):
        mark, colour = _MARKS.get(str(row["verdict"]), ("", "#222"))
        level = row["level"]
        interval = "" if row["low"] is None or pd.isna(row["low"]) else \
            f"[{_number(row['low'])}, {_number(row['high'])}] ({float(level):.0%})"
        cells = [f'<td style="color:{colour};font-weight:bold">{mark} {esc(str(row["verdict"]))}</td>',
                 f"<td><code>{esc(str(row['id']))}</code></td>", f"<td>{esc(str(row['paper']))}</td>",
                 f"<td>{esc(str(row['statistic']))}</td>", f'<td class="num">{esc(_number(row["value"]))}</td>',
                 f'<td class="num">{esc(interval)}</td>', f'<td class="num">{int(row["n"])}</td>',
                 f"<td>{esc(str(row['note']))}</td>"]
        body.append(f'<tr class="claim-{esc(str(row["verdict"]), quote=True)}">{"".join(cells)}</tr>')
    return "\n".join([
        '<section id="claims"><h2>Claims</h2>',
        f'<p class="note">{esc(summary)}. Interval: percentile bootstrap over the rows (cells, seeds) of each '
        f"claim, {RESAMPLES} resamples; reproduced when it lies wholly on the paper's side of 0 and a one-sided "
        f"permutation test agrees (p &le; (1 &minus; level) / 2); contradicted likewise on the other side "
        f'(<a href="{CLAIMS_NAME}">{CLAIMS_NAME}</a>)</p>',
        f'<div class="{SCROLL_CLASS}"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        "</div>",
        "</section>"])
