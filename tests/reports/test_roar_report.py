"""ROAR/KAR figure: a valid PNG from roar.csv, and the report module stays free of TensorFlow."""

import subprocess
import sys

import pandas as pd
import pytest

from tfrobust.reports import write_roar_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_roar_csv(path, modes=("roar", "kar")):
    rows = [{"method": m, "mode": mode, "fraction": f, "repeat": r, "accuracy": max(0.0, 0.9 - f * (0.5 + 0.1 * r))}
            for m in ("gradient", "random") for mode in modes for f in (0.0, 0.1, 0.5, 0.9) for r in range(3)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("modes", [("roar", "kar"), ("kar",)])
def test_figure_is_a_png(tmp_path, modes):
    out = write_roar_figure(write_roar_csv(tmp_path / "roar.csv", modes), tmp_path / "curves.png")
    assert out == tmp_path / "curves.png"
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "roar.csv"]  # no temp left


def test_figure_rejects_bad_csv(tmp_path):
    (tmp_path / "bad.csv").write_text("method,mode,fraction\nrandom,roar,0.1\n")
    with pytest.raises(ValueError, match="lacks"):
        write_roar_figure(tmp_path / "bad.csv", tmp_path / "x.png")
    (tmp_path / "other.csv").write_text("method,mode,fraction,repeat,accuracy\nrandom,keep,0.1,0,0.5\n")
    with pytest.raises(ValueError, match="no rows"):
        write_roar_figure(tmp_path / "other.csv", tmp_path / "x.png")


def test_report_module_imports_no_tensorflow():
    code = "import sys, tfrobust.reports.roar; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
