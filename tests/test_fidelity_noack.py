"""Noack et al. 2021 fidelity choices, pinned with numbers (see docs/fidelity.md).

Each test computes the authors' formula by hand (numpy) for a tiny model and
compares it with the library's option, or checks that a broken configuration
is refused; the last tests load every Noack preset and check its attack steps.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tfrobust.attacks.pgd import PGD, check_step_length, pgd, step_length
from tfrobust.attribution import projection_vectors, smoothgrad
from tfrobust.attribution.smoothgrad import seed_tensor
from tfrobust.config import (
    ConfigError,
    OptimizerConfig,
    load_yaml,
    parse_number,
    train_config_from_dict,
)
from tfrobust.data import Dataset
from tfrobust.training.callbacks import BestCheckpoint, holdout_split
from tfrobust.training.interpretation import InterpretationRegularizedModel
from tfrobust.training.jacobian import JacobianRegularizedModel
from tfrobust.training.optimizers import CoupledDecaySGD, build_optimizer
from tfrobust.training.targets import compute_maps, threshold_upper

D, K, N = 6, 3, 5


def _linear(seed: int = 0, d: int = D, k: int = K) -> tuple[keras.Model, np.ndarray]:
    """logits = x @ W + b on (N, d) inputs; returns the model and W (d, k)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(d, k)).astype(np.float32)
    b = rng.normal(size=(k,)).astype(np.float32)
    model = keras.Sequential([keras.Input((d,)), keras.layers.Dense(k)])
    model.layers[0].set_weights([w, b])
    return model, w


def _batch(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, size=(N, D)).astype(np.float32), rng.integers(0, K, size=N).astype(np.int32)


# ---------------------------------------------------------------- item 2: IR magnitude


@pytest.mark.parametrize("magnitude", ["batch", "per_example"])
def test_ir_magnitude_term_equals_hand_computed_norm(magnitude):
    base, w = _linear()
    x, y = _batch()
    targets = np.random.default_rng(2).normal(size=(N, D)).astype(np.float32)
    ir = InterpretationRegularizedModel(base, lambda_d=0.7, lambda_m=0.3, magnitude=magnitude)
    xt = tf.constant(x)
    logits, grads = ir._forward(xt, tf.constant(y))
    values = ir.regularization(xt, tf.constant(y), logits, input_gradients=grads, side=tf.constant(targets))

    label_grads = w[:, y].T  # J_c(x_i) of a linear model: the label's weight column
    norms = np.linalg.norm(label_grads, axis=1)
    cos = np.sum(label_grads * targets, axis=1) / (norms * np.linalg.norm(targets, axis=1))
    size = math.sqrt(np.sum(label_grads ** 2)) if magnitude == "batch" else norms.mean()
    if magnitude == "batch":  # the authors' torch.norm(grads, p='fro') over the whole (B, ...) tensor
        assert size == pytest.approx(np.linalg.norm(label_grads.reshape(-1)))
        assert size > norms.mean() * 1.5  # about sqrt(B) x the per-example mean here
    assert float(values["ir_penalty"]) == pytest.approx(-0.7 * cos.mean() + 0.3 * size, rel=1e-5)
    assert float(values["label_jacobian_norm"]) == pytest.approx(norms.mean(), rel=1e-5)
    assert ir.get_config()["magnitude"] == magnitude


def test_ir_magnitude_refuses_unknown_choice():
    base, _ = _linear()
    with pytest.raises(ValueError, match="magnitude"):
        InterpretationRegularizedModel(base, magnitude="mean")


# ---------------------------------------------------------------- item 4: JR Hoffman form


def test_jr_squared_half_equals_hoffman_formula_for_linear_model():
    base, w = _linear()
    x, y = _batch()
    lam = 0.32
    jr = JacobianRegularizedModel(base, lambda_j=lam, n_proj=1, squared=True, half=True, seed=7)
    xt, yt = tf.constant(x), tf.constant(y)
    logits, grads = jr._forward(xt, yt)
    penalty = float(jr.regularization(xt, yt, logits, input_gradients=grads)["jr_penalty"])
    # facebookresearch JacobianReg: R = 1/2 * C * ||Jv||^2 / (n_proj * B), v_i unit in R^C; J^T v = W v.
    v = projection_vectors(K, 1, jr.step_seed(7), batch=N).numpy()[0]  # (N, K)
    jv = v @ w.T                                                         # (N, D): d(v_i . f(x_i))/dx_i
    hoffman = 0.5 * K * np.sum(jv ** 2) / (1 * N)
    assert penalty == pytest.approx(lam * hoffman, rel=1e-5)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)


def test_jr_exact_squared_half_is_half_the_frobenius_square():
    base, w = _linear()
    x, y = _batch()
    jr = JacobianRegularizedModel(base, lambda_j=0.1, n_proj="exact", squared=True, half=True)
    xt, yt = tf.constant(x), tf.constant(y)
    logits, grads = jr._forward(xt, yt)
    penalty = float(jr.regularization(xt, yt, logits, input_gradients=grads)["jr_penalty"])
    assert penalty == pytest.approx(0.1 * 0.5 * np.sum(w ** 2), rel=1e-5)
    plain = JacobianRegularizedModel(_linear()[0], lambda_j=0.1, n_proj="exact")
    logits, grads = plain._forward(xt, yt)
    assert float(plain.regularization(xt, yt, logits, input_gradients=grads)["jr_penalty"]) == pytest.approx(
        0.1 * np.sqrt(np.sum(w ** 2)), rel=1e-5)


# ---------------------------------------------------------------- items 1 and 3: PGD steps


def test_pgd_refuses_steps_longer_than_the_diameter_at_construction():
    with pytest.raises(ValueError, match="step_size"):
        PGD(norm="linf", eps=0.1, steps=10, step_size=0.25)
    with pytest.raises(ValueError, match="step_size"):
        PGD(norm="l2", eps=1.0, steps=10, step_size=2.5)
    PGD(norm="l2", eps=1.0, steps=10, step_size=2.0)         # exactly the diameter: allowed
    PGD(norm="linf", eps=0.1, steps=1)                       # one step (FGSM-like, default 2.5 eps): exempt
    PGD(norm="l2", eps=0.0, steps=10, step_size=1.0)          # eps 0 returns x


def test_sign_step_length_is_step_size_times_sqrt_d():
    assert step_length("l2", 0.1, l2_step="sign", dim=784) == pytest.approx(2.8)
    assert step_length("l2", 0.1, l2_step="normalized", dim=784) == pytest.approx(0.1)
    assert step_length("linf", 0.1, dim=784) == pytest.approx(0.1)


def test_old_table2_teachers_are_refused_with_their_step_lengths():
    # l2_step: sign with the default step 2.5 * eps / 7 on 32x32x3 images
    for eps, length in (("320/255", 24.8), ("80/255", 6.2)):
        attack = PGD(norm="l2", eps=eps, steps=7, l2_step="sign")
        with pytest.raises(ValueError, match=rf"step_size: .* length {length}"):
            attack.check_input_shape((32, 32, 3))


def test_sign_step_pgd_is_refused_at_the_first_call_before_the_model_runs():
    calls = []

    def model(x):
        calls.append(1)
        return tf.zeros((tf.shape(x)[0], 3))

    attack = PGD(norm="l2", eps=1.0, steps=7, l2_step="sign", step_size=0.1)  # d unknown yet: 0.1 <= 2
    x = np.zeros((2, 28, 28, 1), np.float32)
    with pytest.raises(ValueError, match="step_size"):
        attack(model, x, np.zeros(2, np.int32), bounds=(0, 1))  # 0.1 * 28 = 2.8 > 2
    with pytest.raises(ValueError, match="step_size"):
        pgd(model, x, np.zeros(2, np.int32), norm="l2", eps=1.0, steps=7, bounds=(0, 1), l2_step="sign",
            step_size=0.1)
    assert not calls


# ---------------------------------------------------------------- item 5: SmoothGrad targets


class _Square(keras.Model):
    """logits = (x * x) @ W: the label-logit gradient 2 x W[:, c] depends on the input."""

    def __init__(self, w: np.ndarray) -> None:
        super().__init__()
        self.w = tf.constant(w)

    def call(self, x, training=False):
        return tf.matmul(x * x, self.w)


def test_smoothgrad_clip_and_include_clean_equal_hand_average():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(D, K)).astype(np.float32)
    model = _Square(w)
    x, y = _batch()
    samples, sigma, seed = 4, 0.5, 11
    got = smoothgrad(model, x, y, sigma=sigma, samples=samples, seed=seed, bounds=(0.0, 1.0), clip=True,
                     include_clean=True, chunk=3).numpy()
    base = seed_tensor(seed)
    noisy = [np.clip(x + sigma * tf.random.stateless_normal(
        x.shape, seed=tf.random.experimental.stateless_fold_in(base, s)).numpy(), 0.0, 1.0) for s in range(samples)]
    inputs = [x] + noisy  # the clean image plus the clipped noisy copies, averaged
    expected = np.mean([2.0 * xi * w[:, y].T for xi in inputs], axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    plain = smoothgrad(model, x, y, sigma=sigma, samples=samples, seed=seed).numpy()  # default: neither
    unclipped = [x + sigma * tf.random.stateless_normal(
        x.shape, seed=tf.random.experimental.stateless_fold_in(base, s)).numpy() for s in range(samples)]
    np.testing.assert_allclose(plain, np.mean([2.0 * xi * w[:, y].T for xi in unclipped], axis=0),
                               rtol=1e-5, atol=1e-6)


def test_threshold_upper_keeps_only_the_upper_tail():
    maps = np.array([[1.0, 2.0, 3.0, 4.0, -10.0]], np.float32)
    mean, std = maps.mean(), maps.std()            # 0.0 and sqrt(26) = 5.099
    assert mean + std == pytest.approx(5.099, abs=1e-3)
    np.testing.assert_array_equal(threshold_upper(maps, 1.0), [[0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(threshold_upper(maps, 0.5), [[0, 0, 3, 4, 0]])  # > 2.55; -10 dropped too
    np.testing.assert_array_equal(threshold_upper(np.ones((1, 4), np.float32), 0.0), [[0, 0, 0, 0]])


def test_compute_maps_threshold_mode_upper(tmp_path):
    base, w = _linear()
    x, y = _batch()
    ds = Dataset(name="toy", split="train", x=x, y=y, bounds=(0.0, 1.0), num_classes=K,
                 class_names=tuple("abc"), source="synthetic")
    path = compute_maps(base, ds, method="logit_gradient", out_dir=tmp_path, threshold=0.5,
                        threshold_mode="upper", progress=False)
    np.testing.assert_allclose(np.load(path), threshold_upper(w[:, y].T, 0.5), rtol=1e-6)
    entry = json.loads((tmp_path / "saliency.json").read_text())["maps"]["logit_gradient"]
    assert entry["threshold_mode"] == "upper"
    with pytest.raises(ValueError, match="threshold_mode"):
        compute_maps(base, ds, method="logit_gradient", out_dir=tmp_path / "b", threshold_mode="lower")


def test_saliency_stage_passes_attribution_options_and_threshold_mode(monkeypatch, tmp_path):
    from tfrobust import training
    from tfrobust.studies import run_kind
    from tfrobust.training.rundir import Run

    seen = {}
    ds = Dataset(name="toy", split="train", x=_batch()[0], y=_batch()[1], bounds=(0.0, 1.0), num_classes=K,
                 class_names=tuple("abc"), source="synthetic")
    run = tmp_path / "teacher"
    run.mkdir()
    (run / "model.keras").write_text("")
    monkeypatch.setattr(Run, "load_split", lambda self, *a, **k: ds)
    monkeypatch.setattr(Run, "load_model", lambda self, *a, **k: None)
    monkeypatch.setattr(training, "compute_maps", lambda model, data, **kw: seen.setdefault(kw["method"], kw))
    monkeypatch.setattr(training, "saliency_index", lambda out: {"maps": {m: {"mean_abs": 0.0} for m in seen}})
    noack = {"samples": 50, "sigma": 0.15, "base": "logit_gradient", "clip": True, "include_clean": True}
    params = {"methods": "smoothgrad,logit_gradient", "threshold": 1.0, "threshold_mode": "upper",
              "options": {"smoothgrad": noack}}
    run_kind("saliency", params, {"teacher": run}, tmp_path)
    assert seen["smoothgrad"]["options"] == noack  # the data's bounds come from compute_maps (clip: true)
    assert seen["logit_gradient"]["options"] is None
    assert seen["smoothgrad"]["threshold_mode"] == seen["logit_gradient"]["threshold_mode"] == "upper"
    seen.clear()
    with pytest.raises(ConfigError, match="include_clean"):
        run_kind("saliency", {**params, "options": {"smoothgrad": {**noack, "include_clean": "yes"}}},
                 {"teacher": run}, tmp_path)
    assert not seen


# ---------------------------------------------------------------- item 6: weight decay, model selection


def test_coupled_weight_decay_matches_pytorch_sgd_momentum():
    # torch.optim.SGD(lr=0.1, momentum=0.9, weight_decay=0.5), zero loss gradient, w0 = 1:
    # buf1 = 0.5, w1 = 0.95; g2 = 0.475, buf2 = 0.925, w2 = 0.8575.
    config = OptimizerConfig(name="sgd", learning_rate=0.1, momentum=0.9, weight_decay=0.5,
                             weight_decay_mode="coupled")
    opt = build_optimizer(config, total_steps=10)
    assert isinstance(opt, CoupledDecaySGD)
    v = keras.Variable(np.ones(1, np.float32))
    for expected in (0.95, 0.8575):
        opt.apply_gradients([(tf.zeros(1), v)])
        assert float(v.numpy()[0]) == pytest.approx(expected, rel=1e-6)
    decoupled = build_optimizer(OptimizerConfig(name="sgd", learning_rate=0.1, momentum=0.9, weight_decay=0.5),
                                total_steps=10)
    u = keras.Variable(np.ones(1, np.float32))
    for _ in range(2):
        decoupled.apply_gradients([(tf.zeros(1), u)])
    assert float(u.numpy()[0]) == pytest.approx(0.9025, rel=1e-6)  # w *= 1 - lr * wd, momentum untouched
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(restored, CoupledDecaySGD) and restored.coupled_weight_decay == 0.5
    with pytest.raises(ConfigError, match="weight_decay_mode"):
        OptimizerConfig(weight_decay=1e-5, weight_decay_mode="l2")


def _tiny_model() -> keras.Model:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    return model


def _run_epochs(callback: BestCheckpoint, model: keras.Model, values, first: int = 0) -> list:
    callback.set_model(model)
    callback.on_train_begin()
    snapshots = []
    for epoch, value in enumerate(values, start=first):
        model.set_weights([np.full(w.shape, float(epoch), np.float32) for w in model.get_weights()])
        snapshots.append(epoch)
        callback.on_epoch_end(epoch, {"val_accuracy": value})
    callback.on_train_end()
    return snapshots


def test_best_checkpoint_restores_best_epoch_after_half(tmp_path):
    model = _tiny_model()
    cb = BestCheckpoint(epochs=4)  # candidates: 1-based epochs 3 and 4
    _run_epochs(cb, model, [0.99, 0.5, 0.6, 0.55])
    assert cb.best_epoch == 3 and cb.best_value == pytest.approx(0.6)
    assert all(np.all(w == 2.0) for w in model.get_weights())  # 0-based epoch 2 = epoch 3
    summary = cb.summary()
    assert summary["selection"] == "validation" and summary["selection_start_epoch"] == 3

    # test-set selection, resumed after epoch 3 from the file: epoch 4 (0.55) does not beat 0.6
    path = tmp_path / "best.weights.h5"
    first = BestCheckpoint(epochs=4, selection="test_set", filepath=path)
    _run_epochs(first, model, [0.1, 0.2, 0.6])
    resumed = BestCheckpoint(epochs=4, selection="test_set", filepath=path)
    _run_epochs(resumed, model, [0.55], first=3)
    assert resumed.best_epoch == 3
    assert all(np.all(w == 2.0) for w in model.get_weights())
    with pytest.raises(ValueError, match="val_accuracy"):
        BestCheckpoint(epochs=2).on_epoch_end(1, {"accuracy": 1.0})
    with pytest.raises(ValueError, match="selection"):
        BestCheckpoint(epochs=2, selection="test")


def test_best_checkpoint_in_fit_and_holdout_split():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    ds = Dataset(name="toy", split="train", x=x, y=y, bounds=(-np.inf, np.inf), num_classes=2,
                 class_names=("a", "b"), source="synthetic")
    targets = np.arange(40, dtype=np.float32)[:, None]
    train, val, train_targets = holdout_split(ds, 10, targets=targets)
    assert len(train) == 30 and len(val) == 10 and val.split == "validation"
    np.testing.assert_array_equal(val.x, x[:10])
    np.testing.assert_array_equal(train_targets[:, 0], np.arange(10, 40))
    assert len(holdout_split(ds, 0.25)[1]) == 10
    with pytest.raises(ValueError, match="validation size"):
        holdout_split(ds, 40)
    model = _tiny_model()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    cb = BestCheckpoint(epochs=4)
    model.fit(train.x, train.y, validation_data=(val.x, val.y), epochs=4, verbose=0, callbacks=[cb])
    assert cb.best_epoch in (3, 4)
    acc = model.evaluate(val.x, val.y, verbose=0, return_dict=True)["accuracy"]
    assert acc == pytest.approx(cb.best_value)


# ---------------------------------------------------------------- attack stage step sizes


def test_attack_stage_passes_per_norm_options(monkeypatch, tmp_path):
    import tfrobust.evaluation as evaluation
    from tfrobust.studies import run_kind
    from tfrobust.training.rundir import Run

    calls = []

    def fake_table(model, data, *, norms, eps, bounds, attack, options, norm_options, restarts, seed, checks,
                   blackbox_queries):
        calls.append((tuple(norms), eps, attack, options, norm_options, restarts))
        rows = [{"norm": n, "eps": e, "attack": attack, "robust_accuracy_mean": 0.5, "robust_accuracy_worst": 0.25,
                 "restarts": restarts, "clean_accuracy": 0.9, "n": 4, "flags": ""} for n in norms for e in eps[n]]
        return pd.DataFrame(rows)

    class _Data:
        bounds = (0.0, 1.0)

        def pipeline(self, batch_size):
            return None

    run = tmp_path / "model"
    run.mkdir()
    (run / "model.keras").write_text("")
    monkeypatch.setattr(evaluation, "robust_accuracy_table", fake_table)
    monkeypatch.setattr(Run, "load_split", lambda self, *a, **k: _Data())
    monkeypatch.setattr(Run, "load_model", lambda self, *a, **k: None)
    per_norm = {"l2": {"step_size_factor": 5.1}, "linf": {"step_size_factor": 10}}
    params = {"norms": ["l2", "linf"], "eps": {"l2": ["80/255"], "linf": ["4/255"]}, "options": {"steps": 40},
              "norm_options": per_norm, "restarts": 3}
    metrics = run_kind("attack", params, {"model": run}, tmp_path)
    assert calls == [(("l2", "linf"), {"l2": [pytest.approx(80 / 255)], "linf": [pytest.approx(4 / 255)]}, "pgd",
                      {"steps": 40}, per_norm, 3)]
    assert set(metrics) == {"clean_accuracy", "n", "robust_l2_0.313725", "robust_linf_0.0156863",
                            "robust_worst_l2_0.313725", "robust_worst_linf_0.0156863", "flags", "flagged"}
    assert metrics["flags"] == 0 and metrics["flagged"] == ""  # the fake table ran no check
    tidy = pd.read_csv(tmp_path / "robust_accuracy.csv")  # long format: the tidy columns lead, one row per (norm, eps)
    assert list(tidy.columns[:6]) == ["norm", "eps", "attack", "robust_accuracy", "worst_case", "flags"]
    assert list(tidy["norm"]) == ["l2", "linf"] and list(tidy["worst_case"]) == [0.25, 0.25]
    calls.clear()
    with pytest.raises(ConfigError, match="norm_options"):  # refused before the model or data are read
        run_kind("attack", {**params, "norms": "l2"}, {"model": run}, tmp_path)
    with pytest.raises(ConfigError, match="step_size_factor"):
        run_kind("attack", {**params, "norm_options": {"l2": {"step_size_factor": "fast"}}}, {"model": run}, tmp_path)
    assert not calls


# ---------------------------------------------------------------- the presets

STUDIES = sorted(Path("configs/studies").glob("noack2021_*.yaml"))
TRAIN_CONFIGS = sorted(Path("configs").glob("noack*.yaml"))
SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}


def _check_train_attack(params: dict) -> PGD | None:
    config = train_config_from_dict(dict(params))
    attack = config.method_options.get("attack")
    if config.method != "adversarial" or attack is None:
        return None
    pgd_attack = PGD(**attack)
    pgd_attack.check_input_shape(SHAPES[config.data.name])
    assert pgd_attack.resolved_step_size <= 2 * pgd_attack.eps
    return pgd_attack


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_noack_presets_take_steps_within_the_ball(path):
    from tfrobust.studies import load_study_spec

    assert "see docs/fidelity.md" in path.read_text().splitlines()[0]
    spec = load_study_spec(path)
    for preset in spec.presets:
        cells = spec.cells(preset)
        shapes = {c.id: SHAPES[c.params["data"]["name"]] for c in cells if c.kind == "train"}
        for cell in cells:
            if cell.kind == "train":
                _check_train_attack(cell.params)
            elif cell.kind == "attack" and cell.params.get("attack", "pgd") == "autoattack":
                assert cell.stage == "autoattack"  # the suite next to PGD (not in the paper); it sizes its own steps
            elif cell.kind == "attack":
                p = cell.params
                assert p.get("attack", "pgd") == "pgd"
                shape = shapes[next(iter(cell.needs.values()))]
                norms = [p["norms"]] if isinstance(p["norms"], str) else p["norms"]
                for norm in norms:
                    options = {**p.get("options", {}), **p.get("norm_options", {}).get(norm, {})}
                    steps = options.get("steps", 40)
                    f = parse_number(options.get("step_size_factor", 2.5))
                    radii = p["eps"][norm] if isinstance(p["eps"], dict) else p["eps"]
                    for e in radii if isinstance(radii, list) else [radii]:
                        eps = parse_number(e)
                        given = options.get("step_size")
                        size = parse_number(given) if given is not None else f * eps / steps
                        check_step_length(norm, eps, steps, size, l2_step=options.get("l2_step", "normalized"),
                                          input_shape=shape)
                        assert size <= 2 * eps


def test_noack_paper_presets_use_the_authors_numbers():
    from tfrobust.studies import load_study_spec

    table2 = {c.id: c for c in load_study_spec("configs/studies/noack2021_table2.yaml").cells("paper")}
    r80 = _check_train_attack(table2["teacher__teacher-R80"].params)
    assert (r80.l2_step, r80.step_size, r80.steps) == ("normalized", 0.1, 7)   # utils.py L2_weak_train
    attack = table2["attack__model-standard"].params
    factors = {norm: options["step_size_factor"] for norm, options in attack["norm_options"].items()}
    assert attack["options"] == {"steps": 40, "l2_step": "normalized"} and attack["restarts"] == 3
    assert factors["l2"] * (80 / 255) / 40 == pytest.approx(0.04)              # CIFAR10_ATTACKERS
    assert factors["l2"] * (320 / 255) / 40 == pytest.approx(0.16)
    assert factors["linf"] * (8 / 255) / 40 == pytest.approx(2 / 255)
    assert table2["model__model-JR_80"].params["method_options"] == {
        "lambda_j": 0.03, "n_proj": 1, "squared": True, "half": True}
    assert table2["model__model-IR_R80_SmG"].params["method_options"]["magnitude"] == "batch"
    optimizer = train_config_from_dict(dict(table2["model__model-standard"].params)).optimizer
    assert (optimizer.weight_decay, optimizer.weight_decay_mode) == (5e-4, "coupled")

    table1 = {c.id: c for c in load_study_spec("configs/studies/noack2021_table1.yaml").cells("paper")}
    assert _check_train_attack(table1["teacher__teacher-R"].params).step_size == 0.5   # MNIST_ATTACKERS
    assert _check_train_attack(table1["model__model-AT_l2_2.5"].params).step_size == 1.2
    l2_factor = parse_number(table1["attack__model-standard"].params["norm_options"]["l2"]["step_size_factor"])
    assert l2_factor * 1.5 / 40 == pytest.approx(0.5)
    saliency = table1["saliency__teacher-R__explainer-SmG"].params
    assert saliency["threshold_mode"] == "upper" and saliency["methods"] == "smoothgrad"
    assert saliency["options"]["smoothgrad"] == {  # sec. 4.1, and the authors' clipping and clean map
        "samples": 50, "sigma": 0.15, "base": "logit_gradient", "clip": True, "include_clean": True}
    optimizer = train_config_from_dict(dict(table1["model__model-standard"].params)).optimizer
    assert (optimizer.weight_decay, optimizer.weight_decay_mode, optimizer.nesterov) == (1e-5, "coupled", True)


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=lambda p: p.stem)
def test_noack_train_configs_load_and_step_within_the_ball(path):
    assert "see docs/fidelity.md" in path.read_text().splitlines()[0]
    _check_train_attack(load_yaml(path))
