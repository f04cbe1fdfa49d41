"""Incomplete or inconsistent dataset files are errors in `data info` and in load_dataset alike."""

from __future__ import annotations

import gzip
import zlib

import numpy as np
import pytest

from cli.main import main
from tfrobust.data import CorruptDataError, dataset_info, load_dataset
from tfrobust.data import idx as idx_format


def both_fail(data_dir, split="train"):
    """The error of dataset_info and of load_dataset on the same files; they must agree."""
    with pytest.raises(CorruptDataError) as info:
        dataset_info("mnist", data_dir)
    with pytest.raises(CorruptDataError) as load:
        load_dataset("mnist", split, data_dir=data_dir)
    assert str(info.value) == str(load.value)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_complete_files_count_the_same_gz_raw_and_multi_member(tmp_path, files):
    files.make_idx_dir(tmp_path / "gz", n_train=20, n_test=10, gz=True)
    files.make_idx_dir(tmp_path / "raw", n_train=20, n_test=10, gz=False)
    for d in ("gz", "raw"):
        row = dataset_info("mnist", tmp_path / d)
        assert (row["train_size"], row["test_size"]) == (20, 10)
    # A gzip file may consist of several members (plus zero padding): still one complete file.
    path = tmp_path / "gz" / "train-images-idx3-ubyte.gz"
    content = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(content[:5000]) + gzip.compress(content[5000:]) + b"\0" * 8)
    assert dataset_info("mnist", tmp_path / "gz")["train_size"] == 20
    assert len(load_dataset("mnist", data_dir=tmp_path / "gz")) == 20


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_image_payload_names_file_and_sizes(tmp_path, files, gz):
    files.make_idx_dir(tmp_path, n_train=20, gz=gz)
    path = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    content = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    cut = content[: 16 + 1000]  # header + 1,000 of the 15,680 pixel bytes
    path.write_bytes(gzip.compress(cut) if gz else cut)
    message = both_fail(tmp_path)
    assert str(path) in message
    assert "header says 20 images of 28x28 (15,680 bytes of pixels)" in message
    assert "holds 1,000 bytes of pixels (truncated?)" in message
    # The test split is intact and still loads.
    assert len(load_dataset("mnist", "test", data_dir=tmp_path)) == 10


def test_cut_gzip_stream_reports_what_it_holds(tmp_path, files):
    files.make_idx_dir(tmp_path, n_train=50)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-2000])  # cut the compressed bytes themselves
    message = both_fail(tmp_path)
    assert str(path) in message and "header says 50 images" in message
    assert "the gzip stream ends early" in message and "truncated" in message


def test_missing_gzip_trailer_is_corrupt_even_with_all_pixels(tmp_path, files):
    files.make_idx_dir(tmp_path, n_train=20)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = path.read_bytes()
    stream = zlib.decompressobj(wbits=31)
    assert len(stream.decompress(raw[:-8])) == 16 + 20 * 28 * 28  # all data, no CRC/size trailer
    path.write_bytes(raw[:-8])
    message = both_fail(tmp_path)
    assert str(path) in message and "gzip stream ends early" in message


def test_bad_checksum_is_corrupt(tmp_path, files):
    files.make_idx_dir(tmp_path, n_train=20)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF  # the stored CRC-32
    path.write_bytes(bytes(raw))
    message = both_fail(tmp_path)
    assert str(path) in message and "cannot decompress" in message


def test_truncated_labels_and_trailing_bytes(tmp_path, files):
    files.make_idx_dir(tmp_path, n_train=20, gz=False)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-3])
    message = both_fail(tmp_path)
    assert str(labels) in message and "header says 20 labels but the file holds 17 label bytes" in message
    labels.write_bytes(labels.read_bytes() + b"\x01" * 13)  # 30 label bytes for a header of 20
    message = both_fail(tmp_path)
    assert "holds 30 label bytes (trailing bytes)" in message


def test_image_and_label_counts_must_agree(tmp_path, files):
    files.make_idx_dir(tmp_path, n_train=20)
    files.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))  # complete, short
    message = both_fail(tmp_path)
    assert "19 labels for 20 images" in message


def test_idx_shape_counts_without_keeping_data(tmp_path, files):
    path = files.write_idx(tmp_path / "x-idx3-ubyte.gz", np.ones((7, 5, 3), np.uint8))
    assert idx_format.idx_shape(path) == (7, 5, 3)
    assert idx_format.read_idx(path).shape == (7, 5, 3)
    path.write_bytes(b"plain bytes, not gzip")
    with pytest.raises(CorruptDataError, match="not a gzip file"):
        idx_format.idx_shape(path)


def test_cifar_binary_truncated_in_info(tmp_path, files):
    files.make_cifar_bin_dir(tmp_path / "cifar-10-batches-bin", n_per_batch=2)
    path = tmp_path / "cifar-10-batches-bin" / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptDataError, match="3073") as info:
        dataset_info("cifar10", tmp_path)
    assert str(path) in str(info.value)


def run(capsys, *args):
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, [line for line in err.splitlines() if line.strip()]


def test_data_info_cli_one_line_for_truncated_file(tmp_path, files, capsys, no_debian, monkeypatch):
    files.make_idx_dir(tmp_path, n_train=20)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:500]))
    code, out, err = run(capsys, "data", "info", "--dataset", "mnist", "--data-dir", tmp_path)
    assert code == 2 and out == ""
    assert len(err) == 1 and err[0].startswith("error: corrupt data file") and str(path) in err[0]
    assert "header says 20 images" in err[0]
    # Listing every dataset still prints the table, marks mnist corrupt, and fails.
    monkeypatch.setenv("TFROBUST_DATA_DIR", str(tmp_path))
    code, out, err = run(capsys, "data", "info")
    assert code == 2
    (mnist,) = [line for line in out.splitlines() if line.startswith("mnist ")]
    assert mnist.rstrip().endswith("corrupt")
    assert len(err) == 1 and str(path) in err[0]
