"""Readable figures (issue 17.7): class names instead of ids, a colour bar and sign legend on saliency grids."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import colormaps

from tfrobust.data.datasets import CLASS_NAMES, DATASETS, class_name
from tfrobust.evaluation.figures import (
    SIGN_LEGEND,
    SIGNED_CMAP,
    add_sign_colorbar,
    label_text,
    saliency_grid,
)

FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def test_class_name_tables_hold_the_published_names():
    assert CLASS_NAMES["fashion_mnist"] == FASHION
    assert CLASS_NAMES["cifar10"] == CIFAR
    assert CLASS_NAMES["mnist"] == tuple("0123456789")
    assert set(CLASS_NAMES) == set(DATASETS)
    assert all(len(CLASS_NAMES[n]) == DATASETS[n].num_classes for n in DATASETS)


def test_class_name_oracles_and_fallbacks():
    assert class_name("fashion_mnist", 0) == "T-shirt/top"
    assert class_name("fashion_mnist", np.int64(9)) == "Ankle boot"
    assert class_name("cifar10", 3) == "cat" and class_name("cifar10", np.uint8(9)) == "truck"
    assert class_name("mnist", 7) == "7"
    # Tsipras 2.3's binary MNIST task: subset label 1 is original label 7
    assert class_name("mnist", 1, classes=(5, 7)) == "7"
    assert class_name("fashion_mnist", 0, classes=(7, 9)) == "Sneaker"
    assert class_name("fashion_mnist", 2, classes=(7, 9)) == "2"  # outside the subset
    assert class_name("no_such_dataset", 4) == "4"
    assert class_name("cifar10", 10) == "10" and class_name("cifar10", -1) == "-1"
    for bad in (1.0, "3", True, None):
        with pytest.raises(ValueError, match="label: expected an integer"):
            class_name("cifar10", bad)


def test_label_text_names_classes_and_falls_back_to_the_number():
    assert label_text(np.int32(7), FASHION) == "Sneaker"
    assert label_text(3) == "3" and label_text(12, FASHION) == "12"
    with pytest.raises(ValueError, match="label"):
        label_text(2.5, FASHION)


def test_sign_colormap_matches_the_drawn_map_colours():
    """The colour bar's colours are those diverging_rgb paints: -max blue, 0 white, +max red."""
    from tfrobust.attribution.postprocess import diverging_rgb

    cmap = colormaps[SIGNED_CMAP]
    painted = diverging_rgb(np.array([[[-1.0, -0.5, 0.0, 0.5, 1.0]]]))[0, 0]
    for value, rgb in zip([-1.0, -0.5, 0.0, 0.5, 1.0], painted):
        np.testing.assert_allclose(cmap((value + 1) / 2)[:3], rgb, atol=0.01)


def _grid():
    x = np.zeros((2, 8, 8, 1), np.float32)
    maps = np.zeros((2, 8, 8, 1), np.float32)
    maps[:, 0, 0, 0] = 2.0  # one positive pixel ...
    maps[:, 7, 7, 0] = -2.0  # ... and one negative pixel per map
    fig = saliency_grid(x, np.array([7, 9]), {"gradient": maps, "smoothgrad": -maps}, bounds=(0.0, 1.0),
                        class_names=FASHION, predictions={"gradient": np.array([7, 8])})
    return fig, maps


def test_saliency_grid_names_classes_and_predictions():
    fig, _ = _grid()
    grid = [ax for ax in fig.axes if ax.get_images()]
    assert len(grid) == 6  # 2 rows x (input + 2 methods)
    assert [grid[0].get_ylabel(), grid[3].get_ylabel()] == ["Sneaker", "Ankle boot"]
    assert [grid[1].get_xlabel(), grid[4].get_xlabel()] == ["pred: Sneaker", "pred: Bag"]
    assert [grid[0].get_title(), grid[1].get_title(), grid[2].get_title()] == ["input", "gradient", "smoothgrad"]


def test_saliency_grid_has_a_colour_bar_with_sign_legend():
    fig, _ = _grid()
    bars = [ax for ax in fig.axes if not ax.get_images()]
    assert len(bars) == 1
    bar = bars[0]
    assert bar.get_ylabel() == SIGN_LEGEND and "red: positive" in SIGN_LEGEND and "blue: negative" in SIGN_LEGEND
    assert [t.get_text() for t in bar.get_yticklabels()] == ["\u2212max", "0", "+max"]
    np.testing.assert_allclose(bar.get_ylim(), (-1.0, 1.0))


def test_saliency_grid_paints_signs_as_the_legend_says():
    fig, _ = _grid()
    grid = [ax for ax in fig.axes if ax.get_images()]
    gradient = np.asarray(grid[1].get_images()[0].get_array())  # map of +2 at (0, 0), -2 at (7, 7)
    np.testing.assert_allclose(gradient[0, 0], [1.0, 0.0, 0.0])  # red: positive
    np.testing.assert_allclose(gradient[7, 7], [0.0, 0.0, 1.0])  # blue: negative
    np.testing.assert_allclose(gradient[3, 3], [1.0, 1.0, 1.0])  # white: zero
    flipped = np.asarray(grid[2].get_images()[0].get_array())
    np.testing.assert_allclose(flipped[0, 0], [0.0, 0.0, 1.0])


def test_saliency_grid_without_legend_and_for_vectors():
    x = np.linspace(-3, 3, 20, dtype=np.float32).reshape(2, 10)
    fig = saliency_grid(x, np.array([0, 1]), {"g": x}, bounds=(-np.inf, np.inf), sign_legend=False)
    assert all(ax.get_images() for ax in fig.axes) and len(fig.axes) == 4
    assert fig.axes[0].get_ylabel() == "0"  # no class names: the number


def test_saliency_grid_rejects_mismatched_maps():
    x = np.zeros((2, 4, 4, 1), np.float32)
    with pytest.raises(ValueError, match=r"columns\['g'\]: expected maps of shape"):
        saliency_grid(x, np.array([0, 1]), {"g": np.zeros((2, 4, 4, 3))}, bounds=(0.0, 1.0))
    with pytest.raises(ValueError, match="y: expected shape"):
        saliency_grid(x, np.array([0]), {}, bounds=(0.0, 1.0))


def test_add_sign_colorbar_on_any_figure():
    from matplotlib.figure import Figure

    fig = Figure()
    axes = fig.subplots(1, 2)
    bar = add_sign_colorbar(fig, axes, legend="sign")
    assert bar.ax.get_ylabel() == "sign" and len(fig.axes) == 3
