# SPDX-License-Identifier: BSD-3-Clause
"""CPU kernel: the pixel function (``kernels.pixel``) over a block of detector rows, parallel over
rows like the C program's OpenMP loop. ``make_cpu_kernel(flags)`` specialises it at compile time.
Threads share nothing but the read-only inputs: each row writes its own pixels and its own
``omega_rows`` entry (no shared counter or maximum)."""
import types
from collections import namedtuple
from functools import lru_cache

import numpy as np
from numba import njit, prange

from .._jit import JIT_OPTIONS
from .pixel import INTERP_CUT, INTERP_OFF, INTERP_ON, flags_tag, make_pixel_function
from .types import KernelFlags

#: ``render`` renders rows [row_start, row_end); ``pixel`` is the pixel function (serial entry,
#: e.g. for -printout with a ``types.TRACE_LEN`` trace array)
CpuKernel = namedtuple("CpuKernel", ["render", "pixel"])

_PIXEL = None  # see make_cpu_kernel


@lru_cache(maxsize=None)
def make_cpu_kernel(flags: KernelFlags) -> CpuKernel:
    """Compile (once per flag set) the row-block kernel.

    ``render(row_start, row_end, floatimage, omega_rows, interp_event, evaluated, mask, sc, vectors,
    xtal, sources, cells_first, cells_carry, fhkl)`` renders every pixel of rows [row_start,
    row_end) that is inside the ROI/mask with row-major index ``>= sc.start_pixel``, and writes
    ``floatimage``, per-row solid-angle sums, when interpolating the first interpolation failure of
    each pixel, and with the phi carryover whether a pixel evaluated any phi step (see
    ``nbnumba.simulation``)."""
    INTERPOLATE = flags.interpolate
    CARRYOVER = flags.phi_carryover
    # every flag is in render's closure, so numba's cache keys the kernel on all of them (the pixel
    # function it calls is chosen by all of them)
    FLAGS = tuple(int(v) for v in flags)

    def render(row_start, row_end, floatimage, omega_rows, interp_event, evaluated, mask, sc, vectors, xtal,
               sources, cells_first, cells_carry, fhkl):
        _ = FLAGS  # keeps FLAGS in the closure (the cache key)
        fpixels = floatimage.shape[1]
        use_mask = mask.shape[0] > 0
        no_trace = np.empty(0)
        for spixel in prange(row_start, row_end):
            omega_row = 0.0
            if spixel < sc.roi_ymin or spixel > sc.roi_ymax:
                continue
            for fpixel in range(fpixels):
                if fpixel < sc.roi_xmin or fpixel > sc.roi_xmax:
                    continue
                imgidx = spixel * fpixels + fpixel
                if imgidx < sc.start_pixel:
                    continue
                if use_mask:
                    if mask[spixel, fpixel] == 0:
                        continue
                interpolating = INTERP_OFF
                if INTERPOLATE:
                    if imgidx < sc.interp_cut_pixel:
                        interpolating = INTERP_ON
                    elif imgidx == sc.interp_cut_pixel:
                        interpolating = INTERP_CUT
                first_loop = CARRYOVER and imgidx == sc.first_eval_pixel
                value, omega_sum, first_event, any_loop = _PIXEL(
                    spixel, fpixel, first_loop, interpolating, sc, vectors, xtal, sources, cells_first,
                    cells_carry, fhkl, no_trace)
                omega_row += omega_sum
                floatimage[spixel, fpixel] = np.float32(value)
                if INTERPOLATE:
                    interp_event[spixel, fpixel] = first_event
                if CARRYOVER:
                    evaluated[spixel, fpixel] = any_loop
            omega_rows[spixel] = omega_row

    # The pixel function reaches ``render`` as a global, not a closure variable: numba's cache keys a
    # closure on the pickled cell contents, and a dispatcher pickles differently in every process
    # (it would recompile every run). The flags, which select the pixel function, stay in the closure.
    pixel = make_pixel_function(flags)
    namespace = dict(globals(), _PIXEL=pixel)
    render = types.FunctionType(render.__code__, namespace, render.__name__, render.__defaults__, render.__closure__)
    render.__name__ = render.__qualname__ = "render_" + flags_tag(flags)  # see make_pixel_function
    return CpuKernel(render=njit(parallel=True, **JIT_OPTIONS)(render), pixel=pixel)


__all__ = ["CpuKernel", "make_cpu_kernel", "INTERP_CUT", "INTERP_OFF", "INTERP_ON"]
