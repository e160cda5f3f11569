# SPDX-License-Identifier: BSD-3-Clause
"""Crystal set-up as nanoBragg.c does it: unit cell or MOSFLM matrix, misset, real/reciprocal
regeneration (L1792-2062), crystal size and oversampling (L2064-2101), and the per (phi step, mosaic
domain) cell-vector tables the kernels read."""
import math
from dataclasses import dataclass

import numpy as np

from nbnumba.constants import DBL_MIN, RTD
from nbnumba.errors import InputError
from nbnumba.kernels.physics import HOST
from nbnumba.params import Params
from nbnumba.rng import umat2misset

# the physics' vector helpers as Python (``physics.HOST``): the set-up loads no compiled code for them
cross, dot, magnitude, rotate = HOST.cross, HOST.dot, HOST.magnitude, HOST.rotate
rotate_axis, rotate_umat, scale = HOST.rotate_axis, HOST.rotate_umat, HOST.scale

_INT_MAX = 2**31 - 1
_BAD_CELL = ("-cell: the cell a b c alpha beta gamma has %s cell vectors; expected positive edges (Angstrom) "
             "that are neither tiny nor huge and angles that can close a cell")



def _rescale(v, new_magnitude):
    oldmag = magnitude(v)
    if oldmag <= 0.0:
        oldmag = 1.0
    return scale(v, new_magnitude / oldmag)


def _clamp_angles(sin_a, cos_a):
    sin_a = min(max(sin_a, -1.0), 1.0)
    if cos_a * cos_a > 1.0:
        cos_a = 1.0
    return math.atan2(sin_a, cos_a)


def _oddball(label, values, log):
    if any(v > 1.0000001 or v < -1.0000001 for _, v in values):
        log("WARNING: oddball %s:" % label)
        for name, v in values:
            log("%s = %.25g" % (name, v))


@dataclass
class Crystal:
    """Cell vectors: ``a, b, c`` in metres (phi = 0, no mosaic), reciprocal vectors in 1/Angstrom."""
    a: tuple
    b: tuple
    c: tuple
    a_star: tuple
    b_star: tuple
    c_star: tuple
    V_cell: float  # Angstrom^3
    Na: float
    Nb: float
    Nc: float
    misset: tuple = None  # radians, as applied (random or given)


def cell_reciprocal_vectors(p: Params, log):
    """Default-orientation reciprocal vectors of ``-cell`` (C L1792-1876): (a*, b*, c*, a, b, c,
    V_cell) with lengths in Angstrom and 1/Angstrom."""
    a, b, c = p.cell_a, p.cell_b, p.cell_c
    alpha, beta, gamma = p.cell_alpha, p.cell_beta, p.cell_gamma
    if b <= 0.0:
        b = a
    if c <= 0.0:
        c = a
    if alpha <= 0.0:
        alpha = math.pi / 2
    if beta <= 0.0:
        beta = math.pi / 2
    if gamma <= 0.0:
        gamma = math.pi / 2
    aavg = (alpha + beta + gamma) / 2
    skew = math.sin(aavg) * math.sin(aavg - alpha) * math.sin(aavg - beta) * math.sin(aavg - gamma)
    if skew < 0.0:
        skew = -skew
    V_cell = 2.0 * a * b * c * math.sqrt(skew)
    if V_cell <= 0.0:
        log("WARNING: impossible unit cell volume: %g" % V_cell)
        V_cell = DBL_MIN
    V_star = 1.0 / V_cell
    a_star_len = b * c * math.sin(alpha) * V_star
    b_star_len = c * a * math.sin(beta) * V_star
    c_star_len = a * b * math.sin(gamma) * V_star
    if a_star_len <= 0.0 or b_star_len <= 0.0 or c_star_len <= 0.0:
        log("WARNING: impossible reciprocal cell lengths: %g %g %g" % (a_star_len, b_star_len, c_star_len))
        a_star_len = abs(a_star_len) or DBL_MIN
        b_star_len = abs(b_star_len) or DBL_MIN
        c_star_len = abs(c_star_len) or DBL_MIN
    sin_alpha_star = a * V_star / b_star_len / c_star_len
    sin_beta_star = b * V_star / a_star_len / c_star_len
    sin_gamma_star = c * V_star / a_star_len / b_star_len
    cos_alpha_star = (math.cos(beta) * math.cos(gamma) - math.cos(alpha)) / (math.sin(beta) * math.sin(gamma))
    cos_beta_star = (math.cos(gamma) * math.cos(alpha) - math.cos(beta)) / (math.sin(gamma) * math.sin(alpha))
    cos_gamma_star = (math.cos(alpha) * math.cos(beta) - math.cos(gamma)) / (math.sin(alpha) * math.sin(beta))
    if any(abs(v) > 1.0000001 for v in (sin_alpha_star, sin_beta_star, sin_gamma_star,
                                         cos_alpha_star, cos_beta_star, cos_gamma_star)):
        log("WARNING: oddball reciprocal cell angles:")
        log("sin(alpha_star) = %.25g" % sin_alpha_star)
        log("cos(alpha_star) = %.25g" % cos_alpha_star)
        log("sin(beta_star)  = %.25g" % sin_beta_star)
        log("cos(beta_star)  = %.25g" % cos_beta_star)
        log("sin(gamma_star) = %.25g" % sin_gamma_star)
        log("cos9gamma_star) = %.25g" % cos_gamma_star)
    sin_gamma_star = min(max(sin_gamma_star, -1.0), 1.0)
    if cos_alpha_star * cos_alpha_star > 1.0:
        cos_alpha_star = 1.0
    if cos_beta_star * cos_beta_star > 1.0:
        cos_beta_star = 1.0
    if cos_gamma_star * cos_gamma_star > 1.0:
        cos_gamma_star = 1.0
    a_star = (a_star_len, 0.0, 0.0)
    b_star = (b_star_len * cos_gamma_star, b_star_len * sin_gamma_star, 0.0)
    c_star = (c_star_len * cos_beta_star,
              c_star_len * (cos_alpha_star - cos_beta_star * cos_gamma_star) / sin_gamma_star,
              c_star_len * V_cell / (a * b * c * sin_gamma_star))
    return a_star, b_star, c_star, (a, b, c), V_cell


def build_crystal(p: Params, matrix, lambda0, streams, misset_idum, log) -> Crystal:
    """Orientation, misset and real/reciprocal regeneration (C L1792-2062). ``matrix`` is the
    (a*, b*, c*) of ``-mat`` already divided by lambda, or None."""
    a_star = b_star = c_star = (0.0, 0.0, 0.0)
    cell_lengths = (0.0, 0.0, 0.0)
    V_cell = 0.0
    if p.user_cell:
        try:
            a_star, b_star, c_star, cell_lengths, V_cell = cell_reciprocal_vectors(p, log)
        except ZeroDivisionError:  # C would carry on with infinite or NaN vectors
            raise InputError(_BAD_CELL % "no finite") from None
    if matrix is not None:
        log("reading %s" % p.matfilename)
        a_star, b_star, c_star = matrix

    misset = p.misset
    if p.misset_random:
        umat = streams.rotation(90.0, misset_idum)
        misset = umat2misset(umat)
        log("random orientation misset angles: %f %f %f deg" % (misset[0] * RTD, misset[1] * RTD, misset[2] * RTD))
    if misset is not None:
        a_star = rotate(a_star, *misset)
        b_star = rotate(b_star, *misset)
        c_star = rotate(c_star, *misset)

    a_star_cross_b_star = cross(a_star, b_star)
    b_star_cross_c_star = cross(b_star, c_star)
    c_star_cross_a_star = cross(c_star, a_star)
    V_star = dot(a_star, b_star_cross_c_star)
    if p.user_cell:
        b_star_cross_c_star = _rescale(b_star_cross_c_star, cell_lengths[0] / V_cell)
        c_star_cross_a_star = _rescale(c_star_cross_a_star, cell_lengths[1] / V_cell)
        a_star_cross_b_star = _rescale(a_star_cross_b_star, cell_lengths[2] / V_cell)
        V_star = 1.0 / V_cell
    V_cell = 1.0 / V_star if V_star != 0.0 else math.inf
    a = scale(b_star_cross_c_star, V_cell)
    b = scale(c_star_cross_a_star, V_cell)
    c = scale(a_star_cross_b_star, V_cell)
    _check_cell(p, V_cell, (a, b, c))
    a_star = scale(cross(b, c), V_star)
    b_star = scale(cross(c, a), V_star)
    c_star = scale(cross(a, b), V_star)

    la, lb, lc = magnitude(a), magnitude(b), magnitude(c)
    las, lbs, lcs = magnitude(a_star), magnitude(b_star), magnitude(c_star)
    sines = (las * V_cell / lb / lc, lbs * V_cell / la / lc, lcs * V_cell / la / lb)
    cosines = (dot(b, c) / lb / lc, dot(a, c) / la / lc, dot(a, b) / la / lb)
    _oddball("cell angles", [("sin_alpha", sines[0]), ("cos_alpha", cosines[0]), ("sin_beta ", sines[1]),
                             ("cos_beta ", cosines[1]), ("sin_gamma", sines[2]), ("cos_gamma", cosines[2])], log)
    alpha, beta, gamma = (_clamp_angles(s, co) for s, co in zip(sines, cosines))
    sines_s = (la * V_star / lbs / lcs, lb * V_star / las / lcs, lc * V_star / las / lbs)
    cosines_s = (dot(b_star, c_star) / lbs / lcs, dot(a_star, c_star) / las / lcs, dot(a_star, b_star) / las / lbs)
    _oddball("reciprocal cell angles",
             [("sin(alpha_star)", sines_s[0]), ("cos(alpha_star)", cosines_s[0]),
              ("sin(beta_star) ", sines_s[1]), ("cos(beta_star) ", cosines_s[1]),
              ("sin(gamma_star)", sines_s[2]), ("cos(gamma_star)", cosines_s[2])], log)
    alpha_s, beta_s, gamma_s = (_clamp_angles(s, co) for s, co in zip(sines_s, cosines_s))

    log("Unit Cell: %g %g %g %g %g %g" % (la, lb, lc, alpha * RTD, beta * RTD, gamma * RTD))
    log("Recp Cell: %g %g %g %g %g %g" % (las, lbs, lcs, alpha_s * RTD, beta_s * RTD, gamma_s * RTD))
    log("volume = %g A^3" % V_cell)
    log("real-space cell vectors (Angstrom):")
    log("     %-10s  %-10s  %-10s" % ("a", "b", "c"))
    for i, axis in enumerate("XYZ"):
        log("%s: %11.8f %11.8f %11.8f" % (axis, a[i], b[i], c[i]))
    log("reciprocal-space cell vectors (Angstrom^-1):")
    log("     %-10s  %-10s  %-10s" % ("a_star", "b_star", "c_star"))
    for i, axis in enumerate("XYZ"):
        log("%s: %11.8f %11.8f %11.8f" % (axis, a_star[i], b_star[i], c_star[i]))

    return Crystal(a=scale(a, 1e-10), b=scale(b, 1e-10), c=scale(c, 1e-10), a_star=a_star, b_star=b_star,
                   c_star=c_star, V_cell=V_cell, Na=p.Na, Nb=p.Nb, Nc=p.Nc, misset=misset)


def _check_cell(p, V_cell, real_vectors):
    """InputError for a cell nanoBragg.c would turn into NaN or infinite vectors (coplanar or zero
    reciprocal vectors, or impossible cell angles), before the divisions by edge lengths below."""
    lengths = [magnitude(v) for v in real_vectors]
    if math.isfinite(V_cell) and V_cell > 0.0 and all(math.isfinite(x) and x > 0.0 for x in lengths):
        return
    if p.matfilename is not None:
        raise InputError("-mat %s: the reciprocal cell vectors a*, b*, c* span no volume (they are zero, "
                         "coplanar or too large); expected a MOSFLM A matrix of a real cell" % p.matfilename)
    raise InputError(_BAD_CELL % ("volume %g A^3 but no finite" % V_cell))


def size_crystal(xtal: Crystal, sample_x, sample_y, sample_z, lambda0, distance, pixel_size, oversample, log):
    """Cell counts from the sample size and the oversampling rule (C L2064-2101); returns the
    oversample factor to use (updates ``xtal.Na/Nb/Nc``)."""
    la, lb, lc = magnitude(xtal.a), magnitude(xtal.b), magnitude(xtal.c)
    for size, edge, axis, flag in ((sample_x, la, "a", "-xtalsize/-sample_thick"),
                                   (sample_y, lb, "b", "-xtalsize/-sample_width"),
                                   (sample_z, lc, "c", "-xtalsize/-sample_height")):
        if size > 0 and not math.isfinite(size / edge):
            # C's ceil() gives an infinite cell count
            raise InputError("%s: a crystal %g mm wide is %g unit cells of %g A along %s; expected a finite "
                             "number of cells" % (flag, size * 1e3, size / edge, edge * 1e10, axis))
    if sample_x > 0:
        xtal.Na = float(math.ceil(sample_x / la))
    if sample_y > 0:
        xtal.Nb = float(math.ceil(sample_y / lb))
    if sample_z > 0:
        xtal.Nc = float(math.ceil(sample_z / lc))
    xtal.Na = 1.0 if xtal.Na <= 1.0 else xtal.Na
    xtal.Nb = 1.0 if xtal.Nb <= 1.0 else xtal.Nb
    xtal.Nc = 1.0 if xtal.Nc <= 1.0 else xtal.Nc
    xtalsize = (la * xtal.Na, lb * xtal.Nb, lc * xtal.Nc)
    log("crystal is %g x %g x %g microns" % tuple(s * 1e6 for s in xtalsize))
    xtalsize_max = max(xtalsize)
    reciprocal_pixel_size = lambda0 * distance / pixel_size
    ratio = 3.0 * xtalsize_max / reciprocal_pixel_size if reciprocal_pixel_size != 0.0 else math.inf
    if not ratio <= _INT_MAX:
        # C's (int) of such a value is undefined; nothing could render that many sub-pixels anyway
        if oversample <= 0:
            raise InputError("auto-selected oversampling would be %g sub-pixels per pixel edge (crystal %g A, "
                             "reciprocal pixel %g A); give -oversample N"
                             % (ratio, xtalsize_max * 1e10, reciprocal_pixel_size * 1e10))
        ratio = _INT_MAX
    recommended = int(math.ceil(ratio))
    if recommended <= 0:
        recommended = 1
    if oversample <= 0:
        oversample = recommended
        log("auto-selected %d-fold oversampling" % oversample)
    if oversample < recommended:
        log("WARNING: maximum dimension of sample is %g A" % (xtalsize_max * 1e10))
        log("         but reciprocal pixel size is %g A" % (reciprocal_pixel_size * 1e10))
        log("         intensity may vary significantly across a pixel!")
        log("         recommend -oversample %d to work around this" % recommended)
    volume = xtalsize[0] * xtalsize[1] * xtalsize[2]
    log("approximate MW = %g" % (volume * 1.2e6 * 6.02214179e23 / (xtal.Na * xtal.Nb * xtal.Nc)))
    return oversample


def cell_tables(xtal: Crystal, spindle, phi_values, umats, mosaic_spread, carryover):
    """Cell vectors (rows a, b, c; metres) for every (phi step, mosaic domain): the kernels' h,k,l is
    one 3x3 product per sample. Mosaic rotations act after the spindle rotation (C L2779-2806).

    Returns (first, carry). In the default mode both are the fresh rotation R(phi)·cell. With
    ``carryover`` (c-parity) a phi step of exactly 0 keeps the orientation of the previous phi
    evaluation, as the C program's ``if(phi != 0.0)`` does: ``first`` is the image's very first phi
    loop (starting from the unrotated cell), ``carry`` every later one (starting from the
    orientation the previous loop left)."""
    cell0 = (xtal.a, xtal.b, xtal.c)

    def fresh(phi):
        return tuple(rotate_axis(v, spindle, phi) for v in cell0)

    def loop(start):
        oriented, state = [], start
        for phi in phi_values:
            if phi != 0.0:
                state = fresh(phi)
            oriented.append(state)
        return oriented, state

    if carryover:
        first, after = loop(cell0)
        carry, _ = loop(after)
    else:
        first = carry = [fresh(phi) if phi != 0.0 else cell0 for phi in phi_values]

    def with_mosaic(oriented):
        table = np.empty((len(phi_values), umats.shape[0], 3, 3))
        for phi_tic, vectors in enumerate(oriented):
            for mos_tic in range(umats.shape[0]):
                u = umats[mos_tic].ravel()
                for axis, v in enumerate(vectors):
                    table[phi_tic, mos_tic, axis] = rotate_umat(v, *u) if mosaic_spread > 0.0 else v
        return table

    table_first = with_mosaic(first)
    table_carry = table_first if first is carry else with_mosaic(carry)
    return table_first, table_carry
