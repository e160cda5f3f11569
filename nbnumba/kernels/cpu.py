# SPDX-License-Identifier: BSD-3-Clause
"""CPU kernel: the pixel function (``kernels.pixel``) over a block of detector rows, parallel over
rows like the C program's OpenMP loop. ``make_cpu_kernel(flags)`` specialises it at compile time.
Threads share nothing but the read-only inputs: each row writes its own pixels and its own
``omega_rows`` entry (no shared counter or maximum)."""
import time
from functools import lru_cache

import numpy as np
from numba import njit, prange

from nbnumba._jit import JIT_OPTIONS
from nbnumba.kernels.pixel import make_pixel_function, pixel_task
from nbnumba.kernels.specialise import specialise
from nbnumba.kernels.types import KernelFlags

_PIXEL = None  # bound by make_cpu_kernel (kernels.specialise)
#: every kernel this process has made: {KernelFlags: dispatcher} (the warm worker, ``nbnumba.cli.server``,
#: loads the ones its jobs used)
MADE = {}


@lru_cache(maxsize=None)
def make_cpu_kernel(flags: KernelFlags):
    """Compile (once per flag set) the row-block kernel.

    ``render(row_start, row_end, floatimage, omega_rows, interp_event, evaluated, mask, passes, sc,
    vectors, xtal, sources, cells_first, cells_carry, fhkl)`` renders every pixel of rows
    [row_start, row_end) that is inside the ROI/mask with row-major index ``>= passes.start_pixel``,
    and writes ``floatimage``, per-row solid-angle sums, when interpolating the first interpolation
    failure of each pixel, and with the phi carryover whether a pixel evaluated any phi step (see
    ``nbnumba.render.serial_order``)."""
    INTERPOLATE = flags.interpolate
    CARRYOVER = flags.phi_carryover
    # every flag is in render's closure, so numba's cache keys the kernel on all of them (the pixel
    # function it calls is chosen by all of them)
    FLAGS = tuple(int(v) for v in flags)

    def render(row_start, row_end, floatimage, omega_rows, interp_event, evaluated, mask, passes, sc, vectors,
               xtal, sources, cells_first, cells_carry, fhkl):
        _ = FLAGS  # keeps FLAGS in the closure (the cache key)
        fpixels = floatimage.shape[1]
        for spixel in prange(row_start, row_end):
            if spixel < passes.roi_ymin or spixel > passes.roi_ymax:
                continue
            omega_row = 0.0
            for fpixel in range(fpixels):
                go, interpolating, first_loop = pixel_task(spixel, fpixel, fpixels, passes, mask, INTERPOLATE,
                                                           CARRYOVER)
                if not go:
                    continue
                value, omega_sum, first_event, any_loop = _PIXEL(
                    spixel, fpixel, first_loop, interpolating, passes.interp_cut_eval, sc, vectors, xtal,
                    sources, cells_first, cells_carry, fhkl)
                omega_row += omega_sum
                floatimage[spixel, fpixel] = np.float32(value)
                if INTERPOLATE:
                    interp_event[spixel, fpixel] = first_event
                if CARRYOVER:
                    evaluated[spixel, fpixel] = any_loop
            omega_rows[spixel] = omega_row

    render = specialise(render, flags, "render", _PIXEL=make_pixel_function(flags))
    MADE[flags] = kernel = njit(parallel=True, **JIT_OPTIONS)(render)
    return kernel


class CpuRenderer:
    """One image's buffers in host memory and the CPU kernel over them; the interface
    ``nbnumba.render.serial_order`` drives (``kernels.cuda.CudaRenderer`` is its GPU twin)."""

    def __init__(self, flags, shape, mask, vectors, xtal, sources, cells_first, cells_carry, fhkl):
        self.shape = shape
        self._render = make_cpu_kernel(flags)
        self._inputs = (mask, vectors, xtal, sources, cells_first, cells_carry, fhkl)
        self.floatimage = np.zeros(shape, np.float32)
        self.omega_rows = np.zeros(shape[0])
        self._interp_event = np.full(shape if flags.interpolate else (0, 0), -1, np.int32)
        self._evaluated = np.zeros(shape if flags.phi_carryover else (0, 0), np.uint8)
        #: seconds spent in the kernel so far (compilation on first use included)
        self.kernel_seconds = 0.0

    def run(self, passes, sc, row_start, row_end, keep_omega=True):
        """Render rows [row_start, row_end) of the pass ``passes`` with physics scalars ``sc``; the
        solid-angle sums are kept only with ``keep_omega`` (the first pass)."""
        mask, vectors, xtal, sources, cells_first, cells_carry, fhkl = self._inputs
        omega = self.omega_rows if keep_omega else np.zeros(self.floatimage.shape[0])
        start = time.perf_counter()
        self._render(row_start, row_end, self.floatimage, omega, self._interp_event, self._evaluated, mask, passes,
                     sc, vectors, xtal, sources, cells_first, cells_carry, fhkl)
        self.kernel_seconds += time.perf_counter() - start

    def evaluated(self):
        return self._evaluated

    def interp_event(self):
        return self._interp_event

    def result(self):
        """``(floatimage, omega_rows)`` in host memory."""
        return self.floatimage, self.omega_rows


__all__ = ["CpuRenderer", "make_cpu_kernel"]
