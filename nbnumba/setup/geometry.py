# SPDX-License-Identifier: BSD-3-Clause
"""Detector and beam geometry as nanoBragg.c sets it up: pixel counts, beam-centre conventions,
pivots, detector rotations and pix0 (L1118-1272, L1700-1776), the step counts of phi, divergence,
dispersion and sensor layers (L1380-1695), and the source list (L2319-2434)."""
import math
from dataclasses import dataclass

import numpy as np

from nbnumba.constants import DBL_MIN, RTD, Convention, Pivot
from nbnumba.errors import InputError
from nbnumba.kernels.physics import HOST
from nbnumba.params import Params

# the physics' vector helpers as Python (``physics.HOST``): the set-up loads no compiled code for them
cross, dot, magnitude, rotate = HOST.cross, HOST.dot, HOST.magnitude, HOST.rotate
rotate_axis, unitize = HOST.rotate_axis, HOST.unitize

# lab-frame vectors per convention (c_behaviour.md §3.1): beam, fdet, sdet, odet, twotheta, polar, spindle
CONVENTION_VECTORS = {
    Convention.ADXV: ((0, 0, 1), (1, 0, 0), (0, -1, 0), (0, 0, 1), (-1, 0, 0), (1, 0, 0), (1, 0, 0)),
    Convention.MOSFLM: ((1, 0, 0), (0, 0, 1), (0, -1, 0), (1, 0, 0), (0, 0, -1), (0, 0, 1), (0, 0, 1)),
    Convention.DENZO: ((1, 0, 0), (0, 0, 1), (0, -1, 0), (1, 0, 0), (0, 0, -1), (0, 0, 1), (0, 0, 1)),
    Convention.XDS: ((0, 0, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 0), (1, 0, 0), (1, 0, 0)),
    Convention.DIALS: ((0, 0, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 0), (0, 1, 0), (0, 1, 0)),
}


def c_div(a, b):
    """a/b with C's IEEE semantics for a zero divisor (Python would raise)."""
    if b != 0.0:
        return a / b
    if a == 0.0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _vec(v):
    return (float(v[0]), float(v[1]), float(v[2]))


@dataclass
class Detector:
    """The detector after nanoBragg.c's set-up; vectors are unit 3-tuples, lengths in metres."""
    fpixels: int
    spixels: int
    pixel_size: float
    detsize_f: float
    detsize_s: float
    convention: str
    pivot: str
    fdet: tuple
    sdet: tuple
    odet: tuple
    beam: tuple
    polar: tuple
    spindle: tuple
    twotheta_axis: tuple
    vert: tuple
    pix0: tuple = None
    distance: float = math.nan
    close_distance: float = math.nan
    Xbeam: float = math.nan
    Ybeam: float = math.nan
    Fbeam: float = math.nan
    Sbeam: float = math.nan
    Xclose: float = math.nan
    Yclose: float = math.nan
    Fclose: float = math.nan
    Sclose: float = math.nan
    ORGX: float = math.nan
    ORGY: float = math.nan
    dials_origin: tuple = (0.0, 0.0, 0.0)
    twotheta: float = 0.0
    curved: bool = False
    point_pixel: bool = False

    @property
    def shape(self):
        return (self.spixels, self.fpixels)


def detector_frame(p: Params, log):
    """Pixel counts, default beam centres and the convention's vectors (C L1118-1272).

    Also applies C's beam and sample "fill in the blanks" rules that live in the same block
    (fluence from flux, sample clipped by the beam); returns (detector, beam dict)."""
    pixel_size = p.pixel_size
    detsize_f, detsize_s = p.detsize_f, p.detsize_s
    if p.fpixels:
        detsize_f = pixel_size * p.fpixels
    if p.spixels:
        detsize_s = pixel_size * p.spixels
    fpixels = int(math.ceil(detsize_f / pixel_size - 0.5))
    spixels = int(math.ceil(detsize_s / pixel_size - 0.5))

    fluence, flux, sample_y, sample_z = p.fluence, p.flux, p.sample_y, p.sample_z
    if flux != 0.0 and p.exposure > 0.0 and p.beamsize >= 0:
        fluence = c_div(c_div(flux * p.exposure, p.beamsize), p.beamsize)
    if p.beamsize >= 0:
        if p.beamsize < sample_y:
            log("WARNING: clipping sample (%g m high) with beam (%g m)" % (sample_y, p.beamsize))
            sample_y = p.beamsize
        if p.beamsize < sample_z:
            log("WARNING: clipping sample (%g m wide) with beam (%g m)" % (sample_z, p.beamsize))
            sample_z = p.beamsize
    if p.exposure > 0.0:
        flux = fluence / p.exposure * p.beamsize * p.beamsize
    beam = dict(fluence=fluence, flux=flux, sample_y=sample_y, sample_z=sample_z)

    Fclose = Sclose = math.nan
    if not math.isnan(p.ORGX):
        Fclose = (p.ORGX - 0.5) * pixel_size
    if not math.isnan(p.ORGY):
        Sclose = (p.ORGY - 0.5) * pixel_size
    # C L1156-1161, with its "- 0*pixel_size" / "+ 0*pixel_size" kept as written (bit-parity: x - 0.0 and
    # x + 0.0 differ for -0.0)
    if math.isnan(Fclose):
        Fclose = (detsize_f - 0 * pixel_size) / 2.0
    if math.isnan(Sclose):
        Sclose = (detsize_s + 0 * pixel_size) / 2.0
    Xclose = Fclose if math.isnan(p.Xclose) else p.Xclose
    Yclose = Sclose if math.isnan(p.Yclose) else p.Yclose
    Xbeam, Ybeam = p.Xbeam, p.Ybeam

    conv = p.beam_convention
    pivot = p.detector_pivot
    vectors = [p.beam_vector, p.fdet_vector, p.sdet_vector, p.odet_vector, p.twotheta_axis,
               p.polar_vector, p.spindle_vector]
    # the conventions' default beam centres, C L1172-1255, each C's expression as written (bit-parity)
    if conv == Convention.ADXV:
        if math.isnan(Xbeam):
            Xbeam = (detsize_f + pixel_size) / 2.0
        if math.isnan(Ybeam):
            Ybeam = (detsize_s - pixel_size) / 2.0
        Fbeam, Sbeam, pivot = Xbeam, detsize_s - Ybeam, Pivot.BEAM
    elif conv in (Convention.MOSFLM, Convention.DENZO):
        if math.isnan(Xbeam):
            Xbeam = (detsize_s + pixel_size) / 2.0
        if math.isnan(Ybeam):
            Ybeam = (detsize_f + pixel_size) / 2.0
        half = 0.5 if conv == Convention.MOSFLM else 0.0
        Fbeam, Sbeam, pivot = Ybeam + half * pixel_size, Xbeam + half * pixel_size, Pivot.BEAM
    else:  # xds, dials, custom
        if math.isnan(Xbeam):
            Xbeam = Xclose
        if math.isnan(Ybeam):
            Ybeam = Yclose
        Fbeam, Sbeam = Xbeam, Ybeam
        if conv == Convention.CUSTOM:
            Fclose, Sclose = Xbeam, Ybeam
        else:
            pivot = Pivot.SAMPLE
    if conv in CONVENTION_VECTORS:
        vectors = CONVENTION_VECTORS[conv]
    beam_v, fdet, sdet, odet, twotheta_axis, polar, spindle = (_vec(v) for v in vectors)

    if conv == Convention.CUSTOM:
        _check_directions(((beam_v, "-beam_vector"), (fdet, "-fdet_vector"), (sdet, "-sdet_vector"),
                           (polar, "-polar_vector"), (spindle, "-spindle_axis")))
    _, beam_v = unitize(beam_v)
    _, fdet = unitize(fdet)
    _, sdet = unitize(sdet)
    mag, odet = unitize(odet)
    if mag != 1.0:
        log("WARNING: auto-generating odet_vector")
        _, odet = unitize(cross(fdet, sdet))
    _, polar = unitize(polar)
    _, spindle = unitize(spindle)
    _, vert = unitize(cross(beam_v, polar))

    det = Detector(fpixels=fpixels, spixels=spixels, pixel_size=pixel_size, detsize_f=detsize_f,
                   detsize_s=detsize_s, convention=conv, pivot=pivot, fdet=fdet, sdet=sdet, odet=odet,
                   beam=beam_v, polar=polar, spindle=spindle, twotheta_axis=twotheta_axis, vert=vert,
                   distance=p.distance, close_distance=p.close_distance, Xbeam=Xbeam, Ybeam=Ybeam,
                   Fbeam=Fbeam, Sbeam=Sbeam, Xclose=Xclose, Yclose=Yclose, Fclose=Fclose, Sclose=Sclose,
                   twotheta=p.detector_twotheta, curved=p.curved_detector, point_pixel=p.point_pixel)
    return det, beam


def _check_directions(vectors):
    """InputError for a user direction whose length overflows or underflows in double precision
    (e.g. -beam_vector 1e308 1e308 1e308): C's unitize turns it into a zero vector, and the error
    would surface later under another flag's name."""
    for v, flag in vectors:
        length = magnitude(v)
        if not (0.0 < length < math.inf):
            raise InputError("%s %g %g %g: the vector's length %s in double precision; expected a direction "
                             "X Y Z of moderate size (it is normalised)"
                             % ((flag,) + v + ("overflows" if length > 0 else "underflows to 0",)))


def position_detector(det: Detector, p: Params, log):
    """Rotate the detector and place pix0 by the pivot, then re-derive the beam centre, close
    point, XDS origin and DIALS origin exactly as C does (L1700-1776); updates ``det`` in place."""
    log("%s convention selected." % det.convention)
    rotx, roty, rotz = p.detector_rotx, p.detector_roty, p.detector_rotz
    ratio = dot(det.beam, rotate(det.odet, rotx, roty, rotz))
    if ratio == 0.0:
        ratio = DBL_MIN
    close_distance = det.close_distance
    if math.isnan(close_distance):
        close_distance = abs(ratio * det.distance)
    distance = close_distance / ratio

    fdet, sdet, odet = det.fdet, det.sdet, det.odet
    if det.pivot == Pivot.SAMPLE:
        log("pivoting detector around sample")
        pix0 = tuple(-det.Fclose * fdet[i] - det.Sclose * sdet[i] + close_distance * odet[i] for i in range(3))
        pix0 = rotate(pix0, rotx, roty, rotz)
        pix0 = rotate_axis(pix0, det.twotheta_axis, det.twotheta)
    fdet = rotate_axis(rotate(fdet, rotx, roty, rotz), det.twotheta_axis, det.twotheta)
    sdet = rotate_axis(rotate(sdet, rotx, roty, rotz), det.twotheta_axis, det.twotheta)
    odet = rotate_axis(rotate(odet, rotx, roty, rotz), det.twotheta_axis, det.twotheta)
    if det.pivot == Pivot.BEAM:
        log("pivoting detector around direct beam spot")
        pix0 = tuple(-det.Fbeam * fdet[i] - det.Sbeam * sdet[i] + distance * det.beam[i] for i in range(3))

    det.fdet, det.sdet, det.odet, det.pix0 = fdet, sdet, odet, pix0
    det.Fclose = -dot(pix0, fdet)
    det.Sclose = -dot(pix0, sdet)
    det.close_distance = dot(pix0, odet)
    impact = tuple(det.close_distance / ratio * det.beam[i] - pix0[i] for i in range(3))
    det.Fbeam = dot(fdet, impact)
    det.Sbeam = dot(sdet, impact)
    det.distance = det.close_distance / ratio
    det.ORGX = det.Fclose / det.pixel_size + 0.5
    det.ORGY = det.Sclose / det.pixel_size + 0.5
    det.dials_origin = (1000.0 * dot(pix0, (0.0, 0.0, 1.0)), 1000.0 * dot(pix0, (0.0, 1.0, 0.0)),
                        1000.0 * dot(pix0, (-1.0, 0.0, 0.0)))
    log("XDS incident beam: %g %g %g" % (dot(det.beam, fdet), dot(det.beam, sdet), dot(det.beam, odet)))
    return det


@dataclass
class Steps:
    """Resolved sampling counts (C L1380-1695); angles in radians, lengths in metres."""
    phi0: float
    phisteps: int
    phistep: float
    osc: float
    hdivrange: float
    hdivstep: float
    hdivsteps: int
    vdivrange: float
    vdivstep: float
    vdivsteps: int
    dispersion: float
    dispstep: float
    dispsteps: int
    detector_thick: float
    detector_thickstep: float
    detector_thicksteps: int
    detector_mu: float
    mosaic_spread: float
    mosaic_domains: int

    @property
    def phi_values(self):
        return [self.phi0 + self.phistep * tic for tic in range(self.phisteps)]


def _range_steps(rng, step, nsteps, range_if_steps_only):
    """The shared auto-selection of (range, step, count) used for divergence and dispersion."""
    if nsteps <= 0:
        if rng < 0.0:
            if step <= 0.0:
                return 0.0, 0.0, 1
            return step, step, 2
        if step <= 0.0:
            return rng, rng, 2
        return rng, step, int(math.ceil(rng / step))
    if rng < 0.0:
        if step <= 0.0:
            return range_if_steps_only, range_if_steps_only / nsteps, nsteps
        return step, step, 2
    if step <= 0.0:
        nsteps = max(nsteps, 2)
        return rng, rng / (nsteps - 1), nsteps
    return rng, step, nsteps


def resolve_steps(p: Params, log) -> Steps:
    """Port of C's "default sampling logic" and sanity checks (L1380-1695)."""
    phisteps, osc, phistep = p.phisteps, p.osc, p.phistep
    if phisteps < 0:
        if osc < 0.0:
            if phistep <= 0.0:
                phisteps, osc, phistep = 1, 0.0, 0.0
            else:
                osc, phisteps = phistep, 2
        else:
            if phistep <= 0.0:
                phisteps, phistep = 2, osc / 2.0
            else:
                phisteps = int(math.ceil(osc / phistep))
    else:
        if phisteps == 0:
            phisteps = 1
        if osc < 0.0:
            if phistep <= 0.0:
                osc = 1.0 / RTD
                phistep = osc / phisteps
            else:
                osc, phisteps = phistep, 2
        elif phistep < 0.0:
            phistep = osc / phisteps

    hdivrange, hdivstep, hdivsteps = _range_steps(p.hdivrange, p.hdivstep, p.hdivsteps, 1.0)
    vdivrange, vdivstep, vdivsteps = _range_steps(p.vdivrange, p.vdivstep, p.vdivsteps, 1.0)
    dispersion, dispstep, dispsteps = _range_steps(p.dispersion, p.dispstep, p.dispsteps, 1.0)

    thick, thickstep, thicksteps = p.detector_thick, p.detector_thickstep, p.detector_thicksteps
    if thicksteps <= 0:
        if thick < 0.0:
            if thickstep <= 0.0:
                thicksteps, thick, thickstep = 1, 0.0, 0.0
            else:
                thick, thicksteps = thickstep, 2
        else:
            if thickstep <= 0.0:
                thicksteps = 2
                thickstep = thick / thicksteps
            else:
                thicksteps = int(math.ceil(thick / thickstep))
    else:
        if thick < 0.0:
            if thickstep <= 0.0:
                thick = 0.5e-6
                thickstep = thick / thicksteps
            else:
                thick, thicksteps = thickstep, 2
        elif thickstep <= 0.0:
            thicksteps = max(thicksteps, 2)
            thickstep = thick / (thicksteps - 1)
    mu = p.detector_mu
    if thick > 0.0 and mu < 0.0:
        mu = 1.0 / thick
        log("WARNING: setting detector attenuation depth to %g m" % mu)

    spread, domains = p.mosaic_spread, p.mosaic_domains
    if domains <= 0:
        if spread < 0.0:
            domains, spread = 1, 0.0
        elif spread == 0.0:
            domains = 1
        else:
            log("WARNING: finite mosaicity with only one domain! upping to 10 mosaic domains")
            domains = 10
    else:
        if spread < 0.0:
            log("WARNING: no mosaic spread specified.  setting mosaic_domains = 1")
            spread, domains = 0.0, 1
        elif spread == 0.0:
            log("WARNING: zero mosaic spread specified.  setting mosaic_domains = 1")
            domains = 1

    if hdivrange <= 0.0 or hdivstep <= 0.0 or hdivsteps <= 0:
        hdivsteps, hdivrange, hdivstep = 1, 0.0, 0.0
    if vdivrange <= 0.0 or vdivstep <= 0.0 or vdivsteps <= 0:
        vdivsteps, vdivrange, vdivstep = 1, 0.0, 0.0
    if dispersion <= 0.0 or dispstep <= 0.0 or dispsteps <= 0:
        dispsteps, dispersion, dispstep = 1, 0.0, 0.0
    if thick <= 0.0 or thickstep <= 0.0 or thicksteps <= 0:
        thicksteps, thick, thickstep = 1, 0.0, 0.0

    return Steps(phi0=p.phi0, phisteps=phisteps, phistep=phistep, osc=osc,
                 hdivrange=hdivrange, hdivstep=hdivstep, hdivsteps=hdivsteps,
                 vdivrange=vdivrange, vdivstep=vdivstep, vdivsteps=vdivsteps,
                 dispersion=dispersion, dispstep=dispstep, dispsteps=dispsteps,
                 detector_thick=thick, detector_thickstep=thickstep, detector_thicksteps=thicksteps,
                 detector_mu=mu, mosaic_spread=spread, mosaic_domains=domains)


def divergence_points(steps: Steps, round_div):
    """The (hdiv, vdiv) points of the divergence grid, trimmed to an ellipse with ``round_div``
    (C L2345-2362)."""
    points = []
    for hdiv_tic in range(steps.hdivsteps):
        for vdiv_tic in range(steps.vdivsteps):
            hdiv = steps.hdivstep * hdiv_tic - steps.hdivrange / 2.0
            vdiv = steps.vdivstep * vdiv_tic - steps.vdivrange / 2.0
            test = c_div(c_div(hdiv * hdiv - steps.hdivstep * steps.hdivstep / 4.0 * (1 - steps.hdivsteps % 2),
                               steps.hdivrange), steps.hdivrange)
            test += c_div(c_div(vdiv * vdiv - steps.vdivstep * steps.vdivstep / 4.0 * (1 - steps.vdivsteps % 2),
                                steps.vdivrange), steps.vdivrange)
            if round_div and test * 4.0 > 1.1:
                continue
            points.append((hdiv, vdiv))
    return points


def make_sources(det: Detector, steps: Steps, p: Params, lambda0, file_rows, log, points=None):
    """Source list (C L2319-2434): from ``-sourcefile`` rows (X Y Z I lambda, NaN = default) or a
    divergence x dispersion grid. Returns an (n, 4) array of unit direction (towards the source)
    and wavelength (m); the weights I are printed but, as in C, never used."""
    beam = det.beam
    rows = []
    divsteps = -1  # C's initial value, printed as is when the sources come from a file
    if file_rows is not None:
        for x, y, z, weight, lam in file_rows:
            rows.append((-p.source_distance * beam[0] if math.isnan(x) else x,
                         -p.source_distance * beam[1] if math.isnan(y) else y,
                         -p.source_distance * beam[2] if math.isnan(z) else z,
                         1.0 if math.isnan(weight) else weight,
                         lambda0 if math.isnan(lam) else lam))
    else:
        if points is None:
            points = divergence_points(steps, p.round_div)
        divsteps = len(points)
        for hdiv, vdiv in points:
            log("divergence deviation: %g %g" % (hdiv, vdiv))
        lambdas = []
        for disp_tic in range(steps.dispsteps):
            lam = lambda0 * (1.0 + steps.dispstep * disp_tic - steps.dispersion / 2.0)
            log("lambda%d = %.15g" % (disp_tic, lam))
            lambdas.append(lam)
        weight = 1.0 / (len(points) * len(lambdas)) if points else math.inf
        for hdiv, vdiv in points:
            v = (-p.source_distance * beam[0], -p.source_distance * beam[1], -p.source_distance * beam[2])
            v = rotate_axis(rotate_axis(v, det.polar, vdiv), det.vert, hdiv)
            for lam in lambdas:
                rows.append((v[0], v[1], v[2], weight, lam))
    log("  created a total of %d sources:" % len(rows))
    sources = np.zeros((len(rows), 4))
    for i, (x, y, z, weight, lam) in enumerate(rows):
        _, unit = unitize((x, y, z))
        sources[i, :3] = unit
        sources[i, 3] = lam
        log("%g %g %g   %g %g" % (x, y, z, weight, lam))
    return sources, divsteps
