# SPDX-License-Identifier: BSD-3-Clause
"""8-bit binary portable greymap (-pgmfile), as nanoBragg.c writes it (L3187-3224)."""
from __future__ import annotations

import numpy as np

from nbnumba.io.atomic import atomic_write


def pgm_scale(requested: float, intfile_scale: float, rmsd: float) -> float:
    """C's scale of the PGM pixels: ``-pgmscale`` if positive, else 250/(5 rmsd), else the int scale."""
    if requested > 0.0:
        return requested
    return 250.0 / (5.0 * rmsd) if rmsd > 0.0 else intfile_scale


def pgm_pixels(floatimage, roi_mask, scale: float) -> np.ndarray:
    """uint8 pixels: ``(unsigned char)(min(value*scale, 255))`` inside the ROI, 0 outside.

    C truncates towards zero; like x86 it keeps the low byte of the 32-bit integer, which matters only
    for negative values (a negative -pgmscale)."""
    test = np.minimum(floatimage.astype(np.float64) * scale, 255.0)
    # keep the cast defined: values beyond int32 cannot occur after the clamp except -inf/NaN
    test = np.nan_to_num(test, nan=0.0, neginf=-2.0 ** 31)
    out = (np.trunc(np.maximum(test, -2.0 ** 31)).astype(np.int64) & 0xFF).astype(np.uint8)
    out[~roi_mask] = 0
    return out


def write_pgm(path, pixels: np.ndarray, scale: float) -> None:
    """Write ``pixels`` (uint8, (spixels, fpixels)) as P5 with C's header and comment line."""
    spixels, fpixels = pixels.shape
    header = "P5\n%d %d\n# pixels scaled by %g\n255\n" % (fpixels, spixels, scale)
    atomic_write(path, header.encode("ascii") + np.ascontiguousarray(pixels, np.uint8).tobytes())
