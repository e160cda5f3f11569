# SPDX-License-Identifier: BSD-3-Clause
"""The render plan: what the kernels get, built once from a resolved ``Setup`` (``make_plan``), then
the render on the chosen device (``render``, through ``serial_order``) and the serial trace of one
pixel for -printout (``trace_pixel``, a compile-time variant of the pixel function, CPU only) and
every sample of one pixel for --trace-pixel (``trace_samples``, the same variant)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nbnumba._jit import kernel_compilation
from nbnumba.constants import R_E_SQR, CrystalShape, Device
from nbnumba.kernels import physics, precision
from nbnumba.kernels import types as kt
from nbnumba.kernels.cpu import CpuRenderer
from nbnumba.kernels.pixel import make_pixel_function, pixel_task
from nbnumba.kernels.types import CrystalArgs, KernelFlags, PassArgs, ScalarArgs
from nbnumba.render import serial_order
from nbnumba.setup import Setup

#: the kernels' crystal-shape codes
SHAPE_CODES = {CrystalShape.SQUARE: physics.SQUARE, CrystalShape.ROUND: physics.ROUND,
               CrystalShape.GAUSS: physics.GAUSS, CrystalShape.TOPHAT: physics.TOPHAT}
#: the mask argument when there is no -mask
NO_MASK = np.zeros((0, 0), np.uint16)


@dataclass(frozen=True)
class RenderPlan:
    """A Setup packed for the kernels: compile-time flags, pass control of the first pass, physics
    scalars, the (9, 3) vectors array, crystal scalars, the F table and the mask."""
    setup: Setup
    flags: KernelFlags
    passes: PassArgs
    scalars: ScalarArgs
    vectors: np.ndarray
    crystal: CrystalArgs
    fhkl: np.ndarray
    mask: np.ndarray


@dataclass
class Rendering:
    """A rendered float image (photons/pixel, float32, (spixels, fpixels)) and how it was rendered."""
    floatimage: np.ndarray
    #: C's ``omega_sum``: the solid angles of every rendered sub-pixel, summed (printed only)
    omega_sum: float
    #: ``[(first_pixel_index, PassArgs), ...]`` (``serial_order.render_passes``)
    passes: list = field(default_factory=list)
    #: where the kernel ran: "cpu" or "cuda"
    device: str = Device.CPU
    #: time in the pixel kernel (on the GPU: CUDA events around its launches, without transfers)
    kernel_seconds: float = 0.0


def kernel_flags(s: Setup) -> KernelFlags:
    """The compile-time flags of the kernels for this set-up."""
    sm = s.sampling
    return KernelFlags(shape=SHAPE_CODES[s.shape], interpolate=s.interpolate, phi_carryover=s.phi_carryover,
                       oversample_thick=sm.oversample_thick, oversample_polar=sm.oversample_polar,
                       oversample_omega=sm.oversample_omega, curved_detector=bool(s.detector.curved),
                       point_pixel=bool(s.detector.point_pixel),
                       precision=precision.CODES[s.params.precision],
                       few_samples=s.cells_carry.shape[0] * s.cells_carry.shape[1] < physics.LOCKSTEP_MIN)


def make_plan(s: Setup) -> RenderPlan:
    """The kernels' arguments, from the resolved Setup only."""
    d, st, x, sm = s.detector, s.steps, s.crystal, s.sampling
    sc = ScalarArgs(oversample=sm.oversample, subpixel_size=d.pixel_size / sm.oversample, pixel_size=d.pixel_size,
                    detector_thicksteps=st.detector_thicksteps, detector_thickstep=st.detector_thickstep,
                    detector_thick=st.detector_thick, detector_mu=st.detector_mu, distance=d.distance,
                    close_distance=d.close_distance, nopolar=s.nopolar, polarization=s.polarization,
                    dmin=sm.dmin, water_size=s.water_size, I_bg=s.I_bg, r_e_sqr_fluence=R_E_SQR * s.fluence,
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
    crystal = CrystalArgs(x.Na, x.Nb, x.Nc, s.fudge, *ext, s.default_F)
    flags = kernel_flags(s)
    # the F table in the kernel's real type (float32 for --precision single: half the memory and bandwidth)
    fhkl = np.ascontiguousarray(fhkl, dtype=precision.REAL_TYPES[flags.precision])
    return RenderPlan(setup=s, flags=flags, passes=serial_order.first_pass(sm.roi), scalars=sc,
                      vectors=vectors, crystal=crystal, fhkl=fhkl,
                      mask=NO_MASK if s.mask is None else s.mask)


def render(plan: RenderPlan, device=Device.CPU, progress=None) -> Rendering:
    """Render the image on ``device`` ("cpu" or "cuda", resolved: ``nbnumba.render.device``) in C's
    serial order (``serial_order.render_passes``). ``progress(done_rows, total_rows)``, if given, is
    called as rows finish (at most ``serial_order.MAX_BLOCKS`` times)."""
    s = plan.setup
    shape = s.detector.shape
    rendered = s.rendered().ravel()
    if not rendered.any():
        if progress is not None:
            progress(shape[0], shape[0])
        return Rendering(np.zeros(shape, np.float32), 0.0, [(0, plan.passes)], device)
    if device == Device.CUDA:
        from nbnumba.kernels.cuda import CudaRenderer as Renderer  # noqa: PLC0415 -- numba-cuda: optional
    else:
        Renderer = CpuRenderer
    renderer = Renderer(plan.flags, shape, plan.mask, plan.vectors, plan.crystal, s.sources, s.cells_first,
                        s.cells_carry, plan.fhkl)
    history = serial_order.render_passes(renderer, plan.flags, plan.passes, plan.scalars, rendered, progress,
                                         pixel_samples=s.n_steps * s.steps.detector_thicksteps)
    floatimage, omega_rows = renderer.result()
    return Rendering(floatimage, float(omega_rows.sum()), history, device, renderer.kernel_seconds)


def _evaluate(plan: RenderPlan, rendering: Rendering, fpixel, spixel, passes, rows):
    """Evaluate one pixel serially through the trace variant of the pixel function, as the image saw
    it (under ``passes``, the pass it was last rendered with unless given). Returns ``(passes,
    interpolating, first_loop, trace, samples, (value, omega_sum, first_event, any_loop))``."""
    s = plan.setup
    fpixels = s.detector.fpixels
    imgidx = spixel * fpixels + fpixel
    if passes is None:
        passes = serial_order.pass_of(rendering.passes, imgidx)
    flags = plan.flags
    # the pass decision of the kernels (ROI and mask ignored: a traced pixel is evaluated regardless)
    _, interpolating, first_loop = pixel_task(spixel, fpixel, fpixels, passes._replace(
        roi_xmin=0, roi_xmax=fpixels, roi_ymin=0, roi_ymax=s.detector.spixels, start_pixel=0), NO_MASK,
        flags.interpolate, flags.phi_carryover)
    pixel = make_pixel_function(flags._replace(trace=True))
    trace = np.full(kt.TRACE_LEN, np.nan)
    samples = np.full((rows, kt.SAMPLE_LEN), np.nan)
    with kernel_compilation():
        returned = pixel(spixel, fpixel, first_loop, interpolating, passes.interp_cut_eval, plan.scalars,
                         plan.vectors, plan.crystal, s.sources, s.cells_first, s.cells_carry, plan.fhkl, trace,
                         samples)
    return passes, interpolating, first_loop, trace, samples, returned


def trace_pixel(plan: RenderPlan, rendering: Rendering, fpixel, spixel, passes=None):
    """Re-evaluate one pixel serially on the CPU, as the image saw it, and return its trace: a float64
    array of ``kernels.types.TRACE_LEN`` values indexed by the ``TRACE_*`` constants (the values
    nanoBragg.c's -printout shows, from the pixel's last evaluated sample; NaN where never set).
    ``passes``: evaluate it under this pass control instead of the one it was last rendered with."""
    return _evaluate(plan, rendering, fpixel, spixel, passes, 0)[3]


def samples_per_pixel(setup: Setup) -> int:
    """The most sample rows one pixel's ``trace_samples`` can have: one per (layer, sub-pixel, source,
    phi step, mosaic domain); a -dmin skip is one row per source."""
    return setup.steps.detector_thicksteps * setup.n_steps


@dataclass(frozen=True)
class SampleTrace:
    """Every sample of one pixel, re-evaluated serially on the CPU as the image saw it (``trace_samples``)."""
    fpixel: int
    spixel: int
    #: the pass control it was evaluated under (the one the pixel was last rendered with)
    passes: PassArgs
    #: ``kernels.pixel.INTERP_OFF/ON/CUT``: how the pixel used tricubic interpolation
    interpolating: int
    #: c-parity: the pixel holds the image's first phi loop (starts from ``cells_first``)
    first_loop: bool
    #: (rows, ``kernels.types.SAMPLE_LEN``): one row per sample, ``SAMPLE_*`` columns, in C's loop order
    samples: np.ndarray
    #: the -printout values (``TRACE_*``) of its last evaluated sample
    trace: np.ndarray
    #: the pixel's photons as the kernel computed them (float64, before the float32 store)
    value: float


def trace_samples(plan: RenderPlan, rendering: Rendering, fpixel, spixel) -> SampleTrace:
    """Every sample of pixel (``fpixel``, ``spixel``), in nanoBragg.c's loop order (``--trace-pixel``):
    the trace variant of the pixel function, serially on the CPU whatever device rendered the image,
    under the pass the pixel was last rendered with (so with the c-parity orientation and the
    interpolation switch-off the image saw)."""
    rows = samples_per_pixel(plan.setup)
    passes, interpolating, first_loop, trace, samples, returned = _evaluate(plan, rendering, fpixel, spixel,
                                                                            None, rows)
    used = int(np.count_nonzero(~np.isnan(samples[:, kt.SAMPLE_STATUS])))
    return SampleTrace(fpixel=fpixel, spixel=spixel, passes=passes, interpolating=int(interpolating),
                       first_loop=bool(first_loop), samples=samples[:used], trace=trace, value=float(returned[0]))


def interpolation_failure(plan: RenderPlan, rendering: Rendering):
    """Where nanoBragg.c switched tricubic interpolation off for the rest of the run (its first
    failure in row-major order): ``(fpixel, spixel, (h, k, l, h0, k0, l0))``, or None."""
    cut = serial_order.interpolation_cut(rendering.passes)
    if not plan.flags.interpolate or cut is None:
        return None
    spixel, fpixel = divmod(cut, plan.setup.detector.fpixels)
    # the pixel as the first pass rendered it: interpolating until its first failure
    trace = trace_pixel(plan, rendering, fpixel, spixel, passes=rendering.passes[0][1])
    values = trace[kt.TRACE_FAIL_H:kt.TRACE_FAIL_L0 + 1]
    return fpixel, spixel, (values[0], values[1], values[2], int(values[3]), int(values[4]), int(values[5]))


__all__ = ["RenderPlan", "Rendering", "SampleTrace", "interpolation_failure", "kernel_flags", "make_plan", "render",
           "samples_per_pixel", "trace_pixel", "trace_samples"]
