# SPDX-License-Identifier: BSD-3-Clause
"""nanoBragg.c's random numbers: Numerical Recipes ``ran1`` with its shared shuffle table, and the
random rotations built on it (mosaic domains, ``-misset random``), with C's float32 intermediates."""
import math
import sys

import numpy as np
from numba import njit

from nbnumba._jit import JIT_OPTIONS, python_twins

IA = 16807
IM = 2147483647
AM = 1.0 / IM
IQ = 127773
IR = 2836
NTAB = 32
NDIV = 1 + (IM - 1) // NTAB
EPS = 1.2e-7
RNMX = 1.0 - EPS


@njit(**JIT_OPTIONS)
def ran1(idum, table):
    """Port of C ``ran1`` (L3773). ``idum`` is a 1-element int64 array (the stream's seed, updated in
    place); ``table`` is the shared state [iy, iv[0..31]] that C keeps in statics for every stream."""
    if idum[0] <= 0 or table[0] == 0:
        if -idum[0] < 1:
            idum[0] = 1
        else:
            idum[0] = -idum[0]
        for j in range(NTAB + 7, -1, -1):
            k = idum[0] // IQ
            idum[0] = IA * (idum[0] - k * IQ) - IR * k
            if idum[0] < 0:
                idum[0] += IM
            if j < NTAB:
                table[1 + j] = idum[0]
        table[0] = table[1]
    k = idum[0] // IQ
    idum[0] = IA * (idum[0] - k * IQ) - IR * k
    if idum[0] < 0:
        idum[0] += IM
    j = table[0] // NDIV
    table[0] = table[1 + j]
    table[1 + j] = idum[0]
    temp = np.float32(AM * table[0])
    if temp > RNMX:
        return np.float32(RNMX)
    return temp


@njit(**JIT_OPTIONS)
def mosaic_rotation_umat(mosaicity, idum, table):
    """Port of C ``mosaic_rotation_umat`` (L3439): a random rotation on a spherical cap. ``mosaicity``
    is rounded to float32 and the angle is computed in float32 (``powf``) as in C. Returns 9 floats,
    row-major."""
    r1 = 2.0 * np.float64(ran1(idum, table)) - 1.0
    r2 = 2.0 * np.float64(ran1(idum, table)) - 1.0
    r3 = 2.0 * np.float64(ran1(idum, table)) - 1.0
    xyrad = math.sqrt(1.0 - r2 * r2)
    rot = np.float64(np.float32(mosaicity) * (np.float32(1.0 - r3 * r3) ** np.float32(1.0 / 3.0)))
    v1 = xyrad * math.sin(math.pi * r1)
    v2 = xyrad * math.cos(math.pi * r1)
    v3 = r2
    t1 = math.cos(rot)
    t2 = 1.0 - t1
    t3 = v1 * v1
    t6 = t2 * v1
    t7 = t6 * v2
    t8 = math.sin(rot)
    t9 = t8 * v3
    t11 = t6 * v3
    t12 = t8 * v2
    t15 = v2 * v2
    t19 = t2 * v2 * v3
    t20 = t8 * v1
    t24 = v3 * v3
    umat = np.empty(9)
    umat[0] = t1 + t2 * t3
    umat[1] = t7 - t9
    umat[2] = t11 + t12
    umat[3] = t7 + t9
    umat[4] = t1 + t2 * t15
    umat[5] = t19 - t20
    umat[6] = t11 - t12
    umat[7] = t19 + t20
    umat[8] = t1 + t2 * t24
    return umat


#: ``ran1`` and ``mosaic_rotation_umat`` as plain-Python twins (``nbnumba._jit.python_twins``): the
#: same numbers, without loading compiled code, for a run that needs a few rotations
HOST = python_twins(sys.modules[__name__], ("ran1", "mosaic_rotation_umat"))
#: up to this many random rotations (mosaic domains) a run computes them with the Python twin, about
#: 20 us each, rather than load the compiled function, about 45 ms
TWIN_ROTATIONS = 1000


class RandomStreams:
    """The C program's random-number state: one shuffle table shared by every stream (misset, mosaic,
    noise), each stream with its own ``idum``. Seeds are given as C stores them (negated)."""

    def __init__(self):
        self.table = np.zeros(NTAB + 1, dtype=np.int64)

    def uniform(self, idum):
        return ran1(idum, self.table)

    def rotation(self, mosaicity, idum, twin=True):
        """``mosaic_rotation_umat`` on this state; ``twin``: with its Python twin (``HOST``)."""
        rotate = HOST.mosaic_rotation_umat if twin else mosaic_rotation_umat
        return rotate(mosaicity, idum, self.table)


def seed_array(seed):
    """A 1-element int64 stream state from a C-style (negated) seed."""
    return np.array([seed], dtype=np.int64)


def mosaic_umats(mosaic_spread, mosaic_domains, streams, idum):
    """Domain rotation matrices as C builds them (L2437-2458): one random rotation per domain, all
    random numbers consumed, then domain 0 forced to the identity. Shape (domains, 3, 3)."""
    umats = np.empty((mosaic_domains, 3, 3))
    twin = mosaic_domains <= TWIN_ROTATIONS
    for mos_tic in range(mosaic_domains):
        umats[mos_tic] = streams.rotation(mosaic_spread, idum, twin).reshape(3, 3)
        if mos_tic == 0:
            umats[0] = np.eye(3)
    return umats


def umat2misset(umat):
    """Port of C ``umat2misset`` (L3491): x, y, z rotation angles (radians) of a 3x3 matrix,
    consistent with ``rotate()``. ``umat`` is a flat sequence of 9."""
    def unit(x, y, z):
        m = math.sqrt(x * x + y * y + z * z)
        return m, ((x / m, y / m, z / m) if m > 0 else (x, y, z))

    mx, (uxx, uxy, uxz) = unit(*(float(u) for u in umat[0:3]))
    my, (uyx, uyy, uyz) = unit(*(float(u) for u in umat[3:6]))
    mz, (uzx, uzy, uzz) = unit(*(float(u) for u in umat[6:9]))
    if mx >= 0 and my <= 0 and mz <= 0:
        uyx, uyy, uyz = 0.0, 1.0, 0.0
        uzx, uzy, uzz = 0.0, 0.0, 1.0
    if mx <= 0 and my >= 0 and mz <= 0:
        uxx, uxy, uxz = 1.0, 0.0, 0.0
        uzx, uzy, uzz = 0.0, 0.0, 1.0
    if mx <= 0 and my <= 0 and mz >= 0:
        uxx, uxy, uxz = 1.0, 0.0, 0.0
        uyx, uyy, uyz = 0.0, 1.0, 0.0

    for _ in range(2):
        xcy = unit(uxy * uyz - uxz * uyy, uxz * uyx - uxx * uyz, uxx * uyy - uxy * uyx)[1]
        ycz = unit(uyy * uzz - uyz * uzy, uyz * uzx - uyx * uzz, uyx * uzy - uyy * uzx)[1]
        zcx = unit(uzy * uxz - uzz * uxy, uzz * uxx - uzx * uxz, uzx * uxy - uzy * uxx)[1]
        if mx <= 0:
            uxx, uxy, uxz = ycz
        if my <= 0:
            uyx, uyy, uyz = zcx
        if mz <= 0:
            uzx, uzy, uzz = xcy

    uxx, uxy, uxz = unit(uxx, uxy, uxz)[1]
    uyx, uyy, uyz = unit(uyx, uyy, uyz)[1]
    uzx, uzy, uzz = unit(uzx, uzy, uzz)[1]

    if uzx * uzx < 1.0:
        rotx = math.atan2(uzy, uzz)
        roty = math.atan2(-uzx, math.sqrt(uzy * uzy + uzz * uzz))
        rotz = math.atan2(uyx, uxx)
    else:
        rotx = math.atan2(1, 1) * 4
        roty = math.atan2(1, 1) * 2
        rotz = math.atan2(uxy, -uyy)
    return rotx, roty, rotz
