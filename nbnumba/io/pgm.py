# SPDX-License-Identifier: BSD-3-Clause
"""8-bit binary portable greymap (-pgmfile), as nanoBragg.c writes it (L3187-3224)."""
from __future__ import annotations

import numpy as np

from nbnumba.io.atomic import atomic_write

_ROWS = 64  # rows per block of the conversion


def pgm_scale(requested: float, intfile_scale: float, rmsd: float) -> float:
    """C's scale of the PGM pixels: ``-pgmscale`` if positive, else 250/(5 rmsd), else the int scale."""
    if requested > 0.0:
        return requested
    return 250.0 / (5.0 * rmsd) if rmsd > 0.0 else intfile_scale


def pgm_pixels(floatimage, roi_mask, scale: float) -> np.ndarray:
    """uint8 pixels: ``(unsigned char)(min(value*scale, 255))`` inside the ROI, 0 outside.

    C truncates towards zero; like x86 it keeps the low byte of the 32-bit integer, which matters only
    for negative pixel values. Computed in blocks of rows (small float64 temporaries)."""
    out = np.zeros(floatimage.shape, np.uint8)
    for start in range(0, floatimage.shape[0], _ROWS):
        rows = slice(start, start + _ROWS)
        test = floatimage[rows].astype(np.float64)
        test *= scale
        np.minimum(test, 255.0, out=test)
        # NaN -> 0 and -inf -> the int32 minimum (low byte 0), as the x86 conversion gives them
        np.nan_to_num(test, copy=False, nan=0.0, neginf=-2.0 ** 31)
        np.maximum(test, -2.0 ** 31, out=test)
        block = (np.trunc(test).astype(np.int64) & 0xFF).astype(np.uint8)
        block[~roi_mask[rows]] = 0
        out[rows] = block
    return out


def write_pgm(path, pixels: np.ndarray, scale: float) -> None:
    """Write ``pixels`` (uint8, (spixels, fpixels)) as P5 with C's header and comment line."""
    spixels, fpixels = pixels.shape
    header = "P5\n%d %d\n# pixels scaled by %g\n255\n" % (fpixels, spixels, scale)
    atomic_write(path, header.encode("ascii") + np.ascontiguousarray(pixels, np.uint8).tobytes())
