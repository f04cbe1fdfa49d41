"""ROAR/KAR runner on a planted-feature dataset: the label lives in known pixels.

Oracle: a linear model whose weights sit on the planted pixels only, so its
loss gradient ranks exactly those pixels first. Anti-oracle: weights on every
other pixel. With the planted fraction occluded, ROAR of the oracle leaves
no signal (chance), random leaves most of it, the anti-oracle all of it;
KAR the other way round.
"""

import json

import keras
import numpy as np
import pytest

from tfrobust.config import ConfigError
from tfrobust.data import Dataset
from tfrobust.evaluation.roar import roar_members, run_roar
from tfrobust.registry import ATTRIBUTIONS

H = W = 8
PLANTED = np.zeros((H, W), bool)
PLANTED[2:4, 2:6] = True                      # 8 of 64 pixels: fraction 0.125
FRACTION = PLANTED.sum() / PLANTED.size


def planted(n, seed, split):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype("int32")
    x = rng.uniform(0.3, 0.7, size=(n, H, W, 1)).astype("float32")
    signal = np.where(y == 1, 0.95, 0.05).astype("float32")
    x[:, PLANTED, 0] = signal[:, None]
    return Dataset(name="planted", split=split, x=x, y=y, bounds=(0.0, 1.0), num_classes=2,
                   class_names=("a", "b"), source="synthetic")


def linear_on(mask):
    w = np.where(mask, 1.0, 0.0).reshape(-1).astype("float32")
    inputs = keras.Input((H, W, 1))
    flat = keras.layers.Flatten()(inputs)
    out = keras.layers.Dense(2, kernel_initializer=keras.initializers.Constant(np.stack([-w, w], 1)))(flat)
    return keras.Model(inputs, out)


TRAIN, TEST = planted(512, 0, "train"), planted(256, 1, "test")
OPTIONS = dict(methods=["gradient", "random"], arch="linear", fractions=[FRACTION, 0.5, 1 - FRACTION], repeats=2,
               modes=("roar", "kar"), epochs=8, batch_size=64, group_size=8, seed=0, progress=False)


def curve(result, method, mode, fraction):
    return np.mean([r["accuracy"] for r in result.rows
                    if r["method"] == method and r["mode"] == mode and r["fraction"] == fraction])


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    out = tmp_path_factory.mktemp("oracle")
    return run_roar(linear_on(PLANTED), TRAIN, TEST, out_dir=out, **OPTIONS)


@pytest.fixture(scope="module")
def anti(tmp_path_factory):
    out = tmp_path_factory.mktemp("anti")
    return run_roar(linear_on(~PLANTED), TRAIN, TEST, out_dir=out, **OPTIONS)


def test_oracle_random_anti_oracle_order(oracle, anti):
    clean = curve(oracle, "gradient", "roar", 0.0)
    assert clean > 0.95                                     # the planted pixels make it easy
    roar = [curve(oracle, "gradient", "roar", FRACTION), curve(oracle, "random", "roar", FRACTION),
            curve(anti, "gradient", "roar", FRACTION)]
    assert roar[0] < 0.65 < 0.9 < roar[1] and roar[2] > 0.95   # oracle at chance, random between
    # KAR at 1 - FRACTION keeps exactly the planted pixels for the oracle, none for the anti-oracle.
    kar = [curve(oracle, "gradient", "kar", 1 - FRACTION), curve(oracle, "random", "kar", 1 - FRACTION),
           curve(anti, "gradient", "kar", 1 - FRACTION)]
    assert kar[0] > 0.95 > kar[1] > kar[2] and kar[2] < 0.65
    mu = {(s["method"], s["mode"]): s["mu"] for s in oracle.scores}
    mu_anti = {(s["method"], s["mode"]): s["mu"] for s in anti.scores}
    # the random baseline (model-independent maps) lies between the oracle and the anti-oracle in both runs
    area = {(s["method"], s["mode"]): s["area"] for s in oracle.scores}
    area_anti = {(s["method"], s["mode"]): s["area"] for s in anti.scores}
    for mode in ("roar", "kar"):
        assert area[("gradient", mode)] > max(area[("random", mode)], area_anti[("random", mode)])
        assert min(area[("random", mode)], area_anti[("random", mode)]) > area_anti[("gradient", mode)]
    assert mu[("gradient", "roar")] > 0 > mu_anti[("gradient", "roar")]
    assert mu[("gradient", "kar")] > 0 > mu_anti[("gradient", "kar")]


def test_tables_and_files(oracle):
    out = oracle.out_dir
    rows = (out / "roar.csv").read_text().splitlines()
    assert rows[0] == "method,mode,fraction,repeat,accuracy"
    # 2 methods x 2 modes x (0 + 3 fractions) x 2 repeats
    assert len(rows) - 1 == 2 * 2 * 4 * 2
    assert (out / "scores.csv").read_text().splitlines()[0] == "method,mode,area,mu"
    # The f = 0 point is one set of classifiers shared by every curve.
    zero = {r["accuracy"] for r in oracle.rows if r["fraction"] == 0.0 and r["repeat"] == 0}
    assert len(zero) == 1
    assert oracle.trained == len(roar_members(["gradient", "random"], OPTIONS["fractions"], 2, ("roar", "kar")))


def test_rerun_recomputes_nothing_and_interrupted_runs_resume(oracle, tmp_path, monkeypatch):
    again = run_roar(linear_on(PLANTED), TRAIN, TEST, out_dir=oracle.out_dir, **OPTIONS)
    assert again.trained == 0 and again.rows == oracle.rows
    # Interrupt a fresh run after its first group, then resume.
    import tfrobust.evaluation.roar as roar_module

    calls = []
    real = roar_module.fit_members

    def flaky(members, *args, **kwargs):
        calls.append(len(members))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(members, *args, **kwargs)

    monkeypatch.setattr(roar_module, "fit_members", flaky)
    options = {**OPTIONS, "modes": ("roar",)}
    with pytest.raises(KeyboardInterrupt):
        run_roar(linear_on(PLANTED), TRAIN, TEST, out_dir=tmp_path, **options)
    done = [p for p in (tmp_path / "members").rglob("*_r*.json")]
    assert len(done) == calls[0] == 8
    calls.clear()
    monkeypatch.setattr(roar_module, "fit_members", real)
    resumed = run_roar(linear_on(PLANTED), TRAIN, TEST, out_dir=tmp_path, **options)
    total = len(roar_members(["gradient", "random"], OPTIONS["fractions"], 2, ("roar",)))
    assert resumed.trained == total - 8 and resumed.reused == 8
    record = json.loads(done[0].read_text())
    assert set(record) >= {"member", "method", "mode", "fraction", "repeat", "accuracy"}


def test_sequential_and_batched_agree(tmp_path):
    options = {**OPTIONS, "methods": ["gradient"], "modes": ("roar",), "fractions": [0.5], "repeats": 1}
    batched = run_roar(linear_on(PLANTED), TRAIN, TEST, out_dir=tmp_path / "b", **options)
    sequential = run_roar(linear_on(PLANTED), TRAIN, TEST, out_dir=tmp_path / "s", batched=False,
                          **{k: v for k, v in options.items()})
    assert len(batched.rows) == len(sequential.rows) == 2  # f = 0 and f = 0.5, one repeat
    for a, b in zip(batched.rows, sequential.rows, strict=True):
        assert (a["method"], a["mode"], a["fraction"], a["repeat"]) == (b["method"], b["mode"], b["fraction"],
                                                                        b["repeat"])
        assert a["accuracy"] == pytest.approx(b["accuracy"], abs=0.02)


def test_method_options_are_validated_and_reach_the_attribution(tmp_path, monkeypatch):
    """Options go through the registry to the attribution (with the data's bounds) and key the ledger."""
    import tfrobust.evaluation.roar as roar_module

    seen = []

    def scaled(model, x, y, *, scale: float = 1.0, bounds: tuple[float, float] | None = None):
        """A test attribution: the input times ``scale``."""
        seen.append((scale, bounds))
        return np.asarray(x, np.float32) * scale

    ATTRIBUTIONS.add("scaled", scaled)
    monkeypatch.setattr(roar_module, "fit_members", lambda members, *a, **k: np.full(len(members), 0.5))
    small_train, small_test = planted(32, 0, "train"), planted(16, 1, "test")
    options = {**OPTIONS, "methods": ["scaled", "random"], "fractions": [0.5], "repeats": 1, "modes": ("roar",)}
    try:
        first = run_roar(linear_on(PLANTED), small_train, small_test, out_dir=tmp_path,
                         method_options={"scaled": {"scale": "1/2"}}, **options)
        assert seen and all(call == (0.5, (0.0, 1.0)) for call in seen)
        setting = json.loads(next((tmp_path / "members").glob("*/setting.json")).read_text())
        assert setting["method_options"] == {"scaled": {"scale": 0.5}}
        seen.clear()
        second = run_roar(linear_on(PLANTED), small_train, small_test, out_dir=tmp_path,
                          method_options={"scaled": {"scale": 2}}, **options)
        assert {call[0] for call in seen} == {2.0}
        assert first.trained == second.trained == 3 and second.reused == 0  # other options: another ledger
        with pytest.raises(ConfigError, match=r"^method_options\.scaled: attribution 'scaled' has no option 'scal'"):
            run_roar(linear_on(PLANTED), small_train, small_test, out_dir=tmp_path,
                     method_options={"scaled": {"scal": 2}}, **options)
        with pytest.raises(ConfigError, match=r"^method_options: smoothgrad not among the methods \(scaled, random\)"):
            run_roar(linear_on(PLANTED), small_train, small_test, out_dir=tmp_path,
                     method_options={"smoothgrad": {"samples": 2}}, **options)
    finally:
        ATTRIBUTIONS.remove("scaled")


@pytest.mark.parametrize("kwargs, message", [
    ({"methods": []}, "methods"),
    ({"methods": ["gradient", "saliency"]}, "unknown attribution 'saliency'; choose from"),
    ({"methods": ["gradient", "gradient"]}, "duplicates"),
    ({"fractions": [0.0, 0.5]}, "fractions"),
    ({"fractions": [0.5, 0.1]}, "increasing"),
    ({"repeats": 0}, "repeats"),
    ({"modes": ("remove",)}, "modes"),
    ({"group_size": 0}, "group_size"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_roar(linear_on(PLANTED), TRAIN, TEST, out_dir=tmp_path, **{**OPTIONS, **kwargs})
