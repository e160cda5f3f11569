# SPDX-License-Identifier: BSD-3-Clause
"""Headerless float32 images (-floatfile): native byte order, fast index fastest."""
from __future__ import annotations

import os

import numpy as np

from nbnumba.errors import InputError
from nbnumba.io.atomic import atomic_open
from nbnumba.io.textcols import open_input, read_exactly
from nbnumba.limits import check_bytes


def write_float_image(path, image) -> None:
    """Write `image` as raw native-endian float32, row-major (slow, fast).

    Parameters
    ----------
    path : str or os.PathLike
        The output file; written atomically.
    image : array_like
        The image, shape (spixels, fpixels); converted to float32.

    Raises
    ------
    InputError
        If the file cannot be written.
    """
    data = np.ascontiguousarray(image, dtype=np.float32)
    with atomic_open(path) as handle:  # InputError if it cannot be written
        handle.write(memoryview(data).cast("B"))


def read_float_image(path, fpixels: int, spixels: int) -> np.ndarray:
    """Read a raw native-endian float32 image of `spixels` rows of `fpixels` values.

    Parameters
    ----------
    path : str or os.PathLike
        The raw float file.
    fpixels, spixels : int
        Fast and slow dimensions.

    Returns
    -------
    numpy.ndarray
        float32 array of shape (spixels, fpixels).

    Raises
    ------
    InputError
        If the file cannot be read or its size is not ``4*fpixels*spixels`` bytes.
    """
    name = os.fspath(path)
    need = 4 * fpixels * spixels
    handle, _, size = open_input(name, "float image")
    with handle:
        if fpixels > 0 and spixels > 0 and size in (None, need):
            check_bytes(2 * need, f"the float image {name} ({fpixels} x {spixels} pixels)")
        # a regular file of another size is refused unread; a device or FIFO is read one byte past the image
        raw = read_exactly(handle, need + 1, "float image", name) if size in (None, need) and need > 0 else b""
    found = size if size is not None else len(raw)
    if fpixels <= 0 or spixels <= 0 or found != need:
        shown = f"more than {need}" if size is None and found > need else str(found)
        raise InputError(f"float image {name}: expected {need} bytes ({fpixels} x {spixels} float32), "
                         f"found {shown}")
    return np.frombuffer(raw, dtype=np.float32).reshape(spixels, fpixels).copy()
