"""The idx format of MNIST / Fashion-MNIST, read with a check that every file is complete.

An idx file is 2 zero bytes, a type code (0x08 = unsigned byte), the number
of dimensions ``k``, ``k`` big-endian uint32 sizes, then the row-major data;
the distributions gzip it. A file is accepted only when the (decompressed)
data holds exactly the bytes its header announces, and a gzip file only when
its stream is complete and its checksum matches. :func:`idx_shape` does the
same check without keeping the data, for ``tfrobust data info``.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from .errors import CorruptDataError

__all__ = ["read_idx", "idx_shape", "check_idx_pair"]

_DTYPES = {0x08: np.uint8}
_GZIP_MAGIC = b"\x1f\x8b"
_HEAD = 4 + 4 * 255  # the longest possible idx header
_CHUNK = 1 << 22  # decompressed bytes per step when the data is only counted


def _corrupt(path: str, reason: object) -> CorruptDataError:
    return CorruptDataError(f"corrupt data file {path}: {' '.join(str(reason).split())}")


class _Content:
    """An idx file's decompressed content: its first bytes, its size, optionally all of it."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.size = 0
        self.data: bytearray | None = None
        self.problem = ""  # what is wrong with the gzip container, if anything

    def add(self, chunk: bytes) -> None:
        if len(self.head) < _HEAD:
            self.head += chunk[: _HEAD - len(self.head)]
        if self.data is not None:
            self.data += chunk
        self.size += len(chunk)


def _gunzip(path: str, raw: bytes, out: _Content) -> None:
    """Decompresses the gzip members of ``raw`` into ``out``; notes a stream that ends early."""
    if raw[:2] != _GZIP_MAGIC:
        raise _corrupt(path, f"not a gzip file (it starts with 0x{raw[:4].hex() or 'empty'})")
    rest = raw
    while rest:
        stream = zlib.decompressobj(wbits=31)
        pending = rest
        try:
            while not stream.eof:
                chunk = stream.decompress(pending, _CHUNK)
                pending = stream.unconsumed_tail
                out.add(chunk)
                if not pending and not chunk:
                    break
            if not stream.eof:
                out.add(stream.flush())
                out.problem = "the gzip stream ends early"
                return
        except zlib.error as err:
            raise _corrupt(path, f"cannot decompress ({err})") from err
        rest = stream.unused_data
        if not rest.strip(b"\0"):
            return  # gzip allows zero padding after the last member
        if rest[:2] != _GZIP_MAGIC:
            raise _corrupt(path, f"{len(rest):,} unexpected bytes after the gzip stream")


def _content(path: str, *, keep: bool) -> _Content:
    out = _Content()
    if keep:
        out.data = bytearray()
    try:
        with open(path, "rb") as f:
            if path.endswith(".gz"):
                _gunzip(path, f.read(), out)
            elif keep:
                out.add(f.read())
            else:
                out.add(f.read(_HEAD))
                out.size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        raise
    except OSError as err:
        raise _corrupt(path, f"cannot read ({err.strerror or err})") from err
    return out


def _mismatch(dims: tuple[int, ...], expected: int, got: int) -> str:
    if len(dims) == 3:
        said = f"{dims[0]} images of {dims[1]}x{dims[2]} ({expected:,} bytes of pixels)"
        held = f"{got:,} bytes of pixels"
    elif len(dims) == 1:
        said, held = f"{dims[0]} labels", f"{got:,} label bytes"
    else:
        said = f"shape {dims} ({expected:,} data bytes)"
        held = f"{got:,} data bytes"
    return f"header says {said} but the file holds {held}"


def _layout(path: str, content: _Content) -> tuple[tuple[int, ...], int]:
    """The dims and header length of a complete idx file; CorruptDataError otherwise."""
    head, size = bytes(content.head), content.size
    cause = f"; {content.problem}" if content.problem else ""
    if size < 4:
        raise _corrupt(path, f"file too short for an idx header ({size} bytes{cause})")
    if head[0] != 0 or head[1] != 0:
        raise _corrupt(path, f"bad idx magic number 0x{head[:4].hex()}")
    if head[2] not in _DTYPES:
        raise _corrupt(path, f"unsupported idx type code 0x{head[2]:02x} (expected 0x08, unsigned byte)")
    ndim = head[3]
    if ndim < 1:
        raise _corrupt(path, "idx header declares 0 dimensions")
    header = 4 + 4 * ndim
    if size < header:
        raise _corrupt(path, f"truncated idx header ({size} of {header} bytes{cause})")
    dims = struct.unpack(f">{ndim}I", head[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    got = size - header
    if got < expected:
        raise _corrupt(path, f"{_mismatch(dims, expected, got)} (truncated{cause or '?'})")
    if got > expected:
        raise _corrupt(path, f"{_mismatch(dims, expected, got)} (trailing bytes{cause})")
    if content.problem:
        raise _corrupt(path, f"{content.problem} (truncated?)")
    return dims, header


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Reads one idx file (``.gz`` or uncompressed).

    Args:
        path: file path.

    Returns:
        uint8 array of the stored shape, read-only.

    Raises:
        FileNotFoundError: no such file.
        CorruptDataError: bad magic number or type, a broken gzip stream, or a
            data size that does not match the header (truncated or trailing
            bytes); one line naming the file.
    """
    p = os.fspath(path)
    content = _content(p, keep=True)
    dims, header = _layout(p, content)
    arr = np.frombuffer(content.data or b"", dtype=_DTYPES[content.head[2]], offset=header).reshape(dims)
    arr.flags.writeable = False
    return arr


def idx_shape(path: str | os.PathLike[str]) -> tuple[int, ...]:
    """The shape stored in an idx file, after checking the whole file as :func:`read_idx` does.

    The data is decompressed and counted, not kept.

    Raises:
        FileNotFoundError, CorruptDataError: as :func:`read_idx`.
    """
    p = os.fspath(path)
    return _layout(p, _content(p, keep=False))[0]


def check_idx_pair(images: str, labels: str, x_shape: tuple[int, ...], y_shape: tuple[int, ...],
                   image_hw: tuple[int, int]) -> int:
    """Checks an image file's and a label file's shapes against each other; returns the count.

    Raises:
        CorruptDataError: images not (N, H, W) with ``image_hw``, labels not
            1-D, or a different number of labels and images.
    """
    if len(x_shape) != 3 or tuple(x_shape[1:]) != tuple(image_hw):
        raise _corrupt(images, f"expected images of shape (N, {image_hw[0]}, {image_hw[1]}), "
                               f"header says {tuple(x_shape)}")
    if len(y_shape) != 1:
        raise _corrupt(labels, f"expected a 1-D label file, header says shape {tuple(y_shape)}")
    if x_shape[0] != y_shape[0]:
        raise _corrupt(labels, f"{y_shape[0]} labels for {x_shape[0]} images in {images}")
    return int(x_shape[0])
