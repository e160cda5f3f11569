# SPDX-License-Identifier: BSD-3-Clause
"""``simulate(params)``: the whole nanoBragg.c run up to the float image, in the C program's order
(set-up, then the pixel kernel), plus the conversions its output files need."""
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from . import crystal as xtal_mod
from . import geometry, limits
from ._jit import kernel_compilation
from .errors import InputError
from .kernels import physics
from .kernels import types as kt
from .kernels.types import CrystalArgs, KernelFlags, ScalarArgs
from .params import AVOGADRO, R_E_SQR, RTD, Params
from .rng import RandomStreams, mosaic_umats, seed_array

SHAPES = {"square": physics.SQUARE, "round": physics.ROUND, "gauss": physics.GAUSS, "tophat": physics.TOPHAT}
SHAPE_NAMES = {"square": "parallelpiped", "round": "ellipsoidal", "gauss": "gaussian", "tophat": "tophat-spot"}
WATER_F = 2.57
WATER_MW = 18.0
NO_PIXEL = np.iinfo(np.int64).max


def _quiet(_line):
    pass


@dataclass
class Setup:
    """Everything the kernel needs, derived from the parameters as nanoBragg.c derives it."""
    params: Params
    detector: geometry.Detector
    steps: geometry.Steps
    crystal: xtal_mod.Crystal
    sources: np.ndarray
    mosaic_umats: np.ndarray
    cells_first: np.ndarray
    cells_carry: np.ndarray
    fhkl: object  # nbnumba.io.hkl.HKLTable or None
    interpolate: bool
    oversample: int
    fluence: float
    mask: np.ndarray = None
    I_bg: float = 0.0
    #: the random-number state after set-up (misset, mosaic domains), which the noise image continues
    streams: RandomStreams = None
    #: C's noise ``seed`` (negated): ``-seed`` or the time-based default
    seed: int = 0

    @property
    def n_steps(self):
        """C's ``steps``: the divisor of the accumulated intensity (sensor layers excluded)."""
        return (self.sources.shape[0] * self.steps.mosaic_domains * self.steps.phisteps
                * self.oversample * self.oversample)

    @property
    def roi(self):
        p = self.params
        d = self.detector
        return (0 if p.roi_xmin < 0 else p.roi_xmin, d.fpixels if p.roi_xmax < 0 else p.roi_xmax,
                0 if p.roi_ymin < 0 else p.roi_ymin, d.spixels if p.roi_ymax < 0 else p.roi_ymax)

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


@dataclass
class Result:
    """The float image (photons/pixel, float32, shape (spixels, fpixels)) and its set-up."""
    floatimage: np.ndarray
    setup: Setup
    omega_sum: float
    seconds: float = 0.0
    stats: dict = field(default_factory=dict)
    #: kernel scalars per pixel range, for ``trace_pixel``: [(first_pixel_index, ScalarArgs), ...]
    scalars: list = field(default_factory=list)
    #: where the kernel ran: "cpu" or "cuda"
    device: str = "cpu"
    #: time in the pixel kernel (``seconds`` adds set-up of the buffers and copies)
    kernel_seconds: float = 0.0


def _load_structure_factors(p: Params, log, write_dump):
    from .io.hkl import read_fdump, read_hkl, write_fdump
    if p.hklfilename is None:
        if os.path.exists(p.dumpfilename):
            log("reading Fs from %s" % p.dumpfilename)
            return read_fdump(p.dumpfilename)
        return None
    log("counting entries in %s" % p.hklfilename)
    table = read_hkl(p.hklfilename, p.default_F)
    if p.default_F != 0.0:
        log("initializing to default_F = %g:" % p.default_F)
        log("done initializing:")
    log("re-reading %s" % p.hklfilename)
    if write_dump:
        if write_fdump(p.dumpfilename, table):
            log("writing dump file for next time: %s" % p.dumpfilename)
        else:
            log("WARNING: unable to open dump file: %s" % p.dumpfilename)
    return table


def prepare(p: Params, log=_quiet, write_dump=False) -> Setup:
    """Derive the detector, crystal, sources and tables from ``p``, in nanoBragg.c's order.

    ``log`` receives the lines the C program prints during set-up; ``write_dump`` writes the
    ``Fdump.bin`` cache (``p.dumpfilename``) after reading an HKL file, as the C program does."""
    if p.phi_carryover_mode not in ("spec", "c-parity"):
        raise InputError("--phi-carryover-mode: expected spec or c-parity, got %r" % p.phi_carryover_mode)
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
    mask = None
    if p.maskfilename is not None:
        from .io.smv import read_smv
        frame = read_smv(p.maskfilename, "-mask")
        if frame.data.shape != det.shape:
            raise InputError("-mask %s: image is %d x %d pixels but the detector is %d x %d"
                             % (p.maskfilename, frame.width, frame.height, det.fpixels, det.spixels))
        mask = frame.data
        # C L4213; its next line, "mmap(FILE) = <heap address>", is left out
        log("reading %s" % p.maskfilename)
    if p.imginfilename is not None:
        log("reading %s" % p.imginfilename)  # the header was applied while parsing (C reads it here)
    log("nanoBragg nanocrystal diffraction simulator - James Holton and Ken Frankel 5-17-17")
    if p.hklfilename is None and not os.path.exists(p.dumpfilename) and p.default_F == 0.0:
        raise InputError("no structure factors: give -hkl FILE or -default_F F (no %s to re-read either)"
                         % p.dumpfilename)
    if p.matfilename is None and not (p.user_cell and p.cell_a != 0.0):
        raise InputError("no crystal: give -cell a b c alpha beta gamma or -mat FILE")

    matrix = None
    if p.matfilename is not None:
        from .io.matrix import read_mosflm_matrix
        matrix = read_mosflm_matrix(p.matfilename, p.lambda0)

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
    # is given (not the -seed value: C copies the default before parsing, L354-358)
    time_seed = -int(time.time())
    streams = RandomStreams()
    misset_idum = seed_array(time_seed if p.misset_seed is None else p.misset_seed)
    crystal = xtal_mod.build_crystal(p, matrix, p.lambda0, streams, misset_idum, log)
    oversample = xtal_mod.size_crystal(crystal, p.sample_x, beam["sample_y"], beam["sample_z"], p.lambda0,
                                       det.distance, det.pixel_size, p.oversample, log)

    fhkl = _load_structure_factors(p, log, write_dump)
    if fhkl is None or fhkl.hkls == 0:
        interpolate = 0

    if p.stolfilename is not None:
        from .io.textcols import read_text_columns
        log("reading %s" % p.stolfilename)
        read_text_columns(p.stolfilename, 2, "-stol")

    for thick_tic in range(steps.detector_thicksteps):
        log("thick%d = %g um" % (thick_tic, steps.detector_thickstep * thick_tic * 1e6))
    for phi_tic, phi in enumerate(steps.phi_values):
        log("phi%d = %g" % (phi_tic, phi * RTD))

    file_rows = None
    if p.sourcefilename is not None:
        from .io.textcols import read_text_columns
        file_rows = read_text_columns(p.sourcefilename, 5, "-sourcefile")
    sources, divsteps = geometry.make_sources(det, steps, p, p.lambda0, file_rows, log)
    _check_sources(sources, p)

    umats = mosaic_umats(steps.mosaic_spread, steps.mosaic_domains, streams, seed_array(p.mosaic_seed))
    log("  created a total of %d mosaic domains" % steps.mosaic_domains)
    cells_first, cells_carry = xtal_mod.cell_tables(crystal, det.spindle, steps.phi_values, umats,
                                                    steps.mosaic_spread, p.phi_carryover_mode == "c-parity")

    fluence = beam["fluence"]
    I_bg = (WATER_F * WATER_F * R_E_SQR * fluence * p.water_size * p.water_size * p.water_size * 1e6
            * AVOGADRO / WATER_MW)
    setup = Setup(params=p, detector=det, steps=steps, crystal=crystal, sources=sources, mosaic_umats=umats,
                  cells_first=cells_first, cells_carry=cells_carry, fhkl=fhkl, interpolate=bool(interpolate),
                  oversample=oversample, fluence=fluence, mask=mask, I_bg=I_bg, streams=streams,
                  seed=time_seed if p.seed is None else p.seed)
    _log_summary(setup, divsteps, beam, log)
    return setup


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


def _log_summary(s: Setup, divsteps, beam, log):
    """The parameter summary C prints before rendering (L2464-2509)."""
    p, d, st, x = s.params, s.detector, s.steps, s.crystal
    log("  %d initialized hkls (all others =%g)" % (s.fhkl.hkls if s.fhkl is not None else 0, p.default_F))
    log("  %s xtal: %.0fx%.0fx%.0f cells" % (SHAPE_NAMES[p.xtal_shape], x.Na, x.Nb, x.Nc))
    log("  wave=%g meters +/- %g%% in %d steps" % (p.lambda0, st.dispersion * 100, st.dispsteps))
    if p.nopolar:
        log("  polarization effect disabled")
    else:
        log("  Kahn polarization factor: %f" % p.polarization)
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
    log("  POLARIZATION_PLANE_NORMAL= %g %g %g" % physics.cross(d.beam, d.polar))
    log("  dials origin= %g %g %g" % d.dials_origin)
    log("  roi: %d < x < %d && %d < y < %d" % s.roi)
    log("  hdivrange=%g hdivstep=%g  radians" % (st.hdivrange, st.hdivstep))
    log("  vdivrange=%g vdivstep=%g  radians" % (st.vdivrange, st.vdivstep))
    log("  %d divergence steps" % divsteps)
    log("  %d sources" % s.sources.shape[0])
    log("  %d mosaic domains over mosaic spread of %g degrees" % (st.mosaic_domains, st.mosaic_spread * RTD))
    log("  %d phi steps from %g to %g degrees" % (st.phisteps, st.phi0 * RTD, (st.phi0 + st.osc) * RTD))
    extra = "".join(flag for on, flag in ((p.oversample_thick, " +thick"), (p.oversample_polar, " +polar"),
                                          (p.oversample_omega, " +omega")) if on)
    log("  %dx%d pixel oversample steps%s" % (s.oversample, s.oversample, extra))
    if s.mask is not None:
        log("  skipping zero-flagged pixels in %s" % p.maskfilename)
    if p.calculate_noise:
        log("")
        log("  noise image paramters:")
        log("  seed: %d" % s.seed)
        log("  water droplet size: %g m" % p.water_size)


def kernel_flags(s: Setup) -> KernelFlags:
    p = s.params
    return KernelFlags(shape=SHAPES[p.xtal_shape], interpolate=s.interpolate,
                       phi_carryover=p.phi_carryover_mode == "c-parity",
                       oversample_thick=bool(p.oversample_thick), oversample_polar=bool(p.oversample_polar),
                       oversample_omega=bool(p.oversample_omega), curved_detector=bool(s.detector.curved),
                       point_pixel=bool(s.detector.point_pixel))


def kernel_arguments(s: Setup):
    """The kernels' arguments: (ScalarArgs, (9, 3) vectors array, CrystalArgs, F table)."""
    p, d, st, x = s.params, s.detector, s.steps, s.crystal
    xmin, xmax, ymin, ymax = s.roi
    sc = ScalarArgs(roi_xmin=xmin, roi_xmax=xmax, roi_ymin=ymin, roi_ymax=ymax, start_pixel=0,
                    first_eval_pixel=-1, interp_cut_pixel=NO_PIXEL, interp_cut_eval=0,
                    oversample=s.oversample, subpixel_size=d.pixel_size / s.oversample, pixel_size=d.pixel_size,
                    detector_thicksteps=st.detector_thicksteps, detector_thickstep=st.detector_thickstep,
                    detector_thick=st.detector_thick, detector_mu=st.detector_mu, distance=d.distance,
                    close_distance=d.close_distance, nopolar=bool(p.nopolar), polarization=p.polarization,
                    dmin=p.dmin, water_size=p.water_size, I_bg=s.I_bg, r_e_sqr_fluence=R_E_SQR * s.fluence,
                    steps=s.n_steps)
    vectors = np.empty((kt.VECTOR_ROWS, 3))
    for row, v in ((kt.FDET, d.fdet), (kt.SDET, d.sdet), (kt.ODET, d.odet), (kt.PIX0, d.pix0), (kt.BEAM, d.beam),
                   (kt.POLAR, d.polar), (kt.A_STAR, x.a_star), (kt.B_STAR, x.b_star), (kt.C_STAR, x.c_star)):
        vectors[row] = v
    t = s.fhkl
    if t is None:
        fhkl = np.zeros((1, 1, 1))
        ext = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    else:
        fhkl = t.Fhkl
        ext = (t.hkls, t.h_min, t.h_max, t.k_min, t.k_max, t.l_min, t.l_max, t.h_range, t.k_range, t.l_range)
    xa = CrystalArgs(x.Na, x.Nb, x.Nc, p.fudge, *ext, p.default_F)
    return sc, vectors, xa, np.ascontiguousarray(fhkl)


#: at most this many row blocks (progress callbacks) per image
MAX_BLOCKS = 32


def render(s: Setup, progress=None):
    """Run the CPU kernel, reproducing the C program's serial-order effects: the first phi loop of
    the image (c-parity) and the run-wide switch-off of interpolation at its first failure.

    ``progress(done_rows, total_rows)``, if given, is called after each block of rows (at most
    ``MAX_BLOCKS`` blocks; the image does not depend on the blocking). Returns
    ``(floatimage, omega_sum)``."""
    floatimage, omega_sum, _ = _render(s, progress)
    return floatimage, omega_sum


def _render(s: Setup, progress=None, device="cpu", timings=None):
    """``render``, plus the kernel scalars each pixel was rendered with: a list of
    ``(first_pixel_index, ScalarArgs)``, the last entry whose index is <= a pixel's applies.
    ``device``: "cpu" or "cuda" (resolved, see ``nbnumba.device``). ``timings``: a dict that
    receives ``kernel_seconds``, the time spent in the pixel kernel (on the GPU: CUDA events around
    its launches, without transfers)."""
    flags = kernel_flags(s)
    sc, vectors, xa, fhkl = kernel_arguments(s)
    shape = s.detector.shape
    mask = s.mask if s.mask is not None else np.zeros((0, 0), np.uint16)
    rendered = s.rendered().ravel()
    if not rendered.any():
        if progress is not None:
            progress(shape[0], shape[0])
        return np.zeros(shape, np.float32), 0.0, [(0, sc)]
    if device == "cuda":
        from .kernels.cuda import CudaRenderer as Renderer
    else:
        from .kernels.cpu import CpuRenderer as Renderer
    renderer = Renderer(flags, shape, mask, vectors, xa, s.sources, s.cells_first, s.cells_carry, fhkl)
    first_rendered = int(np.argmax(rendered))
    if flags.phi_carryover:
        sc = sc._replace(first_eval_pixel=first_rendered)

    def run(sc_run, row_start=0, row_end=shape[0], keep_omega=False):
        with kernel_compilation():
            renderer.run(sc_run, row_start, row_end, keep_omega)

    if progress is None:
        run(sc, keep_omega=True)
    else:
        rows = shape[0]
        bounds = np.linspace(0, rows, min(rows, MAX_BLOCKS) + 1).round().astype(int)
        for row_start, row_end in zip(bounds[:-1], bounds[1:]):
            if row_end > row_start:
                run(sc, int(row_start), int(row_end), keep_omega=True)
                progress(int(row_end), rows)
    scalars = [(0, sc)]
    if flags.phi_carryover:
        evaluated = renderer.evaluated().ravel()
        if not evaluated[first_rendered]:
            # the first rendered pixel evaluated no phi step (all sources beyond -dmin): the image's
            # first phi loop is in the first pixel that did; render that pixel again
            done = evaluated.astype(bool) & rendered
            if done.any():
                first = int(np.argmax(done))
                srow, fcol = divmod(first, shape[1])
                sc = sc._replace(first_eval_pixel=first)
                scalars = [(0, sc)]
                run(sc._replace(roi_xmin=fcol, roi_xmax=fcol, roi_ymin=srow, roi_ymax=srow), srow, srow + 1)
    if flags.interpolate:
        interp_event = renderer.interp_event().ravel()
        events = interp_event >= 0
        if events.any():
            cut = int(np.argmax(events))
            sc_cut = sc._replace(start_pixel=cut, interp_cut_pixel=cut, interp_cut_eval=int(interp_event[cut]))
            scalars.append((cut, sc_cut))
            run(sc_cut, cut // shape[1])
    floatimage, omega_rows = renderer.result()
    if timings is not None:
        timings["kernel_seconds"] = renderer.kernel_seconds
    return floatimage, float(omega_rows.sum()), scalars


def trace_pixel(result, fpixel, spixel):
    """Re-evaluate one pixel of a rendered ``Result`` serially and return its trace: a float64
    array of ``kernels.types.TRACE_LEN`` values indexed by the ``TRACE_*`` constants (the values
    nanoBragg.c's -printout shows, from the pixel's last evaluated sample; NaN where never set)."""
    from .kernels.cpu import INTERP_CUT, INTERP_OFF, INTERP_ON
    flags = kernel_flags(result.setup)
    imgidx = spixel * result.setup.detector.fpixels + fpixel
    sc = [entry for start, entry in result.scalars if start <= imgidx][-1]
    interpolating = INTERP_OFF
    if flags.interpolate:
        if imgidx < sc.interp_cut_pixel:
            interpolating = INTERP_ON
        elif imgidx == sc.interp_cut_pixel:
            interpolating = INTERP_CUT
    return _trace(result, fpixel, spixel, sc, interpolating)


def interpolation_failure(result):
    """Where nanoBragg.c switched tricubic interpolation off for the rest of the run (its first
    failure in row-major order): ``(fpixel, spixel, (h, k, l, h0, k0, l0))``, or None."""
    from .kernels.cpu import INTERP_ON
    cuts = [start for start, sc in result.scalars if sc.interp_cut_pixel == start]
    if not kernel_flags(result.setup).interpolate or not cuts:
        return None
    spixel, fpixel = divmod(cuts[0], result.setup.detector.fpixels)
    # the pixel as the first pass rendered it: interpolating until its first failure
    trace = _trace(result, fpixel, spixel, result.scalars[0][1], INTERP_ON)
    values = trace[kt.TRACE_FAIL_H:kt.TRACE_FAIL_L0 + 1]
    return fpixel, spixel, (values[0], values[1], values[2], int(values[3]), int(values[4]), int(values[5]))


def _trace(result, fpixel, spixel, sc, interpolating):
    from .kernels.cpu import make_cpu_kernel
    s = result.setup
    flags = kernel_flags(s)
    pixel = make_cpu_kernel(flags).pixel
    _, vectors, xa, fhkl = kernel_arguments(s)
    imgidx = spixel * s.detector.fpixels + fpixel
    trace = np.full(kt.TRACE_LEN, np.nan)
    with kernel_compilation():
        pixel(spixel, fpixel, flags.phi_carryover and imgidx == sc.first_eval_pixel, interpolating, sc, vectors,
              xa, s.sources, s.cells_first, s.cells_carry, fhkl, trace)
    return trace


#: rows per block when the SMV pixels are computed (bounds their float64 temporaries)
ROW_BLOCK = 64


def _row_blocks(rows):
    for start in range(0, rows, ROW_BLOCK):
        yield slice(start, min(start + ROW_BLOCK, rows))


def image_statistics(floatimage, s: Setup):
    """C's statistics over rendered pixels (L3091-3134): max_I and where, mean, rms, rmsd, summed in
    the single-threaded C program's order and precision (``nbnumba.statistics``)."""
    from .statistics import image_sums
    count, total, total_sqr, max_I, max_idx, n_roi, deviation_sqr = image_sums(
        floatimage, s.rendered(), s.roi_mask())
    stats = {}
    max_pos = (0.0, 0.0)
    if max_idx >= 0:
        spixel, fpixel = divmod(max_idx, s.detector.fpixels)
        sub = s.detector.pixel_size / s.oversample
        last = s.oversample - 1
        max_pos = (sub * (fpixel * s.oversample + last) + sub / 2.0, sub * (spixel * s.oversample + last) + sub / 2.0)
    avg = total / max(count, 1)
    rms = math.sqrt(total_sqr / (max(count, 2) - 1))
    rmsd = math.sqrt(deviation_sqr / (max(n_roi, 2) - 1))
    stats.update(max_I=max_I, max_I_x=max_pos[0], max_I_y=max_pos[1], mean=avg, rms=rms, rmsd=rmsd)
    return stats


def simulate(params: Params, log=None, write_dump=False, progress=None, device=None) -> Result:
    """Render the float image of one nanoBragg run.

    Parameters
    ----------
    params : Params
        The run, e.g. from ``nbnumba.params_from_argv([...])``.
    log : callable, optional
        Receives each line the C program would print (default: silent).
    write_dump : bool
        Write the ``Fdump.bin`` cache after reading ``-hkl`` (the command line does).
    progress : callable, optional
        ``progress(done_rows, total_rows)``, called as blocks of rows finish (see ``render``).
    device : str, optional
        "cpu" or "cuda" (default: ``params.device``, resolved by ``nbnumba.device.resolve_device``:
        "auto" is the GPU when numba-cuda finds one, else the CPU).

    Returns
    -------
    Result
        ``floatimage`` (float32, (spixels, fpixels), photons per pixel) and the derived set-up.
    """
    from .device import describe, resolve_device
    log = log or _quiet
    device = resolve_device(device or params.device)
    setup = prepare(params, log, write_dump)
    log(describe(device))
    start = time.perf_counter()
    timings = {}
    floatimage, omega_sum, scalars = _render(setup, progress, device, timings)
    seconds = time.perf_counter() - start
    return Result(floatimage=floatimage, setup=setup, omega_sum=omega_sum, seconds=seconds,
                  stats=image_statistics(floatimage, setup), scalars=scalars, device=device,
                  kernel_seconds=timings.get("kernel_seconds", 0.0))


def int_image(floatimage, setup: Setup, intfile_scale):
    """The noiseless SMV pixels (C L3132-3150): ROI pixels scaled, offset by the ADC, clamped to
    [0, 65535] and rounded by ``floorf(v + 0.5)`` in float32 as C does; other pixels 0. Computed
    in blocks of rows (no full-image float64 temporaries)."""
    out = np.empty(floatimage.shape, np.uint16)
    roi = setup.roi_mask()
    adc = setup.params.adc_offset
    for rows in _row_blocks(floatimage.shape[0]):
        v = floatimage[rows].astype(np.float64) * intfile_scale + adc
        np.clip(v, 0.0, 65535.0, out=v)
        v += 0.5
        block = np.floor(v.astype(np.float32)).astype(np.uint16)
        block[~roi[rows]] = 0
        out[rows] = block
    return out


def intfile_scale(setup: Setup, max_I):
    scale = setup.params.intfile_scale
    if scale <= 0.0:
        scale = 1.0
        if max_I > 0.0:
            scale = 55000.0 / max_I
    return scale


def smv_header_values(setup: Setup):
    """The numbers of the SMV header in the units it is written in (C L3161-3183)."""
    d, st = setup.detector, setup.steps
    px = d.pixel_size
    return dict(fpixels=d.fpixels, spixels=d.spixels, pixel_mm=px * 1000.0, distance_mm=d.distance * 1000.0,
                wavelength_A=setup.params.lambda0 * 1e10, beam_center_x_mm=d.Xbeam * 1000.0,
                beam_center_y_mm=d.Ybeam * 1000, adxv_x_mm=d.Fbeam * 1000.0, adxv_y_mm=(d.detsize_s - d.Sbeam) * 1000,
                mosflm_x_mm=(d.Sbeam - 0.5 * px) * 1000.0, mosflm_y_mm=(d.Fbeam - 0.5 * px) * 1000,
                denzo_x_mm=(d.Sbeam - 0.0 * px) * 1000.0, denzo_y_mm=(d.Fbeam - 0.0 * px) * 1000,
                dials_origin=d.dials_origin, orgx=d.ORGX, orgy=d.ORGY, close_distance_mm=d.close_distance * 1000.0,
                phi_deg=st.phi0 * RTD, osc_start_deg=st.phi0 * RTD, osc_range_deg=st.osc * RTD,
                twotheta_deg=d.twotheta * RTD)
