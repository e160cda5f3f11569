# SPDX-License-Identifier: BSD-3-Clause
"""Set-up: ``prepare(params)`` derives a frozen, fully resolved ``Setup`` (detector, crystal, sources,
rotation tables, structure factors, sampling) in nanoBragg.c's order, printing what C prints before
it renders (the parameter summary, L2464-2509). Everything later in the pipeline reads the Setup, not
the Params (the Params stay in it for the output stage: file names and scales)."""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import numba
import numpy as np

from nbnumba import limits
from nbnumba.constants import AVOGADRO, R_E_SQR, RTD, WATER_F, WATER_MW, CrystalShape, PhiCarryover
from nbnumba.errors import InputError
from nbnumba.kernels.cpu import SAMPLES_PER_SECOND
from nbnumba.kernels.physics import HOST
from nbnumba.params import Params
from nbnumba.rng import RandomStreams, mosaic_umats, seed_array
from nbnumba.setup import crystal as xtal_mod
from nbnumba.setup import geometry, inputs
from nbnumba.setup.geometry import c_div

# the physics' vector helpers as Python (``physics.HOST``): the set-up loads no compiled code for them
cross, magnitude, rotate_axis, scale = HOST.cross, HOST.magnitude, HOST.rotate_axis, HOST.scale

#: the crystal shapes as C's parameter summary names them
SHAPE_NAMES = {CrystalShape.SQUARE: "parallelpiped", CrystalShape.ROUND: "ellipsoidal",
               CrystalShape.GAUSS: "gaussian", CrystalShape.TOPHAT: "tophat-spot"}


def _quiet(_line):
    pass


@dataclass(frozen=True)
class Sampling:
    """How each pixel is sampled: sub-pixels, which factors are recomputed per sub-pixel, the ROI."""
    oversample: int
    oversample_thick: bool
    oversample_polar: bool
    oversample_omega: bool
    #: (xmin, xmax, ymin, ymax), inclusive pixel indices, resolved against the detector size
    roi: tuple
    #: skip samples at resolution finer than this (metres; 0 = off)
    dmin: float


@dataclass(frozen=True)
class Setup:
    """Everything the render and the outputs need, derived from the parameters as nanoBragg.c derives it."""
    params: Params
    detector: geometry.Detector
    steps: geometry.Steps
    crystal: xtal_mod.Crystal
    shape: CrystalShape
    #: shape-function factor of round, gauss and tophat crystals
    fudge: float
    sources: np.ndarray
    mosaic_umats: np.ndarray
    cells_first: np.ndarray
    cells_carry: np.ndarray
    #: c-parity: reproduce nanoBragg.c's phi=0 carryover (C-PARITY-001)
    phi_carryover: bool
    fhkl: object  # nbnumba.io.hkl.HKLTable or None
    default_F: float
    interpolate: bool
    sampling: Sampling
    fluence: float
    polarization: float
    nopolar: bool
    water_size: float
    I_bg: float
    mask: np.ndarray = None
    #: the random-number state after set-up (misset, mosaic domains), which the noise image continues
    streams: RandomStreams = None
    #: C's noise ``seed`` (C negates -seed): -(``-seed``) or the time-based default
    seed: int = 0

    @property
    def n_steps(self):
        """C's ``steps``: the divisor of the accumulated intensity (sensor layers excluded)."""
        return (self.sources.shape[0] * self.steps.mosaic_domains * self.steps.phisteps
                * self.sampling.oversample * self.sampling.oversample)

    @property
    def roi(self):
        return self.sampling.roi

    @property
    def oversample(self):
        return self.sampling.oversample

    def roi_mask(self):
        """Boolean (spixels, fpixels) array of the pixels inside the (inclusive) ROI."""
        xmin, xmax, ymin, ymax = self.roi
        f = np.arange(self.detector.fpixels)
        s = np.arange(self.detector.spixels)
        return ((s[:, None] >= ymin) & (s[:, None] <= ymax)) & ((f[None, :] >= xmin) & (f[None, :] <= xmax))

    def rendered(self):
        """Pixels the kernel renders: inside the ROI and not zero in the mask."""
        inside = self.roi_mask()
        if self.mask is not None:
            inside &= self.mask != 0
        return inside


def prepare(p: Params, log=_quiet, write_dump=False) -> Setup:
    """Derive the detector, crystal, sources and tables from ``p``, in nanoBragg.c's order.

    ``log`` receives the lines the C program prints during set-up; ``write_dump`` writes the
    ``Fdump.bin`` cache (``p.dumpfilename``) after reading an HKL file, as the C program does."""
    p.validate()
    for name, flags in (("pixel_size", "-pixel"), ("detsize_f", "-detsize_f/-detsize"),
                        ("detsize_s", "-detsize_s/-detsize")):
        if not getattr(p, name) > 0:
            raise InputError("%s: detector %s must be positive, got %g mm"
                             % (flags, name.replace("_", " "), getattr(p, name) * 1e3))
    if not p.lambda0 > 0:
        raise InputError("-lambda/-energy: wavelength must be positive, got %g A" % (p.lambda0 * 1e10))
    det, beam = geometry.detector_frame(p, log)
    if det.fpixels <= 0 or det.spixels <= 0:
        raise InputError("-detpixels/-detsize: detector has %d x %d pixels; expected at least one each way"
                         % (det.fpixels, det.spixels))
    mask = inputs.read_mask(p, det.shape, log)
    if p.imginfilename is not None:
        log("reading %s" % p.imginfilename)  # its header was applied with the flags (C reads it here)
    log("nanoBragg nanocrystal diffraction simulator - James Holton and Ken Frankel 5-17-17")
    if p.hklfilename is None and not os.path.exists(p.dumpfilename) and p.default_F == 0.0:
        raise InputError("no structure factors: give -hkl FILE or -default_F F (no %s to re-read either)"
                         % p.dumpfilename)
    if p.matfilename is None and not (p.user_cell and p.cell_a != 0.0):
        raise InputError("no crystal: give -cell a b c alpha beta gamma or -mat FILE")

    matrix = inputs.read_matrix(p)

    steps = geometry.resolve_steps(p, log)
    grid_sources = 0 if p.sourcefilename is not None else steps.hdivsteps * steps.vdivsteps * steps.dispsteps
    limits.check_run(det.fpixels, det.spixels, grid_sources, steps.mosaic_domains, steps.phisteps)
    geometry.position_detector(det, p, log)
    _check_detector_position(det)

    interpolate = p.interpolate
    if interpolate > 1:
        if p.Na <= 2 or p.Nb <= 2 or p.Nc <= 2:
            log("auto-selected tricubic interpolation of structure factors")
            interpolate = 1
        else:
            log("auto-selected no interpolation")
            interpolate = 0

    # C's default seed is -time(0), read once at start-up; -misset random uses it unless -misset_seed
    # is given (not the -seed value: C copies the default before parsing, L354-358). C stores every
    # seed negated (seed = -atoi(argv[i+1])).
    time_seed = -int(time.time())
    streams = RandomStreams()
    misset_idum = seed_array(time_seed if p.misset_seed is None else -p.misset_seed)
    crystal = xtal_mod.build_crystal(p, matrix, p.lambda0, streams, misset_idum, log)
    oversample = xtal_mod.size_crystal(crystal, p.sample_x, beam["sample_y"], beam["sample_z"], p.lambda0,
                                       det.distance, det.pixel_size, p.oversample, log)

    _check_pixel_positions(det, steps, oversample)
    # the sources are counted now (the -sourcefile read early) so that an endless run is refused
    # before any file is written (Fdump.bin, below)
    file_rows = inputs.read_sources(p)
    points = None if file_rows is not None else geometry.divergence_points(steps, p.round_div)
    nsources = len(file_rows) if file_rows is not None else len(points) * steps.dispsteps
    roi = _resolve_roi(p, det)
    _check_work(_rendered_pixels(det, roi, mask), oversample, steps, nsources)

    fhkl = inputs.load_structure_factors(p, log, write_dump)
    if fhkl is None or fhkl.hkls == 0:
        interpolate = 0

    inputs.read_stol(p, log)

    for thick_tic in range(steps.detector_thicksteps):
        log("thick%d = %g um" % (thick_tic, steps.detector_thickstep * thick_tic * 1e6))
    for phi_tic, phi in enumerate(steps.phi_values):
        log("phi%d = %g" % (phi_tic, phi * RTD))

    sources, divsteps = geometry.make_sources(det, steps, p, p.lambda0, file_rows, log, points)
    _check_sources(sources, p)

    carryover = p.phi_carryover_mode == PhiCarryover.C_PARITY
    umats = mosaic_umats(steps.mosaic_spread, steps.mosaic_domains, streams, seed_array(-p.mosaic_seed))
    log("  created a total of %d mosaic domains" % steps.mosaic_domains)
    cells_first, cells_carry = xtal_mod.cell_tables(crystal, det.spindle, steps.phi_values, umats,
                                                    steps.mosaic_spread, carryover)

    fluence = beam["fluence"]
    # C L2515, in C's order
    I_bg = (WATER_F * WATER_F * R_E_SQR * fluence * p.water_size * p.water_size * p.water_size * 1e6
            * AVOGADRO / WATER_MW)
    sampling = Sampling(oversample=oversample, oversample_thick=bool(p.oversample_thick),
                        oversample_polar=bool(p.oversample_polar), oversample_omega=bool(p.oversample_omega),
                        roi=roi, dmin=p.dmin)
    setup = Setup(params=p, detector=det, steps=steps, crystal=crystal, shape=CrystalShape(p.xtal_shape),
                  fudge=p.fudge, sources=sources, mosaic_umats=umats, cells_first=cells_first,
                  cells_carry=cells_carry, phi_carryover=carryover, fhkl=fhkl, default_F=p.default_F,
                  interpolate=bool(interpolate), sampling=sampling, fluence=fluence,
                  polarization=p.polarization, nopolar=bool(p.nopolar), water_size=p.water_size, I_bg=I_bg,
                  mask=mask, streams=streams, seed=time_seed if p.seed is None else -p.seed)
    _check_trace_pixels(setup)
    _log_summary(setup, divsteps, beam, log)
    return setup


def _check_trace_pixels(setup: Setup) -> None:
    """--trace-pixel: each pixel on the detector, and a sample count a trace may hold."""
    det = setup.detector
    for fpixel, spixel, _ in setup.params.trace_pixels:
        if not (0 <= fpixel < det.fpixels and 0 <= spixel < det.spixels):
            raise InputError("--trace-pixel %d %d: no such pixel; expected fast 0..%d and slow 0..%d (the detector "
                             "has %d x %d pixels)" % (fpixel, spixel, det.fpixels - 1, det.spixels - 1,
                                                      det.fpixels, det.spixels))
    if setup.params.trace_pixels:
        limits.check_trace_samples(setup.steps.detector_thicksteps * setup.n_steps)


def _resolve_roi(p: Params, det):
    """C's ROI defaults: the whole detector (L1166-1169)."""
    return (0 if p.roi_xmin < 0 else p.roi_xmin, det.fpixels if p.roi_xmax < 0 else p.roi_xmax,
            0 if p.roi_ymin < 0 else p.roi_ymin, det.spixels if p.roi_ymax < 0 else p.roi_ymax)


#: most samples (sub-pixels x sensor layers x sources x mosaic domains x phi steps) of one pixel: a
#: pixel is rendered by one thread in one compiled call, which Ctrl-C cannot interrupt (about 2 s at
#: ``kernels.cpu.SAMPLES_PER_SECOND``, a cautious rate; well under a second on an idle machine)
MAX_PIXEL_SAMPLES = 2e7
#: most samples of a run: beyond this no machine finishes it in reasonable time (years on 2 CPU
#: threads, hours on a GPU)
MAX_SAMPLES = 1e15


def _rendered_pixels(det, roi, mask):
    """How many pixels the kernels render: inside the (inclusive) ROI and not zero in the mask
    (``Setup.rendered``)."""
    xmin, xmax, ymin, ymax = roi
    xmin, ymin = max(xmin, 0), max(ymin, 0)
    xmax, ymax = min(xmax, det.fpixels - 1), min(ymax, det.spixels - 1)
    if xmax < xmin or ymax < ymin:
        return 0
    if mask is None:
        return (xmax - xmin + 1) * (ymax - ymin + 1)
    return int(np.count_nonzero(mask[ymin:ymax + 1, xmin:xmax + 1]))


def _duration(seconds):
    """A rough duration for a message: '40 s', '3.5 hours', '2.1e+04 years'."""
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return "%.2g %s" % (seconds / size, unit)
    return "%.2g s" % seconds


def _check_work(pixels, oversample, steps, nsources):
    """InputError, before anything is rendered or written, for a run that Ctrl-C could not stop (one
    pixel over ``MAX_PIXEL_SAMPLES`` samples) or that no machine would finish (over ``MAX_SAMPLES``),
    with the estimate. nanoBragg.c starts such runs and never finishes them."""
    pixel_samples = (float(oversample) * oversample * steps.detector_thicksteps * nsources * steps.mosaic_domains
                     * steps.phisteps)
    what = ("%d x %d sub-pixels x %d sensor layers x %d sources x %d mosaic domains x %d phi steps"
            % (oversample, oversample, steps.detector_thicksteps, nsources, steps.mosaic_domains, steps.phisteps))
    advice = ("reduce -oversample (auto-selected from the crystal size unless given), -mosaic_domains, -phisteps, "
              "the divergence/dispersion steps or -sourcefile, or -thicksteps")
    if pixel_samples > MAX_PIXEL_SAMPLES:
        raise InputError("one pixel needs %.3g samples (%s), about %s on one CPU thread at %.0e samples/s, and a "
                         "pixel cannot be interrupted; at most %.0e per pixel: %s"
                         % (pixel_samples, what, _duration(pixel_samples / SAMPLES_PER_SECOND), SAMPLES_PER_SECOND,
                            MAX_PIXEL_SAMPLES, advice))
    total = pixel_samples * pixels
    if total > MAX_SAMPLES:
        threads = numba.get_num_threads()
        raise InputError("the run needs %.3g samples (%d pixels x %.3g per pixel: %s), about %s on %d CPU "
                         "thread%s at %.0e samples/s each; at most %.0e: %s, or -detpixels/-roi/-mask"
                         % (total, pixels, pixel_samples, what,
                            _duration(total / (SAMPLES_PER_SECOND * threads)), threads,
                            "s" if threads > 1 else "", SAMPLES_PER_SECOND, MAX_SAMPLES, advice))


def _check_sources(sources, p: Params):
    """InputError naming the first source without a finite direction and a positive wavelength."""
    bad = np.flatnonzero(~(np.isfinite(sources).all(axis=1) & (sources[:, 3] > 0)))
    if sources.shape[0] == 0:
        raise InputError("no sources: the round divergence grid (the default, -round_div) trimmed every point; "
                         "check -divergence/-hdivsteps/-vdivsteps or give -square_div")
    if bad.size == 0:
        return
    x, y, z, lam = sources[bad[0]]
    if p.sourcefilename is not None:
        where = "-sourcefile %s: source %d" % (p.sourcefilename, bad[0] + 1)
    else:
        where = "-divergence/-dispersion: the source grid"
    raise InputError("%s has wavelength %g m and direction %g %g %g; expected a positive wavelength (metres) "
                     "and a finite direction" % (where, lam, x, y, z))


def _check_detector_position(det):
    """InputError for a detector plane through the sample (C divides by the distance) or a position
    that overflowed (e.g. -xds -pixel 1e4 -ORGX 1e308). A negative -distance is fine: C takes its absolute value."""
    numbers = (det.distance, det.close_distance) + tuple(det.pix0) + det.fdet + det.sdet + det.odet
    if not all(math.isfinite(x) for x in numbers):
        raise InputError("detector position is not finite (distance %g mm, pix0 %g %g %g m): check the beam "
                         "centre, distance, rotation and vector flags" % ((det.distance * 1e3,) + tuple(det.pix0)))
    if det.close_distance == 0.0 or det.distance == 0.0:
        raise InputError("-distance/-close_distance: the detector plane passes through the sample (distance "
                         "0 mm); expected a non-zero distance")


def _check_pixel_positions(det, steps, oversample):
    """InputError unless every sub-pixel lies at a finite, non-zero distance from the sample, with the
    kernels' arithmetic (``kernels.pixel``): the corner sub-pixels of the first and last sensor layer
    (positions are affine in the pixel coordinates, so the corners bound the rest), and with
    -curved_det the rotation angles (position / distance) and the rotated positions. Otherwise the
    Miller indices are NaN: nanoBragg.c renders a NaN image, or reads its F table out of bounds
    (e.g. -curved_det -distance 1e-320)."""
    subpixel = det.pixel_size / oversample
    last_f = subpixel * (det.fpixels * oversample - 1) + subpixel / 2.0
    last_s = subpixel * (det.spixels * oversample - 1) + subpixel / 2.0
    last_o = (steps.detector_thicksteps - 1) * steps.detector_thickstep
    for Odet in (0.0, last_o):
        for Sdet in (subpixel / 2.0, last_s):
            for Fdet in (subpixel / 2.0, last_f):
                pos = tuple(Fdet * det.fdet[i] + Sdet * det.sdet[i] + Odet * det.odet[i] + det.pix0[i]
                            for i in range(3))
                what = "at"
                if det.curved:
                    what = "with -curved_det at"
                    angle_s, angle_f = c_div(pos[1], det.distance), c_div(pos[2], det.distance)
                    pos = rotate_axis(rotate_axis(scale(det.beam, det.distance), det.sdet, angle_s), det.fdet,
                                      angle_f)
                length = magnitude(pos)
                if not (0.0 < length < math.inf and all(math.isfinite(x) for x in pos)):
                    raise InputError(
                        "the detector geometry is not finite: a pixel corner lies %s %g %g %g m (distance %g mm, "
                        "pixel %g mm, %d x %d pixels); check -distance/-close_distance, -pixel, "
                        "-detpixels/-detsize, the beam centre, the detector rotations, -detector_thick and -curved_det"
                        % ((what,) + tuple(pos) + (det.distance * 1e3, det.pixel_size * 1e3, det.fpixels,
                                                   det.spixels)))


def _log_summary(s: Setup, divsteps, beam, log):
    """The parameter summary C prints before rendering (L2464-2509)."""
    p, d, st, x = s.params, s.detector, s.steps, s.crystal
    log("  %d initialized hkls (all others =%g)" % (s.fhkl.hkls if s.fhkl is not None else 0, p.default_F))
    log("  %s xtal: %.0fx%.0fx%.0f cells" % (SHAPE_NAMES[s.shape], x.Na, x.Nb, x.Nc))
    log("  wave=%g meters +/- %g%% in %d steps" % (p.lambda0, st.dispersion * 100, st.dispsteps))
    if s.nopolar:
        log("  polarization effect disabled")
    else:
        log("  Kahn polarization factor: %f" % s.polarization)
    if d.curved:
        log("  curved detector: all pixels same distance from origin")
    if d.point_pixel:
        log("  pixel obliquity effect disabled")
    log("  incident fluence: %g photons/m^2" % s.fluence)
    log("  distance=%g detsize=%gx%g  pixel=%g meters (%dx%d pixels)"
        % (d.distance, d.detsize_f, d.detsize_s, d.pixel_size, d.fpixels, d.spixels))
    log("  sensor is %g m thick in %d layers with mu= %g" % (st.detector_thick, st.detector_thicksteps, st.detector_mu))
    log("  Xbeam=%g Ybeam=%g" % (d.Xbeam, d.Ybeam))
    log("  Fbeam=%g Sbeam=%g" % (d.Fbeam, d.Sbeam))
    log("  Xclose=%g Yclose=%g" % (d.Xclose, d.Yclose))
    log("  Fclose=%g Sclose=%g" % (d.Fclose, d.Sclose))
    log("  DIRECTION_OF_DETECTOR_X-AXIS= %g %g %g" % d.fdet)
    log("  DIRECTION_OF_DETECTOR_Y-AXIS= %g %g %g" % d.sdet)
    log("  DIRECTION_OF_DETECTOR_Z-AXIS= %g %g %g" % d.odet)
    log("  INCIDENT_BEAM_DIRECTION= %g %g %g" % d.beam)
    log("  spindle ROTATION_AXIS= %g %g %g" % d.spindle)
    log("  POLARIZATION_PLANE_NORMAL= %g %g %g" % cross(d.beam, d.polar))
    log("  dials origin= %g %g %g" % d.dials_origin)
    log("  roi: %d < x < %d && %d < y < %d" % s.sampling.roi)
    log("  hdivrange=%g hdivstep=%g  radians" % (st.hdivrange, st.hdivstep))
    log("  vdivrange=%g vdivstep=%g  radians" % (st.vdivrange, st.vdivstep))
    log("  %d divergence steps" % divsteps)
    log("  %d sources" % s.sources.shape[0])
    log("  %d mosaic domains over mosaic spread of %g degrees" % (st.mosaic_domains, st.mosaic_spread * RTD))
    log("  %d phi steps from %g to %g degrees" % (st.phisteps, st.phi0 * RTD, (st.phi0 + st.osc) * RTD))
    sm = s.sampling
    extra = "".join(flag for on, flag in ((sm.oversample_thick, " +thick"), (sm.oversample_polar, " +polar"),
                                          (sm.oversample_omega, " +omega")) if on)
    log("  %dx%d pixel oversample steps%s" % (s.sampling.oversample, s.sampling.oversample, extra))
    if s.mask is not None:
        log("  skipping zero-flagged pixels in %s" % p.maskfilename)
    if p.calculate_noise:
        log("")
        log("  noise image paramters:")
        log("  seed: %d" % s.seed)
        log("  water droplet size: %g m" % s.water_size)
