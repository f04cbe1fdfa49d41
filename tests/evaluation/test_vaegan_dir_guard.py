"""``train_vaegan`` never writes into a folder it did not create (``check_vaegan_dir``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from tfrobust.config import DataConfig, dump_yaml
from tfrobust.evaluation.vaegan_training import check_vaegan_dir, train_vaegan, vaegan_record
from tfrobust.models.vaegan import VAEGANConfig

REPO = Path(__file__).resolve().parents[2]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _classifier_run(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.yaml").write_text("data: {name: mnist}\nmodel: {arch: linear}\nepochs: 1\n")
    (folder / "model.keras").write_bytes(b"not ours to overwrite")
    (folder / "checkpoint").mkdir()
    (folder / "checkpoint" / "state.json").write_text('{"epoch": 1}')
    return folder


def _input_yaml(folder: Path) -> Path:
    folder.mkdir()
    shutil.copy(REPO / "configs" / "kim_vaegan_fmnist.yaml", folder / "config.yaml")  # a config, not a record
    return folder


def _unrelated(folder: Path) -> Path:
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    return folder


def _broken_yaml(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.yaml").write_text("vaegan: [unclosed\n")
    return folder


@pytest.mark.parametrize("make, reason", [(_classifier_run, "not a VAE-GAN record"),
                                          (_input_yaml, "not a VAE-GAN record"),
                                          (_unrelated, "no config.yaml"),
                                          (_broken_yaml, "not a readable YAML mapping")])
def test_foreign_folders_are_refused_untouched(tmp_path, make, reason):
    folder = make(tmp_path / "out")
    before = _files(folder)
    with pytest.raises(ValueError, match="out_dir") as err:
        check_vaegan_dir(folder)
    assert reason in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="not a VAE-GAN directory"):  # refused before any data is loaded
        train_vaegan(DataConfig(name="mnist", data_dir=str(tmp_path / "nowhere")), folder, epochs=1)
    assert _files(folder) == before


def test_a_file_is_refused(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        check_vaegan_dir(path)


def test_new_empty_and_own_folders_are_accepted(tmp_path):
    check_vaegan_dir(tmp_path / "new" / "deeper")
    (tmp_path / "empty").mkdir()
    check_vaegan_dir(tmp_path / "empty")
    ours = tmp_path / "ours"
    ours.mkdir()
    dataset = SimpleNamespace(bounds=(-1.0, 1.0), input_shape=(28, 28, 1), source="test")
    record = vaegan_record(DataConfig(name="mnist", bounds=(-1.0, 1.0)), dataset, VAEGANConfig(), epochs=1,
                           batch_size=10, seed=0)
    dump_yaml(record, ours / "config.yaml")  # what train_vaegan writes before its first epoch
    check_vaegan_dir(ours)
