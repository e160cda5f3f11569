# SPDX-License-Identifier: BSD-3-Clause
"""The noise image of nanoBragg.c (L3228-3257): Poisson deviates of every ROI pixel, drawn with the
C program's ``poidev`` / ``gaussdev`` / ``gammln`` (Numerical Recipes) on its shared ``ran1`` stream.

C declares these functions and most of their variables ``float`` while calling the double-precision
``exp``/``log``/``sqrt``/``tan``; every intermediate below is rounded exactly where C rounds it, so a
given ``-seed`` gives C's noise image pixel for pixel."""
import math

import numpy as np
from numba import njit

from nbnumba._jit import JIT_OPTIONS
from nbnumba.rng import ran1

F32 = np.float32

# slots of the per-image state array: C's statics in poidev() and gaussdev()
OLDM, G, SQ, ALXM, ISET, GSET = range(6)
STATE_LEN = 6


def new_state():
    """C's statics at program start: ``oldm = -1``, ``iset = 0``."""
    state = np.zeros(STATE_LEN)
    state[OLDM] = -1.0
    return state


@njit(**JIT_OPTIONS)
def gammln(xx):
    """Port of C ``gammln`` (L3741): ln(Gamma(xx)) for float ``xx``, computed in double, returned as float."""
    x = np.float64(xx)
    y = x
    tmp = x + 5.5
    tmp -= (x + 0.5) * math.log(tmp)
    ser = 1.000000000190015
    y += 1.0
    ser += 76.18009172947146 / y
    y += 1.0
    ser += -86.50532032941677 / y
    y += 1.0
    ser += 24.01409824083091 / y
    y += 1.0
    ser += -1.231739572450155 / y
    y += 1.0
    ser += 0.1208650973866179e-2 / y
    y += 1.0
    ser += -0.5395239384953e-5 / y
    return F32(-tmp + math.log(2.5066282746310005 * ser / x))


@njit(**JIT_OPTIONS)
def gaussdev(idum, table, state):
    """Port of C ``gaussdev`` (L3677): a unit normal deviate (Box-Muller), float, keeping the spare
    deviate in ``state`` as C keeps it in statics."""
    if state[ISET] == 0.0:
        while True:
            v1 = F32(2.0 * np.float64(ran1(idum, table)) - 1.0)
            v2 = F32(2.0 * np.float64(ran1(idum, table)) - 1.0)
            rsq = F32(v1 * v1 + v2 * v2)
            if not (rsq >= 1.0 or rsq == 0.0):
                break
        fac = F32(math.sqrt(-2.0 * math.log(np.float64(rsq)) / np.float64(rsq)))
        state[GSET] = F32(v1 * fac)
        state[ISET] = 1.0
        return F32(v2 * fac)
    state[ISET] = 0.0
    return F32(state[GSET])


@njit(**JIT_OPTIONS)
def poidev(xm, idum, table, state):
    """Port of C ``poidev`` (L3616): a Poisson deviate of mean ``xm`` (float32), as float.

    Below 12 the direct method (products of uniforms), up to 1e6 the rejection method with a
    Lorentzian comparison function, above that a Gaussian approximation."""
    xm = F32(xm)
    if xm > 1.0e6:
        return F32(np.float64(xm) + math.sqrt(np.float64(xm)) * np.float64(gaussdev(idum, table, state)))
    if xm < 12.0:
        if xm != state[OLDM]:
            state[OLDM] = xm
            state[G] = F32(math.exp(-np.float64(xm)))
        g = F32(state[G])
        em = F32(-1.0)
        t = F32(1.0)
        while True:
            em = F32(em + F32(1.0))
            t = F32(t * ran1(idum, table))
            if not (t > g):
                break
        return em
    if xm != state[OLDM]:
        state[OLDM] = xm
        state[SQ] = F32(math.sqrt(2.0 * np.float64(xm)))
        alxm = F32(math.log(np.float64(xm)))
        state[ALXM] = alxm
        state[G] = F32(F32(xm * alxm) - gammln(F32(np.float64(xm) + 1.0)))
    sq = F32(state[SQ])
    alxm = F32(state[ALXM])
    g = F32(state[G])
    while True:
        while True:
            y = F32(math.tan(math.pi * np.float64(ran1(idum, table))))
            em = F32(F32(sq * y) + xm)
            if not (em < 0.0):
                break
        em = F32(math.floor(np.float64(em)))
        exponent = F32(F32(F32(em * alxm) - gammln(F32(np.float64(em) + 1.0))) - g)
        t = F32(0.9 * (1.0 + np.float64(F32(y * y))) * math.exp(np.float64(exponent)))
        if not (ran1(idum, table) > t):
            break
    return em


@njit(**JIT_OPTIONS)
def _noise_pixels(floatimage, roi_xmin, roi_xmax, roi_ymin, roi_ymax, adc_offset, idum, table, state, out, counts):
    spixels, fpixels = floatimage.shape
    total = 0.0
    overloads = 0
    keep_counts = counts.shape[0] > 0
    for spixel in range(spixels):
        for fpixel in range(fpixels):
            if fpixel < roi_xmin or fpixel > roi_xmax or spixel < roi_ymin or spixel > roi_ymax:
                continue
            test = np.float64(poidev(floatimage[spixel, fpixel], idum, table, state))
            total += test
            test += adc_offset
            if keep_counts:
                # the same value before the 16-bit clamp, truncated toward zero as C's integer casts
                # do, saturating at the int32 limits
                if test >= 2147483647.0:
                    counts[spixel, fpixel] = 2147483647
                elif test <= -2147483648.0:
                    counts[spixel, fpixel] = -2147483648
                else:
                    counts[spixel, fpixel] = np.int32(test)
            if test > 65535.0:
                test = 65535.0
                overloads += 1
            # C: (unsigned short) test; x86 truncates to a 32-bit int and keeps the low 16 bits,
            # so a negative value (a negative -adc on an empty pixel) wraps around
            out[spixel, fpixel] = np.uint16(np.int64(np.int32(test)) & 0xFFFF)
    return total, overloads


def noise_image(floatimage, roi, adc_offset, idum, table, counts=None):
    """The noise SMV pixels and C's totals.

    Parameters
    ----------
    floatimage : (spixels, fpixels) float32
    roi : (xmin, xmax, ymin, ymax), inclusive
    adc_offset : float
    idum : 1-element int64 array, the noise stream (C's ``seed``), updated in place
    table : the shared ``ran1`` shuffle table (``RandomStreams.table``), updated in place
    counts : (spixels, fpixels) int32 array, optional
        Filled in place with the same pixels without the 16-bit clamp (Poisson deviate + ADC offset,
        truncated toward zero; the int32 limits saturate): the ``--hdf5-noise`` image. The random
        sequence, and so the uint16 image, do not depend on it. Pixels outside the ROI are left as given.

    Returns
    -------
    (uint16 image, photons, overloads): pixels outside the ROI are 0; ``photons`` is the sum of the
    Poisson deviates before the ADC offset, ``overloads`` the pixels clipped at 65535.
    """
    out = np.zeros(floatimage.shape, np.uint16)
    if counts is not None and (counts.shape != floatimage.shape or counts.dtype != np.int32
                               or not counts.flags.c_contiguous):
        raise ValueError("counts: expected a C-contiguous int32 array of shape %s" % (floatimage.shape,))
    xmin, xmax, ymin, ymax = roi
    total, overloads = _noise_pixels(np.ascontiguousarray(floatimage, np.float32), xmin, xmax, ymin, ymax,
                                     float(adc_offset), idum, table, new_state(), out,
                                     np.zeros((0, 0), np.int32) if counts is None else counts)
    return out, float(total), int(overloads)
