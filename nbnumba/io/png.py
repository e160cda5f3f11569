# SPDX-License-Identifier: BSD-3-Clause
"""8-bit greyscale PNG files, written with zlib only (no imaging library)."""
from __future__ import annotations

import struct
import zlib

import numpy as np

from nbnumba.io.atomic import atomic_write

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BIT_DEPTH = 8
_COLOUR_GREY = 0
_FILTER_NONE = b"\x00"


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type + data (PNG spec 5.3)."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(grey) -> bytes:
    """Encode a 2-D uint8 array as an 8-bit greyscale, non-interlaced PNG.

    Parameters
    ----------
    grey : array_like
        uint8 image of shape (height, width); row 0 is the top of the picture.

    Returns
    -------
    bytes
        The complete PNG file.
    """
    image = np.asarray(grey)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise TypeError(f"png_bytes needs a 2-D uint8 array, got {image.ndim}-D {image.dtype}")
    height, width = image.shape
    if width == 0 or height == 0:
        raise ValueError("png_bytes needs an image of at least 1 x 1 pixels")
    header = struct.pack(">IIBBBBB", width, height, _BIT_DEPTH, _COLOUR_GREY, 0, 0, 0)
    rows = np.empty((height, width + 1), dtype=np.uint8)
    rows[:, 0] = _FILTER_NONE[0]
    rows[:, 1:] = image
    return (PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + _chunk(b"IEND", b""))


def write_png(path, grey) -> None:
    """Write `grey` (2-D uint8, shape (height, width)) as a greyscale PNG file, atomically.

    Raises
    ------
    InputError
        If the file cannot be written.
    """
    atomic_write(path, png_bytes(grey))
