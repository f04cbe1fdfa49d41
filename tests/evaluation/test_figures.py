"""tfrobust.evaluation.figures: display scaling and atomic PNG writes."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from tfrobust.evaluation.figures import atomic_savefig, display_images


def test_display_images_rescales_clips_and_greys():
    grey = np.array([[[[-1.0], [0.0]], [[1.0], [3.0]]]], np.float32)  # (1, 2, 2, 1) in [-1, 1], one pixel above
    np.testing.assert_allclose(display_images(grey, (-1.0, 1.0)), [[[0.0, 0.5], [1.0, 1.0]]])
    two = np.stack([np.zeros((2, 2)), np.ones((2, 2))], axis=-1)[None]  # (1, 2, 2, 2): averaged into grey
    np.testing.assert_allclose(display_images(two, (0.0, 1.0)), np.full((1, 2, 2), 0.5))
    colour = np.full((1, 2, 2, 3), 0.25)
    np.testing.assert_allclose(display_images(colour, (0.0, 0.5)), np.full((1, 2, 2, 3), 0.5))


def test_atomic_savefig_writes_a_png_and_leaves_no_temp_file(tmp_path):
    fig = Figure(figsize=(1, 1))
    fig.subplots().plot([0, 1], [1, 0])
    out = atomic_savefig(fig, tmp_path / "deeper" / "f.png")
    assert out == tmp_path / "deeper" / "f.png" and out.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in out.parent.iterdir()] == ["f.png"]


def test_atomic_savefig_keeps_the_old_file_when_saving_fails(tmp_path):
    class Broken:
        def savefig(self, path, **kwargs):
            with open(path, "wb") as handle:
                handle.write(b"half")
            raise OSError("disk full")

    old = tmp_path / "f.png"
    old.write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"):
        atomic_savefig(Broken(), old)
    assert old.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.png"]
