"""`tfrobust export` writes explanation signatures that a process without tfrobust can serve.

The isolated processes run ``python -I`` (no PYTHONPATH, no current
directory on the path) and also remove tfrobust's editable-install finder
before anything else is imported; each first checks that ``import tfrobust``
fails there.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import yaml

from tests.isolated import isolated
from tfrobust.attribution import gradient, logit_gradient, smoothgrad
from tfrobust.training.artifacts import save_model
from tfrobust.training.serving import SERVING_INFO, SIGNATURES

_SERVE = """
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[2])
data = np.load(sys.argv[3])
x, y = tf.constant(data["x"]), tf.constant(data["y"], tf.int64)
out = {"serving_default": loaded.signatures["serving_default"](x=x)["logits"].numpy()}
for name in ("loss_gradient", "logit_gradient", "smoothgrad"):
    out[name] = loaded.signatures[name](x=x, y=y)[name].numpy()
np.savez(sys.argv[4], **out)
print("served", sorted(loaded.signatures))
"""

_LOAD_KERAS = """
import keras
try:
    keras.saving.load_model(sys.argv[2])
except Exception as err:
    print(type(err).__name__, str(err))
else:
    raise SystemExit("loaded without tfrobust")
sys.path.insert(0, sys.argv[1])  # now let tfrobust be imported: importing its training package is the fix
import tfrobust.training  # noqa: F401  (registers every wrapper; plain `import tfrobust` is lazy)
model = keras.saving.load_model(sys.argv[2])
print("LOADED", type(model).__name__)
"""


def tiny_model() -> keras.Model:
    keras.utils.set_random_seed(4)
    return keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3, activation="tanh"),
                             keras.layers.Flatten(), keras.layers.Dense(3)])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("signatures") / "run"
    run.mkdir()
    save_model(tiny_model(), run / "model.keras")
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {"name": "fashion_mnist", "bounds": [-1.0, 1.0]}}))
    return run


def test_export_serves_explanations_without_tfrobust(tmp_path, run_dir, run_cli):
    out = tmp_path / "sm"
    code, stdout, err = run_cli("export", "--model", run_dir, "--out", out, "--smoothgrad-samples", 4,
                                "--smoothgrad-noise", 0.1, "--smoothgrad-seed", 3)
    assert code == 0, err
    assert "smoothgrad" in stdout and "(-1.0, 1.0)" in stdout
    info = json.loads((out / "assets" / SERVING_INFO).read_text())
    assert sorted(info["signatures"]) == sorted(SIGNATURES)
    assert info["smoothgrad"]["samples"] == 4 and info["smoothgrad"]["seed"] == 3
    assert info["smoothgrad"]["sigma"] == pytest.approx(0.2)  # 0.1 of the run's range (-1, 1)

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, 4, 4, 1)).astype("float32")
    y = np.array([2, 0, 1])
    np.savez(tmp_path / "in.npz", x=x, y=y)
    proc = isolated(_SERVE, out, tmp_path / "in.npz", tmp_path / "served.npz", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "served" in proc.stdout
    served = np.load(tmp_path / "served.npz")

    model = keras.saving.load_model(run_dir / "model.keras")
    np.testing.assert_allclose(served["serving_default"], model(x).numpy(), atol=1e-5)
    np.testing.assert_allclose(served["loss_gradient"], gradient(model, x, y).numpy(), atol=1e-6)
    np.testing.assert_allclose(served["logit_gradient"], logit_gradient(model, x, y).numpy(), atol=1e-6)
    np.testing.assert_allclose(served["smoothgrad"], smoothgrad(model, x, y, samples=4, sigma=0.2, seed=3).numpy(),
                               atol=1e-6)


def test_logits_choice_and_infinite_bounds_are_one_line(tmp_path, run_cli):
    run = tmp_path / "run"
    run.mkdir()
    save_model(tiny_model(), run / "model.keras")
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {"name": "tsipras"}}))
    code, _, err = run_cli("export", "--model", run, "--out", tmp_path / "sm")
    assert code == 2 and "--bounds" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("export", "--model", run, "--out", tmp_path / "sm", "--bounds", "0,1", "--logits", "nope")
    assert code == 2 and "nope" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    code, _, err = run_cli("export", "--model", run, "--out", tmp_path / "sm", "--bounds", "0,1", "--logits", "0",
                           "--smoothgrad-samples", 1)
    assert code == 0, err


def test_wrapper_keras_file_without_tfrobust_names_the_module(tmp_path):
    """Keras' own message names the class and its module (tfrobust.training.adversarial), and says to import it.

    ``import tfrobust.training`` registers every wrapper and makes the file load.
    """
    from tfrobust.training.adversarial import AdversarialModel

    robust = AdversarialModel(tiny_model(), attack={"norm": "linf", "eps": 0.1, "steps": 1, "bounds": [0, 1]})
    robust.save(tmp_path / "adv.keras")
    proc = isolated(_LOAD_KERAS, tmp_path / "adv.keras", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    message = proc.stdout.splitlines()[0]
    assert message.startswith("TypeError") and "Could not locate class 'AdversarialModel'" in message
    assert "'module': 'tfrobust.training.adversarial'" in message and "imported" in message
    assert "LOADED AdversarialModel" in proc.stdout
