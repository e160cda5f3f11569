# SPDX-License-Identifier: BSD-3-Clause
"""The image statistics nanoBragg.c prints (max_I and where, mean, rms, rmsd), as one compiled serial
pass in the C program's order and precision. It runs no BLAS: numpy's ``dot`` would start OpenBLAS's
threads, whose spinning after each call slowed the next image's kernel in a batch by up to 2x on 2
cores."""
import math

from numba import njit

from nbnumba._jit import JIT_OPTIONS


@njit(**JIT_OPTIONS)
def image_sums(floatimage, rendered, roi):
    """C's sums over a float32 image (nanoBragg.c L3041-3049 during the render, L3096-3117 after),
    single-threaded order: over the ``rendered`` pixels in row-major order the maximum (the first
    pixel holding it; its row-major index, -1 if none exceeds 0), the sum and the sum of squares
    (each square a float32 product, as C's ``floatimage[i]*floatimage[i]``); then, with
    ``avg = sum / max(count, 1)``, the sum of squared deviations from ``avg`` over the ``roi`` pixels.

    Returns ``(count, total, total_sqr, max_I, max_index, roi_count, deviation_sqr)``."""
    spixels, fpixels = floatimage.shape
    count = 0
    total = 0.0
    total_sqr = 0.0
    max_I = 0.0
    max_index = -1
    for spixel in range(spixels):
        for fpixel in range(fpixels):
            if not rendered[spixel, fpixel]:
                continue
            value = floatimage[spixel, fpixel]
            if value > max_I:
                max_I = float(value)
                max_index = spixel * fpixels + fpixel
            total += value
            total_sqr += value * value
            count += 1
    avg = total / max(count, 1)
    roi_count = 0
    deviation_sqr = 0.0
    for spixel in range(spixels):
        for fpixel in range(fpixels):
            if roi[spixel, fpixel]:
                deviation = floatimage[spixel, fpixel] - avg
                deviation_sqr += deviation * deviation
                roi_count += 1
    return count, total, total_sqr, max_I, max_index, roi_count, deviation_sqr


def image_statistics(floatimage, setup):
    """C's statistics over the rendered pixels (L3091-3134) of a ``nbnumba.setup.Setup``: max_I and
    where (metres, the centre of the pixel's last sub-pixel, as C reports it), mean, rms, rmsd."""
    count, total, total_sqr, max_I, max_idx, n_roi, deviation_sqr = image_sums(
        floatimage, setup.rendered(), setup.roi_mask())
    max_pos = (0.0, 0.0)
    if max_idx >= 0:
        spixel, fpixel = divmod(max_idx, setup.detector.fpixels)
        oversample = setup.sampling.oversample
        sub = setup.detector.pixel_size / oversample
        last = oversample - 1
        max_pos = (sub * (fpixel * oversample + last) + sub / 2.0, sub * (spixel * oversample + last) + sub / 2.0)
    avg = total / max(count, 1)
    rms = math.sqrt(total_sqr / (max(count, 2) - 1))
    rmsd = math.sqrt(deviation_sqr / (max(n_roi, 2) - 1))
    return dict(max_I=max_I, max_I_x=max_pos[0], max_I_y=max_pos[1], mean=avg, rms=rms, rmsd=rmsd)
