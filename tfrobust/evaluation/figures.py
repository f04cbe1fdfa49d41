"""Figure helpers of the evaluation layer: atomic PNG writes and images scaled for display.

Used by the VAE-GAN reconstructions (:mod:`tfrobust.evaluation.vaegan_training`)
and the manifold figures (:mod:`tfrobust.evaluation.manifold`). The evaluation
layer may not import :mod:`tfrobust.reports` (docs/architecture.md, Layers),
whose writers serve saved results.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_savefig", "display_images"]


def atomic_savefig(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Saves a matplotlib figure as PNG (100 dpi) atomically, creating parent directories.

    The figure goes to ``.STEM.tmpPID.png`` next to ``path`` (a temp name the
    library recognises), then ``os.replace`` moves it into place; the temp file
    is removed if saving fails.

    Returns:
        The destination path.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{os.getpid()}.png")
    try:
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def display_images(images: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """Images (N, H, W, C) within ``bounds`` rescaled into [0, 1] for ``imshow``.

    Colour images (C = 3) keep their channels; any other channel count is
    averaged into grey, giving (N, H, W).
    """
    lo, hi = bounds
    shown = np.clip((images - lo) / (hi - lo), 0.0, 1.0)
    return shown if shown.shape[-1] == 3 else shown.mean(axis=-1)
