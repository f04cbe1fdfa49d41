"""PGD's ``long_steps`` choice: refuse a step longer than the ball's diameter, or cut it (Kim's fixed steps)."""

import keras
import numpy as np
import pytest

from tfrobust.attacks import PGD, pgd
from tfrobust.attacks.pgd import cut_step_size
from tfrobust.evaluation import robust_accuracy_table


@pytest.fixture(scope="module")
def linear():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    x = np.random.default_rng(0).uniform(0.2, 0.8, (6, 4, 4, 1)).astype("float32")
    return model, x, np.array([0, 1, 2, 0, 1, 2])


def test_cut_step_size_by_hand():
    assert cut_step_size("linf", 0.004, 0.02) == pytest.approx(0.008)
    assert cut_step_size("l2", 1.5, 2.0) == pytest.approx(2.0)  # already inside the diameter 3.0
    assert cut_step_size("l2", 0.25, 2.0) == pytest.approx(0.5)
    # an l2 sign step over 16 values has length 4 * step: cut to 2 * eps / 4
    assert cut_step_size("l2", 0.1, 0.05, l2_step="sign", input_shape=(4, 4, 1)) == pytest.approx(0.05)
    assert cut_step_size("l2", 0.1, 0.5, l2_step="sign", input_shape=(4, 4, 1)) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="input shape"):
        cut_step_size("l2", 0.1, 0.5, l2_step="sign")


def test_refuse_is_the_default_and_names_the_way_out():
    with pytest.raises(ValueError, match=r"step_size.*long_steps: cut"):
        PGD(norm="l2", eps=0.1, steps=5, step_size=2.0)
    with pytest.raises(ValueError, match="long_steps must be one of"):
        PGD(norm="l2", eps=0.1, steps=5, long_steps="clip")


def test_cut_equals_pgd_with_the_diameter_step(linear):
    model, x, y = linear
    cut = PGD(norm="l2", eps=0.1, steps=5, step_size=2.0, long_steps="cut", random_start=False)
    out = cut(model, x, y, bounds=(0, 1)).numpy()
    same = pgd(model, x, y, norm="l2", eps=0.1, steps=5, step_size=0.2, random_start=False, bounds=(0, 1)).numpy()
    np.testing.assert_array_equal(out, same)
    assert np.linalg.norm((out - x).reshape(len(x), -1), axis=1).max() <= 0.1 * (1 + 1e-5)


def test_linf_cut_runs_the_diameter_step(linear):
    # A linf sign step of 0.02 at eps 0.004 lands on a corner of the box, as one of 0.008 does.
    model, x, y = linear
    cut = pgd(model, x, y, norm="linf", eps=0.004, steps=4, step_size=0.02, random_start=False,
              bounds=(0, 1), long_steps="cut").numpy()
    diameter = pgd(model, x, y, norm="linf", eps=0.004, steps=4, step_size=0.008, random_start=False,
                   bounds=(0, 1)).numpy()
    np.testing.assert_array_equal(cut, diameter)
    np.testing.assert_allclose(np.abs(cut - x).max(), 0.004, rtol=1e-4)


def test_robust_accuracy_table_passes_long_steps_on(linear):
    model, x, y = linear
    common = dict(norms=["linf"], eps=[0.004], bounds=(0, 1))
    options = dict(steps=4, step_size=0.02, random_start=False)
    with pytest.raises(ValueError, match="long_steps: cut"):
        robust_accuracy_table(model, (x, y), options=options, **common)
    cut = robust_accuracy_table(model, (x, y), options={**options, "long_steps": "cut"}, **common)
    diameter = robust_accuracy_table(model, (x, y), options={**options, "step_size": 0.008}, **common)
    assert cut["robust_accuracy_worst"].tolist() == diameter["robust_accuracy_worst"].tolist()
    assert cut["step_size"].tolist() == pytest.approx([0.008])  # the step PGD took is recorded


def test_table_records_the_cut_l2_sign_step(linear):
    # 16 input values: an l2 sign step of 0.5 has length 2, cut to the diameter 0.2, i.e. a step of 0.05
    model, x, y = linear
    table = robust_accuracy_table(model, (x, y), norms=["l2"], eps=[0.1], bounds=(0, 1),
                                  options={"steps": 3, "step_size": 0.5, "l2_step": "sign", "long_steps": "cut"})
    assert table["step_size"].tolist() == pytest.approx([0.05])
