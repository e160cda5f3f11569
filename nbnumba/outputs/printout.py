# SPDX-License-Identifier: BSD-3-Clause
"""What nanoBragg.c prints while it renders: the -printout block of each pixel (L3051-3072) and the
interpolation switch-off warning (L2945), in pixel order. The values come from the render plan's
serial trace of the pixel (``nbnumba.render.plan.trace_pixel``)."""
import math

import numpy as np

from nbnumba.kernels import types as kt
from nbnumba.render.plan import interpolation_failure, trace_pixel


def _finite_int(value):
    return "%d" % int(value) if math.isfinite(value) else "nan"


def printout_lines(setup, floatimage, fpixel, spixel, trace):
    """C's -printout block for one pixel (L3051-3072), from the pixel's trace (the values of its
    last evaluated sample; ``nan`` where C would print stale values of an earlier pixel)."""
    s = setup
    t = trace
    pos = (t[kt.TRACE_POS_X], t[kt.TRACE_POS_Y], t[kt.TRACE_POS_Z])
    twotheta = math.atan2(math.sqrt(pos[1] * pos[1] + pos[2] * pos[2]), pos[0])
    test = math.sin(twotheta / 2.0) / (s.params.lambda0 * 1e10)
    if math.isfinite(t[kt.TRACE_PHI_TIC]):
        table = s.cells_first if t[kt.TRACE_CELL_TABLE] == 0.0 else s.cells_carry
        a, b, c = table[int(t[kt.TRACE_PHI_TIC]), int(t[kt.TRACE_MOS_TIC])]
    else:  # no sample evaluated: the unrotated cell
        a, b, c = s.crystal.a, s.crystal.b, s.crystal.c
    return [
        "%4d %4d : stol = %g or %g" % (fpixel, spixel, t[kt.TRACE_STOL], test),
        "at %g %g %g" % pos,
        "hkl= %f %f %f  hkl0= %s %s %s" % (t[kt.TRACE_H], t[kt.TRACE_K], t[kt.TRACE_L], _finite_int(t[kt.TRACE_H0]),
                                         _finite_int(t[kt.TRACE_K0]), _finite_int(t[kt.TRACE_L0])),
        " F_cell=%g  F_latt=%g   I = %g" % (t[kt.TRACE_F_CELL], t[kt.TRACE_F_LATT], t[kt.TRACE_I]),
        "I/steps %15.10g" % (t[kt.TRACE_I] / s.n_steps),
        "polar   %15.10g" % t[kt.TRACE_POLAR],
        "omega   %15.10g" % t[kt.TRACE_OMEGA],
        "capfrac %15.10g" % t[kt.TRACE_CAPTURE],
        "pixel   %15.10g" % float(floatimage[spixel, fpixel]),
        "real-space cell vectors (Angstrom):",
        "     %-10s  %-10s  %-10s" % ("a", "b", "c"),
        "X: %11.8f %11.8f %11.8f" % (a[0] * 1e10, b[0] * 1e10, c[0] * 1e10),
        "Y: %11.8f %11.8f %11.8f" % (a[1] * 1e10, b[1] * 1e10, c[1] * 1e10),
        "Z: %11.8f %11.8f %11.8f" % (a[2] * 1e10, b[2] * 1e10, c[2] * 1e10),
    ]


def render_messages(plan, rendering, log):
    """Log what C prints while rendering: the interpolation switch-off warning and the -printout
    blocks, in pixel order (the warning comes when the render reaches the pixel where it happened)."""
    setup = plan.setup
    p = setup.params
    failure = interpolation_failure(plan, rendering)
    fpixels = setup.detector.fpixels
    warn_at = failure[1] * fpixels + failure[0] if failure else None

    def warn():
        log("WARNING: out of range for three point interpolation: h,k,l,h0,k0,l0: %g,%g,%g,%d,%d,%d "
            % failure[2])
        log("WARNING: further warnings will not be printed! ")

    if p.printout:
        rendered = setup.rendered()
        if p.printout_fpixel < 0:
            pixels = zip(*np.nonzero(rendered))
        else:
            f, s_ = p.printout_fpixel, p.printout_spixel
            inside = 0 <= s_ < rendered.shape[0] and 0 <= f < rendered.shape[1] and rendered[s_, f]
            pixels = [(s_, f)] if inside else []
        for spixel, fpixel in pixels:
            spixel, fpixel = int(spixel), int(fpixel)
            if warn_at is not None and spixel * fpixels + fpixel >= warn_at:
                warn()
                warn_at = None
            trace = trace_pixel(plan, rendering, fpixel, spixel)
            for line in printout_lines(setup, rendering.floatimage, fpixel, spixel, trace):
                log(line)
    if warn_at is not None:
        warn()
