"""The shipped study configs' claims (issue 19): every paper config states some, each names its source in
the paper, and ``study check`` accepts them for every preset.

``study check`` can check a metric name only where the stage's kind declares its metrics (the ``attack``
kind); for the other kinds a misspelt metric would pass it and surface only after a run, as a claim in
``error``. So the metrics of those kinds are re-derived here from each cell's checked params, after the
kinds' documented return values (:data:`KIND_METRICS`), and every ``stage.metric`` a claim names must be
one of them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tfrobust.studies import load_study_spec
from tfrobust.studies.check import check_cell, check_study
from tfrobust.studies.spec import StudySpec

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "studies"
PAPER_CONFIGS = sorted(p for p in CONFIGS.glob("*.yaml") if p.stem != "demo")
#: A config's file prefix -> how its claims name the paper.
AUTHORS = {"kim2019": "Kim et al. 2019", "tsipras2019": "Tsipras et al. 2019", "noack2021": "Noack et al. 2021"}
#: A place in the paper: a section, figure, table, theorem or appendix section with its number.
PLACE = re.compile(r"\b(sec\.|section|fig\.|figure|table|theorem|appendix)\s+[A-G]?\d", re.IGNORECASE)


def _number(value: Any) -> str:
    return f"{float(value):g}"


def _listed(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _toy(params: Mapping[str, Any]) -> set[str]:
    return {f"{m}_{_number(e)}" for e in _listed(params["eps"]) for m in ("tilt", "clean_accuracy", "robust_accuracy")}


def _roar(params: Mapping[str, Any]) -> set[str]:
    return {f"{s}_{mode}_{method}" for s in ("mu", "area") for mode in _listed(params.get("modes", "roar"))
            for method in _listed(params["methods"])} | {"members"}


def _linear(params: Mapping[str, Any]) -> set[str]:
    parts = _listed(params["parts"])
    out = {"train_examples", "test_examples"}
    if "table" in parts:
        for e in map(_number, params["eps_train"]):
            out |= {f"standard_train_{e}", f"standard_test_{e}", f"l1_weight_{e}"}
            out |= {f"adversarial_test_{e}@{_number(t)}" for t in params["eps_test"]}
    if "top_k" in parts:
        out |= {f"standard_test_top{int(k)}" for k in params["top_k"]}
    return out


def _tsipras(params: Mapping[str, Any]) -> set[str]:
    keys = ("standard_accuracy", "adversarial_accuracy", "adversarial_accuracy_pgd", "population_standard_accuracy")
    out = {f"{k}_{t}" for k in keys for t in _listed(params.get("trainings", ("standard", "adversarial")))}
    return out | ({"theorem_classifiers", "theorem_holds"} if params.get("theorem", True) else set())


#: kind -> its metrics for a cell's checked params (the kinds' docstrings, Returns; ``train``: the run's
#: metrics.json, tfrobust.training.run).
KIND_METRICS: dict[str, Callable[[Mapping[str, Any]], set[str]]] = {
    "train": lambda p: {"test_accuracy", "test_loss", "train_examples", "test_examples"},
    "toy": _toy,
    "roar": _roar,
    "linear": _linear,
    "tsipras": _tsipras,
    "manifold": lambda p: {"n", "attack_success", "clean_accuracy", "n_adversarial", "median_clean", "mean_clean",
                           "median_adversarial", "mean_adversarial"},
    "jacobian": lambda p: {"jacobian_label_norm", "jacobian_other_norm", "n", "target_cosine", "cosine_n"},
    "examples": lambda p: {"fooled", "mean_l2", "mean_linf", "n"},
    "gradients": lambda p: {"n", *(f"mean_abs_{m}" for m in _listed(p["methods"]))},
}


def _spec(path: Path) -> StudySpec:
    return load_study_spec(str(path))


def _undocumented_metrics(spec: StudySpec, preset: str | None) -> list[str]:
    """``claims.<id>.<field>: stage.metric`` for each claim column of a non-declaring kind that its cells
    will not write (per :data:`KIND_METRICS`)."""
    kind_of = {stage.name: stage.kind for stage in spec.stages}
    produced: dict[str, set[str]] = {}
    for cell in spec.cells(preset):
        if cell.kind in KIND_METRICS:
            produced.setdefault(cell.stage, set()).update(KIND_METRICS[cell.kind](check_cell(cell)))
    missing = []
    for claim in spec.claims:
        for field in ("x", "y", "minus", "group", "by", *(f"where:{k}" for k in claim.get("where") or {})):
            ref = field.partition(":")[2] if field.startswith("where:") else claim.get(field)
            stage, dot, metric = str(ref).partition(".")
            if ref is None or not dot or stage == claim.get("long"):
                continue
            assert kind_of[stage] == "attack" or kind_of[stage] in KIND_METRICS, f"no oracle for kind {kind_of[stage]}"
            if kind_of[stage] in KIND_METRICS and metric not in produced.get(stage, set()):
                missing.append(f"claims.{claim['id']}.{field}: {ref}")
    return missing


@pytest.mark.parametrize("path", PAPER_CONFIGS, ids=lambda p: p.stem)
def test_every_paper_config_states_claims_with_their_place_in_the_paper(path):
    spec = _spec(path)
    assert spec.claims, f"{path.name}: no claims"
    author = AUTHORS[path.stem.split("_")[0]]
    for claim in spec.claims:
        paper = claim["paper"]
        assert paper.startswith(author), f"{path.name}: claims.{claim['id']}.paper does not name {author}: {paper!r}"
        assert PLACE.search(paper), f"{path.name}: claims.{claim['id']}.paper names no section/figure/table: {paper!r}"
        assert "  " not in paper and "\n" not in paper  # folded YAML: one line of single spaces


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_study_check_accepts_every_preset_and_every_claim_metric_exists(path):
    spec = _spec(path)
    assert spec.claims, f"{path.name}: no claims"
    for preset in (None, *spec.presets):
        assert check_study(spec, preset), f"{path.name}: preset {preset} has no cells"
        assert _undocumented_metrics(spec, preset) == [], f"{path.name}, preset {preset}"


def test_the_metric_oracle_catches_a_misspelt_metric_that_study_check_lets_through():
    """The oracle above must be able to fail: a claim on a metric the toy kind never writes."""
    spec = _spec(CONFIGS / "kim2019_fig3b.yaml")
    claims = [dict(c) for c in spec.claims]
    claims[0]["y"] = "toy.tilt_0.3"  # the toy trains eps 0, 0.25, 0.5 only
    bad = dataclasses.replace(spec, claims=tuple(claims))
    assert _undocumented_metrics(spec, None) == []
    check_study(bad)  # the toy kind declares no metrics, so study check passes
    assert _undocumented_metrics(bad, None) == [f"claims.{claims[0]['id']}.y: toy.tilt_0.3"]
