"""``toy2d``'s ``geometry`` option through the dataset registry and a training config (docs/fidelity.md item 19)."""

from __future__ import annotations

import numpy as np
import pytest

from tfrobust.data import DATASET_OPTIONS, dataset_info, load_dataset, synthetic


def test_default_geometry_is_the_notebook():
    assert DATASET_OPTIONS["toy2d"]["geometry"] == "kim_notebook"
    assert dataset_info("toy2d")["options"]["geometry"] == "kim_notebook"
    default = load_dataset("toy2d", n_per_class=200, seed=3)
    x, y = synthetic.toy2d("train", n_per_class=200, seed=3, geometry="kim_notebook")
    np.testing.assert_array_equal(default.x, x)
    np.testing.assert_array_equal(default.y, y)
    # The notebook scales all train coordinates together onto the bounds: both ends are reached exactly.
    assert default.x.min() == -1.0 and default.x.max() == 1.0
    # Its classes lie apart along x1 (means (1.2, 0.1) and (-1.2, -0.1) before the scaling).
    assert default.x[default.y == 0, 0].mean() > 0.3 > -0.3 > default.x[default.y == 1, 0].mean()


def test_tilted_geometry_is_passed_through():
    tilted = load_dataset("toy2d", "test", n_per_class=1000, seed=1, geometry="tilted")
    x, _ = synthetic.toy2d("test", n_per_class=1000, seed=1, geometry="tilted")
    np.testing.assert_array_equal(tilted.x, x)
    for c in (0, 1):  # the tilted means in data units, (0, +-0.55): within 5 standard errors
        np.testing.assert_allclose(tilted.x[tilted.y == c].mean(axis=0), synthetic.TOY2D_MEANS[c], atol=0.05)
    assert not np.array_equal(tilted.x, load_dataset("toy2d", "test", n_per_class=1000, seed=1).x)


def test_config_data_options_reach_the_loader():
    from tfrobust.config import train_config_from_dict
    from tfrobust.training.run import load_data

    config = train_config_from_dict({"data": {"name": "toy2d", "options": {"n_per_class": 20, "geometry": "tilted"}},
                                     "model": {"arch": "kim_toy_dnn"}, "seed": 2})
    train, test = load_data(config)
    np.testing.assert_array_equal(train.x, synthetic.toy2d("train", n_per_class=20, seed=2, geometry="tilted")[0])
    np.testing.assert_array_equal(test.x, synthetic.toy2d("test", n_per_class=20, seed=2, geometry="tilted")[0])


@pytest.mark.parametrize("value", ["round", "KIM_NOTEBOOK", "", None, 3, ["tilted"]])
def test_unknown_geometry_is_one_line(value):
    for call in (lambda: load_dataset("toy2d", n_per_class=5, geometry=value),
                 lambda: dataset_info("toy2d", geometry=value)):
        with pytest.raises(ValueError, match="geometry") as err:
            call()
        assert "\n" not in str(err.value) and "kim_notebook, tilted" in str(err.value)


def test_geometry_is_a_toy2d_option_only():
    with pytest.raises(ValueError, match="'geometry'.*tsipras"):
        load_dataset("tsipras", geometry="tilted")
